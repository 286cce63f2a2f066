"""The notifications function as a functions-framework target.

    functions-framework --source functions/notifications/main.py --target handle
"""

import flask
import functions_framework

from functions.notifications.app import NotificationsSettings, build_spec
from shared.runtime import serve

_function = serve(build_spec, NotificationsSettings)


@functions_framework.http
def handle(request: flask.Request) -> flask.Response:
    return _function(request)
