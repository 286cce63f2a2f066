"""The query API: each filter, cursor pagination, lookup by id, and export round-trips."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from functions.audit import note, tlog
from functions.audit.canonical import canonical_json
from functions.audit.leaves import leaf_bytes
from functions.audit.records import Filters, json_line, record_json
from functions.audit.repository import export_batched
from shared.contract import parse_time
from tests.audit.helpers import VERIFIER_KEY, Audit, audit_function
from tests.support import reply_json


@pytest.fixture
def audit(backend: str, tmp_path: Path) -> Iterator[Audit]:
    with audit_function(backend, tmp_path) as function:
        for n in range(12):
            service = ["payments", "ledger", "notifications"][n % 3]
            action = {"payments": "payment.captured", "ledger": "transaction.posted",
                      "notifications": "notification.sent"}[service]
            response = function.post(service, action=action, subject=f"sub_{n % 4}", correlationId=f"corr_{n % 2}",
                                     occurredAt=f"2026-01-01T00:{n:02d}:00Z")
            assert response.status_code == 204, response.data
        yield function


def items(audit: Audit, **args: Any) -> list[dict[str, Any]]:
    response = audit.get("/events", **args)
    assert response.status_code == 200, response.data
    found: list[dict[str, Any]] = reply_json(response)["items"]
    return found


@pytest.mark.parametrize(("name", "value", "count"), [
    ("service", "ledger", 4), ("action", "notification.sent", 4), ("subject", "sub_1", 3),
    ("correlationId", "corr_0", 6),
])
def test_each_equality_filter(audit: Audit, name: str, value: str, count: int) -> None:
    found = items(audit, **{name: value})
    assert len(found) == count
    key = {"correlationId": "correlationId"}.get(name, name)
    assert all(item[key] == value for item in found)


def test_time_range_is_from_inclusive_to_exclusive(audit: Audit) -> None:
    found = items(audit, **{"from": "2026-01-01T00:03:00Z", "to": "2026-01-01T00:07:00+00:00"})
    assert [item["occurredAt"] for item in found] == [f"2026-01-01T00:{n:02d}:00.000000Z" for n in range(3, 7)]


def test_filters_combine(audit: Audit) -> None:
    found = items(audit, service="payments", correlationId="corr_1", **{"from": "2026-01-01T00:02:00Z"})
    assert [item["subject"] for item in found] == ["sub_3", "sub_1"]


def test_pagination_walks_every_page_once(audit: Audit) -> None:
    seen: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        args: dict[str, Any] = {"limit": 5, "correlationId": "corr_0"}
        if cursor:
            args["cursor"] = cursor
        body = reply_json(audit.get("/events", **args))
        seen += [item["sequence"] for item in body["items"]]
        pages += 1
        cursor = body["nextCursor"]
        if cursor is None:
            break
    assert pages == 2 and seen == [1, 3, 5, 7, 9, 11]
    all_pages = []
    cursor = None
    while True:
        body = reply_json(audit.get("/events", limit=5, **({"cursor": cursor} if cursor else {})))
        all_pages += body["items"]
        cursor = body["nextCursor"]
        if not cursor:
            break
    assert [item["sequence"] for item in all_pages] == list(range(1, 13))


@pytest.mark.parametrize("args", [{"limit": "0"}, {"limit": "x"}, {"limit": "5000"}, {"cursor": "!!"},
                                  {"from": "yesterday"}, {"to": "2026-01-01T00:00:00"}])
def test_bad_query_is_400_naming_the_parameter(audit: Audit, args: dict[str, str]) -> None:
    response = audit.get("/events", **args)
    assert response.status_code == 400
    assert reply_json(response)["field"] == next(iter(args))


def test_get_one_event_by_id(audit: Audit) -> None:
    first = items(audit, limit=1)[0]
    assert reply_json(audit.get(f"/events/{first['id']}")) == first
    assert audit.get("/events/aud_missing").status_code == 404


def test_export_with_a_bad_time_is_400_before_streaming(audit: Audit) -> None:
    response = audit.get("/export", **{"from": "yesterday"})
    assert response.status_code == 400
    assert reply_json(response)["field"] == "from"


def test_export_streams_in_batches(audit: Audit) -> None:
    opened = 0

    def open_session() -> Any:
        nonlocal opened
        opened += 1
        return audit.store.session()

    items_out = [record_json(row) for row in export_batched(open_session, Filters({}), batch=5)]
    assert [item["sequence"] for item in items_out] == list(range(1, 13))
    assert opened == 3  # 5 + 5 + 2 rows: one short session per batch


def test_export_round_trips_and_reverifies(audit: Audit) -> None:
    response = audit.get("/export", **{"from": "2026-01-01T00:02:00Z", "to": "2026-01-01T00:10:00Z"})
    assert response.status_code == 200 and response.content_type == "application/x-ndjson"
    exported = [json.loads(line) for line in response.data.decode().splitlines()]
    assert [item["sequence"] for item in exported] == list(range(3, 11))
    assert exported == items(audit, **{"from": "2026-01-01T00:02:00Z", "to": "2026-01-01T00:10:00Z"})
    lines = [json_line(record_json(row)) for row in export_batched(audit.store.session, Filters({}))]
    parsed = [json.loads(line) for line in lines]
    assert len(parsed) == 12 and all(line.endswith("\n") for line in lines)
    # Every exported line carries its leaf: an outside party can rebuild the tree and compare its root.
    rebuilt: dict[int, bytes] = {}
    leaves = []
    for item in parsed:
        leaf = base64.b64decode(item["leaf"])
        assert leaf == leaf_bytes(type("Row", (), {
            "record_id": item["id"], "event_source": item["source"], "event_id": item["eventId"],
            "event_type": item["eventType"], "service": item["service"], "action": item["action"],
            "outcome": item["outcome"], "actor": item["actor"], "subject": item["subject"],
            "correlation_id": item["correlationId"], "customer_id": item["customerId"],
            "occurred_at": parse_time("t", item["occurredAt"]), "recorded_at": parse_time("t", item["recordedAt"]),
            "data": canonical_json(item["data"])}))
        leaves.append(leaf)
    rebuilt.update(enumerate(tlog.stored_hashes_batch(0, leaves, lambda indexes: [rebuilt[i] for i in indexes])))
    root = tlog.tree_hash(12, lambda indexes: [rebuilt[i] for i in indexes])
    _, size, signed_root = note.parse_checkpoint(
        note.open_note(audit.get("/checkpoint").data, [note.Verifier(VERIFIER_KEY)]))
    assert (size, signed_root) == (12, root)


def test_query_at_scale_uses_the_filter_index(backend: str, tmp_path: Path) -> None:
    if backend != "postgres":
        pytest.skip("plan check is for PostgreSQL")
    with audit_function(backend, tmp_path) as audit:
        plan = audit.execute("EXPLAIN SELECT * FROM audit_records WHERE correlation_id = 'x' "
                             "ORDER BY occurred_at, sequence LIMIT 100").all()
        assert "ix_audit_records_correlation" in " ".join(str(row[0]) for row in plan)
