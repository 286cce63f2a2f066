"""Admin write routes in the runtime: POST/PUT/PATCH/DELETE with a JSON body read within body_bytes_max,
answered 4xx JSON for a bad body, run in one transaction, and marked for the admin role."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import text

from shared.config import RuntimeSettings
from shared.contract import FunctionSpec, Query, Reply, json_object
from shared.errors import EventError
from shared.store import Store
from tests.support import build_app, flask_client, reply_json


def _echo(q: Query) -> Reply:
    body = json_object(q)
    if "boom" in body:
        raise EventError.field(422, "invalid_body", "body.boom", "absent", "no boom")
    q.session.execute(text("CREATE TABLE IF NOT EXISTS echoes (name TEXT)"))
    q.session.execute(text("INSERT INTO echoes VALUES (:name)"), {"name": q.params["name"]})
    if "fail" in body:
        raise RuntimeError("after the insert")
    return Reply({"name": q.params["name"], "body": body, "args": dict(q.args)}, 201)


def _optional(q: Query) -> Reply:
    return Reply({"body": json_object(q, required=False)})


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'probe.db'}", function="probe")


@pytest.fixture
def client(store: Store) -> FlaskClient:
    spec = FunctionSpec("probe", frozenset())
    spec.write("POST", "/things/{name}", _echo)
    spec.write("DELETE", "/things/{name}", _optional)
    spec.get("/things/{name}", _optional)
    settings = RuntimeSettings(**{"PAYMESH_BODY_BYTES_MAX": 256})  # type: ignore[arg-type]
    return flask_client(build_app(spec, store, settings))


def _count(store: Store) -> Any:
    with store.session() as session:
        return session.execute(text("SELECT count(*) FROM echoes")).scalar_one()


def test_a_json_body_reaches_the_view_and_commits(client: FlaskClient, store: Store) -> None:
    response = client.post("/things/a?x=1", json={"k": [1, 2]})
    assert response.status_code == 201
    assert reply_json(response) == {"name": "a", "body": {"k": [1, 2]}, "args": {"x": "1"}}
    assert _count(store) == 1


@pytest.mark.parametrize(("data", "status", "rule"), [
    (b"{", 400, "json"),
    (b"\xff\xfe", 400, "json"),
    (b"[" * 5000 + b"]" * 5000, 413, "max_bytes"),
    (b"[1]", 400, "json_object"),
    (b"", 400, "json_object"),
    (b'{"boom": 1}', 422, "absent"),
])
def test_bad_bodies_are_4xx_naming_the_rule(client: FlaskClient, data: bytes, status: int, rule: str) -> None:
    response = client.post("/things/a", data=data, headers={"Content-Type": "application/json"})
    assert response.status_code == status
    assert reply_json(response)["rule"] == rule


def test_an_optional_body_may_be_empty_and_routes_match_by_method(client: FlaskClient) -> None:
    assert reply_json(client.delete("/things/a")) == {"body": {}}
    assert client.patch("/things/a", json={}).status_code == 404
    assert client.get("/things/a").status_code == 200


def test_a_failing_view_rolls_its_writes_back(client: FlaskClient, store: Store) -> None:
    client.post("/things/a", json={})
    assert client.post("/things/b", json={"fail": True}).status_code == 500  # a bug, not bad input
    assert _count(store) == 1


def test_write_routes_are_marked_admin_and_reads_reader() -> None:
    spec = FunctionSpec("probe", frozenset())
    spec.write("PATCH", "/x", _optional)
    spec.get("/x", _optional)
    assert [(route.method, route.role) for route in spec.routes] == [("PATCH", "admin"), ("GET", "reader")]
    with pytest.raises(AssertionError):
        spec.write("GET", "/y", _optional)
