"""The baseline: an empty functions-framework http function (what paymesh's overhead is measured against)."""

import flask
import functions_framework


@functions_framework.http
def handle(request: flask.Request) -> flask.Response:
    return flask.Response("{}", 200, content_type="application/json")
