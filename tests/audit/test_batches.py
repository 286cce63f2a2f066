"""A CloudEvents batch (application/cloudevents-batch+json) is handled in one transaction and integrated in
one round: all its records or none, each once, in the order of the batch."""

from __future__ import annotations

import base64
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from functions.audit import note, rounds, tlog
from shared import idempotency
from shared.envelope import dumps
from tests.audit.helpers import TOPIC, VERIFIER_KEY, Audit, audit_function, event
from tests.support import reply_json, structured

BATCH = "application/cloudevents-batch+json"


@pytest.fixture
def audit(backend: str, tmp_path: Path) -> Iterator[Audit]:
    with audit_function(backend, tmp_path, audit_failed_payments_threshold=3) as function:
        yield function


def item(event_id: str | None = None, **data: Any) -> dict[str, Any]:
    return structured(TOPIC["payments"], event(**data), event_id=event_id or str(uuid.uuid4()),
                      source="/paymesh/payments")


def post_batch(audit: Audit, items: list[dict[str, Any]]) -> Any:
    return audit.client.post("/", data=dumps(items), headers={"Content-Type": BATCH})


def tree_size(audit: Audit) -> int:
    response = audit.get("/checkpoint")
    _, size, _ = note.parse_checkpoint(note.open_note(response.data, [note.Verifier(VERIFIER_KEY)]))
    return size


def events(audit: Audit) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = reply_json(audit.get("/events", limit=1000))["items"]
    return sorted(found, key=lambda found_item: int(found_item["leafIndex"]))


def test_a_batch_is_integrated_in_its_order_and_signed_before_the_2xx(audit: Audit) -> None:
    assert post_batch(audit, [item("e0", subject="pay_0")]).status_code == 200
    response = post_batch(audit, [item(f"e{n}", subject=f"pay_{n}") for n in range(1, 6)])
    assert response.status_code == 200 and response.content_type == BATCH and reply_json(response) == []
    assert tree_size(audit) == 6
    stored = events(audit)
    assert [(found["eventId"], found["leafIndex"]) for found in stored] == [(f"e{n}", n) for n in range(6)]
    root = note.parse_checkpoint(note.open_note(audit.get("/checkpoint").data, [note.Verifier(VERIFIER_KEY)]))[2]
    for found in stored:
        proof = [base64.b64decode(value) for value in
                 reply_json(audit.get("/proof/inclusion", index=found["leafIndex"], size=6))["hashes"]]
        assert tlog.check_record(proof, 6, root, found["leafIndex"], tlog.leaf_hash(base64.b64decode(found["leaf"])))
    assert reply_json(audit.get("/verify"))["ok"] is True


def test_a_bad_event_refuses_the_whole_batch_and_stores_nothing(audit: Audit) -> None:
    bad = item("e1")
    del bad["data"]["service"]
    response = post_batch(audit, [item("e0"), bad, item("e2")])
    assert response.status_code == 422
    assert reply_json(response)["field"] == "[1].data.service"
    assert tree_size(audit) == 0 and events(audit) == []
    assert post_batch(audit, [item("e0"), item("e2")]).status_code == 200  # nothing of the refused one was kept
    assert [found["eventId"] for found in events(audit)] == ["e0", "e2"]


def test_redelivered_and_repeated_events_are_stored_once(audit: Audit) -> None:
    assert post_batch(audit, [item("e0"), item("e1")]).status_code == 200
    assert post_batch(audit, [item("e1"), item("e2"), item("e2"), item("e0")]).status_code == 200
    assert [found["eventId"] for found in events(audit)] == ["e0", "e1", "e2"]
    assert tree_size(audit) == 3


def test_a_concurrent_delivery_that_committed_first_makes_the_batch_a_duplicate(
        audit: Audit, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two deliveries of one batch race: both look before either commits, so the second finds nothing stored
    and then collides with the first's records. It is answered as the duplicate it is, not with a 500."""
    assert post_batch(audit, [item("e0"), item("e1")]).status_code == 200
    looked = idempotency.find_many
    misses = iter([True])

    def racing(session: Any, keys: list[tuple[str, str]]) -> Any:
        return {} if next(misses, False) else looked(session, keys)

    monkeypatch.setattr(idempotency, "find_many", racing)
    assert post_batch(audit, [item("e0"), item("e1")]).status_code == 200
    assert [found["eventId"] for found in events(audit)] == ["e0", "e1"]
    assert reply_json(audit.get("/verify"))["ok"] is True


def test_window_rules_count_the_earlier_records_of_the_same_batch(audit: Audit) -> None:
    def failed(event_id: str, minute: int) -> dict[str, Any]:
        return item(event_id, action="payment.failed", outcome="failure", subject=event_id,
                    occurredAt=f"2026-03-01T10:{minute:02d}:00Z",
                    details={"customerId": "cus_7", "amount": "1.00", "currency": "EUR"})

    assert post_batch(audit, [failed("f1", 1)]).status_code == 200
    response = post_batch(audit, [failed("f2", 2), item("other"), failed("f3", 3), failed("f4", 4)])
    assert response.status_code == 200
    alerts = [reply for reply in reply_json(response) if reply["type"] == "audit.compliance-alerts"]
    assert [alert["data"]["triggeringEventIds"] for alert in alerts] == [["f1", "f2", "f3"]]


def test_concurrent_batches_make_one_contiguous_tree(audit: Audit) -> None:
    errors: list[str] = []

    def sender(worker: int) -> None:
        for round_number in range(4):
            items = [item(f"w{worker}-{round_number}-{n}") for n in range(10)]
            response = post_batch(audit, items)
            if response.status_code != 200:
                errors.append(f"{response.status_code} {response.data!r}")

    threads = [threading.Thread(target=sender, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert tree_size(audit) == 320
    assert [int(found["leafIndex"]) for found in events(audit)] == list(range(320))
    assert reply_json(audit.get("/verify")) == {**reply_json(audit.get("/verify")), "ok": True, "count": 320}


def test_a_conflict_in_a_round_is_retried_then_a_503_and_stores_nothing(
        audit: Audit, backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The round's writes go to the driver directly: its errors must still read as the store's rules expect
    (a serialization failure is retried, then answered 503: never a 500)."""
    if backend != "postgres":
        pytest.skip("the pipelined round is PostgreSQL's")
    assert post_batch(audit, [item("e0")]).status_code == 200
    audit.execute("CREATE FUNCTION conflicting(bigint, bytea, bigint) RETURNS void LANGUAGE plpgsql AS $$ "
                  "BEGIN RAISE EXCEPTION 'concurrent update' USING ERRCODE = 'serialization_failure'; END $$")
    monkeypatch.setattr(rounds, "_HASHES", "SELECT conflicting(%s, %s, %s)")
    response = post_batch(audit, [item("e1"), item("e2")])
    assert response.status_code == 503, response.data
    monkeypatch.undo()
    assert post_batch(audit, [item("e1"), item("e2")]).status_code == 200
    assert [found["eventId"] for found in events(audit)] == ["e0", "e1", "e2"]
    assert reply_json(audit.get("/verify"))["ok"] is True
