"""The ledger function as a functions-framework target.

    functions-framework --source functions/ledger/main.py --target handle
"""

import flask
import functions_framework

from functions.ledger.app import build_spec
from functions.ledger.settings import LedgerSettings
from shared.runtime import serve

_function = serve(build_spec, LedgerSettings)


@functions_framework.http
def handle(request: flask.Request) -> flask.Response:
    return _function(request)
