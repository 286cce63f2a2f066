"""Helpers shared by the test suites: stores on SQLite and PostgreSQL, clients, CloudEvent builders."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from shared.config import RuntimeSettings
from shared.contract import FunctionSpec
from shared.envelope import dumps
from shared.publish import MemoryPublisher, Publisher
from shared.runtime import FunctionApp
from shared.store import Store

PG_URL = os.environ.get("PAYMESH_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REQUIRE_POSTGRES = os.environ.get("PAYMESH_REQUIRE_POSTGRES") == "1"


def postgres_available() -> bool:
    try:
        engine = create_engine(PG_URL, connect_args={"connect_timeout": 2})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except Exception:
        return False
    return True


@contextmanager
def temporary_store(backend: str, function: str, migrations: Path | None, tmp_path: Path) -> Iterator[Store]:
    """A migrated store on `backend` ("sqlite" or "postgres"), removed afterwards.

    On PostgreSQL each store gets a schema of its own, so tests never see each other's rows.
    """
    if backend == "sqlite":
        store = Store(f"sqlite:///{tmp_path / (function + '.db')}", function=function, migrations=migrations)
    else:
        schema = f"t_{function}_{uuid.uuid4().hex[:10]}"
        store = Store(PG_URL, function=function, schema=schema, migrations=migrations)
    store.migrate()
    try:
        yield store
    finally:
        store.dispose()
        if backend == "postgres":
            engine = create_engine(PG_URL)
            with engine.begin() as connection:
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{store.schema}" CASCADE'))
            engine.dispose()


def flask_client(app: FunctionApp) -> FlaskClient:
    """Serve a FunctionApp the way functions-framework does: every path and method to one target."""
    server = flask.Flask(f"test-{app.spec.name}")
    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]

    def view(path: str) -> flask.Response:
        return app(flask.request)

    server.add_url_rule("/", "run", view, defaults={"path": ""}, methods=methods)
    server.add_url_rule("/<path:path>", "run", view, methods=methods)
    return server.test_client()


def build_app(spec: FunctionSpec, store: Store, settings: RuntimeSettings | None = None,
              publisher: Publisher | None = None) -> FunctionApp:
    return FunctionApp(spec, settings or RuntimeSettings(), store, publisher or MemoryPublisher())


def binary_headers(event_type: str, *, event_id: str | None = None, source: str = "/tests",
                   content_type: str = "application/json", **extensions: str) -> dict[str, str]:
    headers = {
        "ce-specversion": "1.0",
        "ce-id": event_id or str(uuid.uuid4()),
        "ce-source": source,
        "ce-type": event_type,
        "Content-Type": content_type,
    }
    headers.update({f"ce-{name}": value for name, value in extensions.items()})
    return headers


def post_event(client: FlaskClient, event_type: str, data: Any, *, event_id: str | None = None,
               source: str = "/tests", **extensions: str) -> Any:
    """POST one event in binary mode; returns the Flask test response."""
    body = data if isinstance(data, bytes | str) else dumps(data)
    headers = binary_headers(event_type, event_id=event_id, source=source, **extensions)
    return client.post("/", data=body, headers=headers)


def structured(event_type: str, data: Any, *, event_id: str | None = None, source: str = "/tests",
               **extensions: str) -> dict[str, Any]:
    return {"specversion": "1.0", "id": event_id or str(uuid.uuid4()), "source": source,
            "type": event_type, "datacontenttype": "application/json", "data": data, **extensions}


def reply_json(response: Any) -> Any:
    return json.loads(response.data)


def output_types(publisher: MemoryPublisher) -> list[str]:
    return [event.type for event in publisher.events]


