"""Schema-driven fuzzing of every function and every type it consumes.

Valid data comes from the published JSON Schemas; then one field, key or CloudEvents attribute at a time is
replaced by a hostile value (tests/fuzz/hostile.py). Whatever comes back: never a 5xx; a 4xx names the
field and leaves nothing behind (no row, no output, no gateway call, no webhook). Findings are collected over
the whole run and listed together (tests/fuzz/tally.py), then the test fails if there is any.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.envelope import encode_header
from tests.conftest import _postgres_up
from tests.fuzz.hostile import Corruption, corrupt
from tests.fuzz.schema_data import valid_data
from tests.fuzz.tally import BACKENDS, DERANDOMIZE, EXAMPLES, TALLY
from tests.fuzz.world import STATUSES_REFUSED, VALID_DATA, World, state, world
from tests.support import REQUIRE_POSTGRES

CONSUMED = [
    ("payments", "payments.payment-requested"), ("payments", "payments.refund-requested"),
    ("ledger", "ledger.transaction-requested"), ("ledger", "payments.payment-processed"),
    ("ledger", "payments.refund-processed"),
    ("notifications", "notifications.notification-requested"), ("notifications", "payments.payment-processed"),
    ("notifications", "payments.payment-failed"),
    ("audit", "audit.payment-events"), ("audit", "audit.ledger-events"), ("audit", "audit.notification-events"),
]


@pytest.fixture(scope="module", params=BACKENDS)
def fuzz_world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    if request.param == "postgres" and not _postgres_up():
        if REQUIRE_POSTGRES:
            pytest.fail("PostgreSQL is required (PAYMESH_REQUIRE_POSTGRES=1) but not reachable")
        pytest.skip("PostgreSQL not reachable")
    with world(request.param, Path(tmp_path_factory.mktemp(f"fuzz-{request.param}"))) as created:
        yield created


def test_every_consumed_type_is_fuzzed(fuzz_world: World) -> None:
    assert sorted(CONSUMED) == sorted((name, event_type) for name, app in fuzz_world.apps.items()
                                      for event_type in app.spec.consumes)


def _fresh_ids(data: dict[str, Any]) -> dict[str, Any]:
    # Fresh business ids, so an accepted example does not turn the next one into a duplicate or a conflict.
    suffix = uuid.uuid4().hex[:12]
    fresh = dict(data)
    for key in ("paymentId", "refundId", "transactionId", "notificationId", "subject"):
        if isinstance(fresh.get(key), str):
            fresh[key] = f"{fresh[key][:100]}_{suffix}"
    return fresh


def request_for(event_type: str, corruption: Corruption, structured: bool) -> tuple[dict[str, str], bytes]:
    attributes = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "/fuzz", "type": event_type,
                  **corruption.attributes}
    if structured or any(char in attributes.get("datacontenttype", "") for char in "\r\n\x00"):
        # No HTTP client can send such a Content-Type header: the attribute travels in a structured event.
        body = b'{"data":' + corruption.body + b"," + json.dumps(attributes).encode()[1:]
        return {"Content-Type": "application/cloudevents+json"}, body
    headers = {f"ce-{name}": encode_header(value) for name, value in attributes.items() if name != "datacontenttype"}
    headers["Content-Type"] = attributes.get("datacontenttype", "application/json")
    return headers, corruption.body


def check(world: World, function: str, event_type: str, corruption: Corruption, structured: bool) -> None:
    headers, body = request_for(event_type, corruption, structured)
    before = state(world, function)
    TALLY.sent[function] += 1
    problem: str | None = None
    try:
        response = world.clients[function].post("/", data=body, headers=headers)
        status = response.status_code
    except Exception as error:  # functions-framework would answer 500
        status, problem = 500, f"raised {type(error).__name__}: {str(error)[:120]}"
    TALLY.statuses[status] += 1
    if problem is None and status >= 500:
        problem = f"answered {status}"
    elif problem is None and 400 <= status < 500:
        answer = json.loads(response.data) if response.data else {}
        if status not in STATUSES_REFUSED:
            problem = f"answered {status}, a status Knative retries"
        elif not (answer.get("error") and answer.get("field")):
            problem = f"4xx without a field: {str(answer)[:120]}"
        elif state(world, function) != before:
            problem = f"side effect before {status}: {before} -> {state(world, function)}"
    if problem is not None:
        TALLY.findings[(function, event_type, corruption.where, corruption.what, problem)] += 1


@st.composite
def hostile_events(draw: st.DrawFn, event_type: str) -> tuple[Corruption, bool]:
    base = draw(st.one_of(st.just(VALID_DATA[event_type]), valid_data(event_type)))
    return draw(corrupt(_fresh_ids(base))), draw(st.booleans())


@pytest.mark.parametrize(("function", "event_type"), CONSUMED)
def test_hostile_events_never_5xx_and_refusals_leave_nothing(fuzz_world: World, function: str,
                                                             event_type: str) -> None:
    found_before = set(TALLY.findings)

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=DERANDOMIZE,
              suppress_health_check=list(HealthCheck))
    @given(hostile_events(event_type))
    def run(case: tuple[Corruption, bool]) -> None:
        check(fuzz_world, function, event_type, *case)

    run()
    new = [key for key in TALLY.findings if key not in found_before]
    assert not new, "\n".join(" ".join(key) for key in new[:20])
