"""Issue 13: every hostile value in an event is a 4xx naming the field, answered before any side effect.

Each case here was a 500 (some after the gateway had captured or the webhook had been posted) before the
limits moved into the catalog and ingress.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.envelope import dumps
from tests.conftest import _postgres_up
from tests.fuzz.world import VALID_DATA, World, refusal, state, world
from tests.support import REQUIRE_POSTGRES, binary_headers, post_event


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def hostile_world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    if request.param == "postgres" and not _postgres_up():
        if REQUIRE_POSTGRES:
            pytest.fail("PostgreSQL is required (PAYMESH_REQUIRE_POSTGRES=1) but not reachable")
        pytest.skip("PostgreSQL not reachable")
    with world(request.param, Path(tmp_path_factory.mktemp(f"limits-{request.param}"))) as created:
        yield created


def corrupted(event_type: str, path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(VALID_DATA[event_type])
    *parents, last = path.split(".")
    target: Any = data
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    target[int(last) if last.isdigit() else last] = value
    return data


def assert_refused(world: World, function: str, event_type: str, data: Any, field: str,
                   **attributes: Any) -> dict[str, Any]:
    before = state(world, function)
    response = post_event(world.clients[function], event_type, data, **attributes)
    body = refusal(response)
    assert body["field"] == field, body
    assert state(world, function) == before
    return body


OVERFLOWING_AMOUNTS = [
    ("payments", "payments.payment-requested", "amount", "data.amount"),
    ("payments", "payments.refund-requested", "amount", "data.amount"),
    ("ledger", "ledger.transaction-requested", "postings.0.amount", "data.postings.0.amount"),
    ("ledger", "payments.payment-processed", "fee.amount", "data.fee.amount"),
    ("notifications", "payments.payment-processed", "amount", "data.amount"),
    ("audit", "audit.payment-events", "details.amount", "data.details"),
]


@pytest.mark.parametrize(("function", "event_type", "path", "field"), OVERFLOWING_AMOUNTS)
@pytest.mark.parametrize("amount", ["1e999999", "1E+2", "-1e-999999", "1.5e3", "NaN", "Infinity", "\uff11\uff12.00"])
def test_amounts_are_plain_decimal_strings(hostile_world: World, function: str, event_type: str, path: str,
                                           field: str, amount: str) -> None:
    assert_refused(hostile_world, function, event_type, corrupted(event_type, path, amount), field)


@pytest.mark.parametrize(("function", "event_type", "path", "field"), OVERFLOWING_AMOUNTS[:4])
def test_json_number_amounts_out_of_range_are_refused(hostile_world: World, function: str, event_type: str,
                                                      path: str, field: str) -> None:
    data = corrupted(event_type, path, "@")
    body = __import__("json").dumps(data).replace('"@"', "1e999999")
    assert_refused(hostile_world, function, event_type, body.encode(), field)


ATTRIBUTES = [
    ("payments", "payments.payment-requested"),
    ("ledger", "ledger.transaction-requested"),
    ("ledger", "payments.payment-processed"),
    ("notifications", "notifications.notification-requested"),
    ("notifications", "payments.payment-processed"),
    ("audit", "audit.payment-events"),
]


@pytest.mark.parametrize(("function", "event_type"), ATTRIBUTES)
@pytest.mark.parametrize(("attribute", "value"), [
    ("event_id", "i" * 201), ("event_id", "i" * 600), ("source", "/" + "s" * 200), ("source", "/" + "s" * 600),
    ("event_id", "id\u202ewith-a-bidi-override"), ("source", "/tests\x7f"),
])
def test_attributes_over_their_limits_are_refused_first(hostile_world: World, function: str, event_type: str,
                                                        attribute: str, value: str) -> None:
    field = "ce-id" if attribute == "event_id" else "ce-source"
    assert_refused(hostile_world, function, event_type, VALID_DATA[event_type], field, **{attribute: value})


def test_attributes_at_their_limits_are_accepted(hostile_world: World) -> None:
    response = post_event(hostile_world.clients["ledger"], "ledger.transaction-requested",
                          corrupted("ledger.transaction-requested", "transactionId", "txn_limit"),
                          event_id="i" * 200, source="/" + "s" * 199)
    assert response.status_code == 200, response.data[:300]


@pytest.mark.parametrize("time", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "1969-12-31T23:59:59Z",
                                  "2026-11-29T10:00:00", "not a time"])
@pytest.mark.parametrize(("function", "event_type", "path"), [
    ("ledger", "ledger.transaction-requested", "effectiveAt"),
    ("ledger", "payments.payment-processed", "processedAt"),
    ("notifications", "payments.payment-processed", "processedAt"),
    ("notifications", "payments.payment-failed", "failedAt"),
    ("audit", "audit.ledger-events", "occurredAt"),
])
def test_times_are_aware_and_in_range(hostile_world: World, function: str, event_type: str, path: str,
                                      time: str) -> None:
    assert_refused(hostile_world, function, event_type, corrupted(event_type, path, time), f"data.{path}")


@pytest.mark.parametrize("time", ["0001-01-01T00:00:00+05:00", "2026-11-29T10:00:00", "yesterday"])
def test_the_time_attribute_is_a_bounded_rfc3339_time(hostile_world: World, time: str) -> None:
    assert_refused(hostile_world, "audit", "audit.payment-events", VALID_DATA["audit.payment-events"], "ce-time",
                   time=time)


@pytest.mark.parametrize("gateway", ["g" * 300, "gatewäy", "stripe:live", "", "Stripe Gateway"])
@pytest.mark.parametrize("function", ["ledger", "notifications"])
def test_gateway_names_are_short_ascii_codes(hostile_world: World, function: str, gateway: str) -> None:
    assert_refused(hostile_world, function, "payments.payment-processed",
                   corrupted("payments.payment-processed", "gateway", gateway), "data.gateway")


@pytest.mark.parametrize(("path", "field"), [
    ("sequence", "data.sequence"), ("details.sequence", "data.details.sequence"),
    ("metadata", "data.metadata.n")])
def test_integers_fit_63_bits(hostile_world: World, path: str, field: str) -> None:
    value: Any = {"n": 2**63} if path == "metadata" else 10**30
    assert_refused(hostile_world, "audit", "audit.payment-events", corrupted("audit.payment-events", path, value),
                   field)


@pytest.mark.parametrize(("function", "event_type", "path"), [
    ("payments", "payments.payment-requested", "description"),
    ("ledger", "ledger.transaction-requested", "description"),
    ("notifications", "notifications.notification-requested", "body"),
    ("audit", "audit.payment-events", "actor"),
])
@pytest.mark.parametrize("text", ["nul\x00inside", "lone \ud800 surrogate"])
def test_unstorable_text_is_refused(hostile_world: World, function: str, event_type: str, path: str,
                                    text: str) -> None:
    assert_refused(hostile_world, function, event_type, corrupted(event_type, path, text), f"data.{path}")


def test_other_extensions_may_be_any_storable_text(hostile_world: World) -> None:
    data = corrupted("ledger.transaction-requested", "transactionId", "txn_extension")
    headers = binary_headers("ledger.transaction-requested", kafkaheaderrecord="a%09b%C3%A9")
    response = hostile_world.clients["ledger"].post("/", data=dumps(data), headers=headers)
    assert response.status_code == 200, response.data[:300]
    assert_refused(hostile_world, "ledger", "ledger.transaction-requested", data, "ce-kafkaheaderrecord",
                   kafkaheaderrecord="a%00b")


@pytest.mark.parametrize("merchant", ["mer_1:", "mer::1", ":mer_1"])
@pytest.mark.parametrize("event_type", ["payments.payment-processed", "payments.refund-processed"])
def test_identifiers_make_valid_account_names(hostile_world: World, merchant: str, event_type: str) -> None:
    """Found by the fuzzer: a merchant id with an empty colon segment became an invalid ledger account name."""
    assert_refused(hostile_world, "ledger", event_type, corrupted(event_type, "merchantId", merchant),
                   "data.merchantId")
