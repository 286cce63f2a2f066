"""The audit function as a functions-framework target.

    functions-framework --source functions/audit/main.py --target handle
"""

import flask
import functions_framework

from functions.audit.app import AuditSettings, build_spec
from shared.runtime import serve

_function = serve(build_spec, AuditSettings)


@functions_framework.http
def handle(request: flask.Request) -> flask.Response:
    return _function(request)
