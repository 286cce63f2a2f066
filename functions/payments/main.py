"""The payments function as a functions-framework target.

    functions-framework --source functions/payments/main.py --target handle
"""

import flask
import functions_framework

from functions.payments.app import build_spec
from functions.payments.settings import PaymentsSettings
from shared.runtime import serve

_function = serve(build_spec, PaymentsSettings)


@functions_framework.http
def handle(request: flask.Request) -> flask.Response:
    return _function(request)
