"""GET /openapi.json of each of the four functions, and Schemathesis against it: bounded property-based requests
to every operation (POST / with generated CloudEvents included); no 5xx and every answer as documented."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path

import flask
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.openapi import from_wsgi
from schemathesis.specs.openapi.checks import positive_data_acceptance

from shared.contract import FunctionSpec, Param, Query, Reply, Stream
from shared.openapi import PATH_VALUE, document
from shared.runtime import FunctionApp
from tests.support import build_app, flask_client, temporary_store
from tests.support.mesh import FUNCTIONS, settings_class

EXAMPLES_PER_OPERATION = 25
ROOT = Path(__file__).resolve().parents[2]


def wsgi(app: FunctionApp) -> flask.Flask:
    """Every path and method to the one target, as functions-framework serves it."""
    server = flask.Flask(f"openapi-{app.spec.name}")
    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]

    def view(path: str) -> flask.Response:
        return app(flask.request)

    server.add_url_rule("/", "run", view, defaults={"path": ""}, methods=methods)
    server.add_url_rule("/<path:path>", "run", view, methods=methods)
    return server


@pytest.fixture(params=FUNCTIONS)
def function_app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FunctionApp]:
    name = request.param
    module = importlib.import_module(f"functions.{name}.app")
    function_settings = settings_class(name)()
    spec = module.build_spec(function_settings)
    with temporary_store("sqlite", name, spec.migrations, tmp_path) as store:
        yield build_app(spec, store, function_settings)


def test_each_function_serves_its_openapi_document(function_app: FunctionApp) -> None:
    response = flask_client(function_app).get("/openapi.json")
    assert response.status_code == 200
    served = response.get_json()
    assert served["openapi"] == "3.1.0"
    post = served["paths"]["/"]["post"]
    assert set(post["requestBody"]["content"]) == {"application/json", "application/cloudevents+json",
                                                   "application/cloudevents-batch+json"}
    consumed = post["requestBody"]["content"]["application/cloudevents+json"]["schema"]["properties"]["type"]["enum"]
    assert consumed == sorted(function_app.spec.consumes)
    for route in function_app.spec.routes:
        operation = served["paths"][route.pattern][route.method.lower()]
        path_params = {param["name"] for param in operation["parameters"] if param["in"] == "path"}
        assert path_params == set(route.pattern.replace("}", "{").split("{")[1::2])
    # the catalog's schemas are the ones the request body refers to
    assert all(ref in served["components"]["schemas"] for ref in ("Error",))


def test_schemathesis_finds_no_5xx_and_no_undocumented_answer(function_app: FunctionApp) -> None:
    schema = from_wsgi("/openapi.json", wsgi(function_app))
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case: schemathesis.Case) -> None:
            # Not "every schema-valid request is accepted": a schema-valid event is still refused (documented
            # 400/422) without binary-mode ce-* headers or when a business rule says no (an unknown account).
            case.call_and_validate(excluded_checks=[positive_data_acceptance])

        try:
            check()
        except Exception as error:  # collect every operation's failure, then fail once
            failures.append(f"{operation.label}: {str(error)[:2000]}")
    assert operations >= 6  # the five probes and POST /, plus the routes
    assert not failures, "\n\n".join(failures)


def _view(_q: Query) -> Reply:
    return Reply({})


def _lines(_q: Query) -> Stream:
    return Stream(lambda _open: iter(()))


def test_declared_parameters_responses_and_streams_appear_in_the_document() -> None:
    spec = FunctionSpec("probe", frozenset())
    spec.get("/things/{thing}", _view, summary="One thing", params=[
        Param("limit", "integer", "page size", minimum=1, maximum=50, default=10),
        Param("from", "time"), Param("state", choices=("open", "closed"))],
        response={"type": "object", "required": ["id"]}, errors=[422])
    spec.get("/export", _lines)
    served = document(spec)
    operation = served["paths"]["/things/{thing}"]["get"]
    assert operation["summary"] == "One thing"
    params = {param["name"]: param for param in operation["parameters"]}
    assert params["thing"] == {"name": "thing", "in": "path", "required": True,
                               "schema": {"type": "string", "pattern": PATH_VALUE}}
    assert params["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 50, "default": 10}
    assert params["from"]["schema"] == {"type": "string", "format": "date-time"}
    assert params["state"]["schema"]["enum"] == ["open", "closed"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["required"] == ["id"]
    assert set(operation["responses"]) == {"200", "400", "404", "422", "503"}
    assert set(served["paths"]["/export"]["get"]["responses"]["200"]["content"]) == {"application/x-ndjson"}
