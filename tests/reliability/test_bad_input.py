"""Hostile input: thousands of malformed CloudEvents per function. Never a 5xx, never a retried status,
never a state change; every answer is a 4xx with a JSON error naming the problem.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from paymesh.samples import body_template
from shared.events import CATALOG
from tests.support.mesh import FUNCTIONS, Mesh, mesh

EXAMPLES_PER_FUNCTION = 5000  # 4 functions: 20,000 hostile events in all
BODY_LIMIT = 16 * 1024
DEAD_LETTER_STATUSES = {400, 413, 415, 422}
VISA_TEST_PAN = "4242424242424242"

json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=20)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
hostile_text = st.sampled_from(["", " ", "\x00", "é", "😀", "\u202e", "%0d%0aSet-Cookie: x=1", "a" * 5000,
                                "../../etc/passwd", "${jndi:ldap://x}", "' OR 1=1 --", "<script>"])


def base_event(function: str) -> tuple[str, dict[str, Any]]:
    event_type, body = body_template(function, "https://hooks.example.com/x")
    return event_type, json.loads(body.replace("{n}", "fuzz"))


def required_fields(event_type: str) -> list[str]:
    model = CATALOG[event_type]
    return [field.alias or name for name, field in model.model_fields.items() if field.is_required()]


@st.composite
def hostile_request(draw: st.DrawFn, function: str) -> tuple[dict[str, str], bytes, str]:
    event_type, data = base_event(function)
    headers = {"ce-specversion": "1.0", "ce-id": draw(st.uuids()).hex, "ce-source": "/fuzz",
               "ce-type": event_type, "Content-Type": "application/json"}
    kind = draw(st.sampled_from([
        "drop_attribute", "bad_specversion", "foreign_type", "not_utf8", "not_object", "deep", "huge",
        "drop_field", "retype_field", "bad_amount", "bad_currency", "not_json_type", "structured_broken",
        "batch_one_bad", "empty_body", "pan" if function == "payments" else "drop_field",
    ]))
    body: bytes = b""
    broken = copy.deepcopy(data)
    if kind == "drop_attribute":
        del headers[draw(st.sampled_from(["ce-specversion", "ce-id", "ce-source", "ce-type"]))]
    elif kind == "bad_specversion":
        headers["ce-specversion"] = draw(st.sampled_from(["0.3", "2.0", "", "1"]))
    elif kind == "foreign_type":
        foreign = [t for t in CATALOG if t not in FUNCTION_CONSUMES[function]]
        headers["ce-type"] = draw(st.sampled_from(["com.example.other", f"{event_type}X", *foreign]))
    elif kind == "not_utf8":
        body = b"\xff\xfe" + draw(st.binary(max_size=200))
    elif kind == "not_object":
        body = json.dumps(draw(st.lists(json_values, max_size=3) | json_scalars)).encode()
    elif kind == "deep":
        depth = draw(st.integers(min_value=40, max_value=3000))
        body = (b"[" * depth) + (b"]" * depth) if draw(st.booleans()) else \
            json.dumps({**data, "metadata": "@nest@"}).replace('"@nest@"', _nested_text(depth)).encode()
    elif kind == "huge":
        body = json.dumps({**data, "description": "x" * (BODY_LIMIT + draw(st.integers(1, 5000)))}).encode()
    elif kind == "drop_field":
        del broken[draw(st.sampled_from(required_fields(event_type)))]
    elif kind == "retype_field":
        name = draw(st.sampled_from(required_fields(event_type)))
        broken[name] = draw(st.sampled_from([[], {}, True, None, [1, 2]]))
    elif kind == "bad_amount":
        amount = draw(st.sampled_from(["NaN", "Infinity", "1.001", "-5", "0", "1e400", "12,50", "", "0x10", True]))
        if "postings" in broken or "amount" in broken:
            target = broken["postings"][0] if "postings" in broken else broken
            target["amount"] = amount
        else:  # no money in this event: put the bad amount where a required field should be
            broken[required_fields(event_type)[0]] = {"amount": amount}
    elif kind == "bad_currency":
        currency = draw(st.sampled_from(["usd", "XXX", "EURO", "", "12"]))
        if "postings" in broken or "currency" in broken:
            target = broken["postings"][0] if "postings" in broken else broken
            target["currency"] = currency
        else:
            broken[required_fields(event_type)[0]] = {"currency": currency}
    elif kind == "not_json_type":
        headers["Content-Type"] = draw(st.sampled_from(["application/xml", "text/plain", "image/png"]))
    elif kind == "structured_broken":
        document: dict[str, Any] = {"specversion": "1.0", "id": "x", "source": "/fuzz", "type": event_type}
        document.pop(draw(st.sampled_from(["id", "source", "type"])))
        document["data"] = data
        headers = {"Content-Type": "application/cloudevents+json"}
        body = json.dumps(document).encode()
    elif kind == "batch_one_bad":
        good = {"specversion": "1.0", "id": "g", "source": "/fuzz", "type": event_type, "data": data}
        bad = {**good, "id": "b", "data": {k: v for k, v in data.items() if k != required_fields(event_type)[0]}}
        headers = {"Content-Type": "application/cloudevents-batch+json"}
        body = json.dumps([good, bad]).encode()
    elif kind == "empty_body":
        body = b""
    elif kind == "pan":
        spot = draw(st.sampled_from(["description", "metadata", "nested"]))
        if spot == "description":
            broken["description"] = f"card {VISA_TEST_PAN} thanks"
        elif spot == "metadata":
            broken["metadata"] = {"note": VISA_TEST_PAN[:4] + " " + VISA_TEST_PAN[4:8] + " " + VISA_TEST_PAN[8:12]
                                  + " " + VISA_TEST_PAN[12:]}
        else:
            broken["metadata"] = {"a": [{"b": {"c": int(VISA_TEST_PAN)}}]}
    if not body and kind not in {"empty_body"}:
        body = json.dumps(broken).encode()
    # Hostile header values ride along on every kind; they must never turn a rejection into a 5xx.
    if draw(st.booleans()) and "ce-source" in headers:
        headers["ce-source"] = "/fuzz/" + draw(hostile_text).replace("\r", "").replace("\n", "")
    return headers, body, kind


def _nested_text(depth: int) -> str:
    # Written as text: json.dumps itself cannot encode thousands of levels.
    return '{"n":' * depth + "1" + "}" * depth


FUNCTION_CONSUMES: dict[str, list[str]] = {}


def state(app_mesh: Mesh, function: str) -> dict[str, int]:
    app = app_mesh.apps[function]
    counts = {}
    with app.store.engine.connect() as connection:
        for table in sorted(app.spec.tables | {"processed_events"}):
            counts[table] = connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
    return counts


@pytest.fixture(scope="module")
def fuzz_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    monkeypatch = pytest.MonkeyPatch()
    environment = {"PAYMESH_BODY_BYTES_MAX": str(BODY_LIMIT), "PAYMESH_HOME": str(tmp_path_factory.mktemp("home"))}
    with mesh("sqlite", Path(tmp_path_factory.mktemp("fuzz")), environment, monkeypatch) as created:
        for name, app in created.apps.items():
            FUNCTION_CONSUMES[name] = sorted(app.spec.consumes)
        yield created
    monkeypatch.undo()


@pytest.mark.slow
@pytest.mark.parametrize("function", FUNCTIONS)
def test_hostile_events_are_answered_4xx_and_change_nothing(function: str, fuzz_mesh: Mesh) -> None:
    client = fuzz_mesh.clients[function]
    before = state(fuzz_mesh, function)
    seen_kinds: set[str] = set()

    @settings(max_examples=EXAMPLES_PER_FUNCTION, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(hostile_request(function))
    def check(request: tuple[dict[str, str], bytes, str]) -> None:
        headers, body, kind = request
        seen_kinds.add(kind)
        response = client.post("/", data=body, headers=headers)
        assert response.status_code in DEAD_LETTER_STATUSES, (kind, response.status_code, response.data[:300])
        error = json.loads(response.data)
        assert error["error"] and error["message"], kind
        if kind == "pan":
            assert VISA_TEST_PAN not in response.data.decode()

    check()
    assert state(fuzz_mesh, function) == before
    assert len(seen_kinds) >= 12
