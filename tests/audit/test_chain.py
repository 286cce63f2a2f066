"""Storing audit events in the hash chain, and verify catching every kind of tampering."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from functions.audit import chain
from functions.audit.models import GENESIS_HASH
from functions.audit.repository import RECORDS, Repository
from tests.audit.helpers import Audit, audit_function
from tests.support import reply_json


@pytest.fixture
def audit(backend: str, tmp_path: Path) -> Iterator[Audit]:
    with audit_function(backend, tmp_path) as function:
        yield function


def fill(audit: Audit, count: int) -> None:
    for n in range(count):
        assert audit.post(subject=f"pay_{n}").status_code == 204


def verify(audit: Audit, **args: str) -> dict[str, object]:
    response = audit.get("/verify", **args)
    assert response.status_code == 200, response.data
    body: dict[str, object] = reply_json(response)
    return body


def test_each_event_is_one_linked_row_and_redelivery_is_stored_once(audit: Audit) -> None:
    first = audit.post(event_id="e1", subject="pay_1", correlationId="corr-1", actor="user:42")
    assert first.status_code == 204 and first.data == b""
    assert audit.post("ledger", event_id="e2", action="transaction.posted", subject="txn_1").status_code == 204
    assert audit.post(event_id="e1", subject="pay_1", correlationId="corr-1", actor="user:42").status_code == 204

    items = reply_json(audit.get("/events"))["items"]
    assert [item["sequence"] for item in items] == [1, 2]
    one, two = items
    assert (one["service"], one["action"], one["actor"], one["subject"], one["correlationId"]) == (
        "payments", "payment.captured", "user:42", "pay_1", "corr-1")
    assert (one["source"], one["eventId"], one["eventType"]) == ("/paymesh/payments", "e1", "audit.payment-events")
    assert one["data"]["details"]["amount"] == "12.34"
    assert one["prevHash"] == GENESIS_HASH and two["prevHash"] == one["hash"]
    assert verify(audit) == {"ok": True, "count": 2, "from": 0, "head": {"sequence": 2, "hash": two["hash"]}}


def test_correlation_id_defaults_to_the_cloudevent_one(audit: Audit) -> None:
    from tests.support import post_event

    post_event(audit.client, "audit.payment-events", {"service": "payments", "action": "payment.failed",
                                                      "subject": "pay_9"}, event_id="e9", correlationid="c-from-ce")
    assert reply_json(audit.get("/events"))["items"][0]["correlationId"] == "c-from-ce"


def test_bad_audit_event_is_a_4xx_naming_the_field(audit: Audit) -> None:
    response = audit.post(service="payments", action="")
    assert response.status_code == 422
    assert reply_json(response)["field"] == "data.action"
    assert reply_json(audit.get("/events"))["items"] == []


def test_changed_row_is_found(audit: Audit) -> None:
    fill(audit, 5)
    audit.execute("UPDATE audit_records SET data = replace(data, '12.34', '1.00') WHERE sequence = 3")
    assert verify(audit)["firstBadSequence"] == 3
    assert verify(audit)["ok"] is False


def test_changed_column_outside_the_data_is_found(audit: Audit) -> None:
    fill(audit, 4)
    audit.execute("UPDATE audit_records SET actor = 'someone-else' WHERE sequence = 2")
    assert verify(audit)["firstBadSequence"] == 2


def test_deleted_row_is_found(audit: Audit) -> None:
    fill(audit, 5)
    audit.execute("DELETE FROM audit_records WHERE sequence = 2")
    assert verify(audit)["firstBadSequence"] == 2


def test_deleted_last_row_is_found(audit: Audit) -> None:
    fill(audit, 3)
    audit.execute("DELETE FROM audit_records WHERE sequence = 3")
    assert verify(audit)["firstBadSequence"] == 3


def forge_copy_of_row_2_as_row_3(audit: Audit) -> None:
    """Insert a copy of row 2 as sequence 3, linked to row 2's hash (a forger who knows the chain's shape)."""
    audit.execute(
        "INSERT INTO audit_records (sequence, record_id, event_source, event_id, event_type, service, action,"
        " outcome, actor, subject, correlation_id, customer_id, occurred_at, recorded_at, data, prev_hash, hash)"
        " SELECT 3, 'aud_forged', event_source, 'forged', event_type, service, action, outcome, actor, subject,"
        " correlation_id, customer_id, occurred_at, recorded_at, data, hash, hash FROM audit_records"
        " WHERE sequence = 2")


def test_inserted_row_is_found(audit: Audit) -> None:
    fill(audit, 4)
    # Make room after sequence 2 and insert a forged copy of row 2 there, linked to row 2's hash.
    audit.execute("UPDATE audit_records SET sequence = sequence + 100 WHERE sequence > 2")
    audit.execute("UPDATE audit_records SET sequence = sequence - 99 WHERE sequence > 100")
    forge_copy_of_row_2_as_row_3(audit)
    assert verify(audit)["firstBadSequence"] == 3


def test_appended_row_beyond_the_head_is_found(audit: Audit) -> None:
    fill(audit, 2)
    forge_copy_of_row_2_as_row_3(audit)
    assert verify(audit)["firstBadSequence"] == 3


def test_reordered_rows_are_found(audit: Audit) -> None:
    fill(audit, 5)
    audit.execute("UPDATE audit_records SET sequence = 100 WHERE sequence = 2")
    audit.execute("UPDATE audit_records SET sequence = 2 WHERE sequence = 4")
    audit.execute("UPDATE audit_records SET sequence = 4 WHERE sequence = 100")
    assert verify(audit)["firstBadSequence"] == 2


def test_rewritten_tail_is_caught_by_a_signed_checkpoint(audit: Audit) -> None:
    fill(audit, 3)
    with audit.store.session() as session:
        from datetime import UTC, datetime

        from functions.audit import checkpoints

        checkpoints.create(Repository(session), b"test-checkpoint-key", datetime.now(UTC))
    # A forger who recomputes every hash from row 2 on and moves the head cannot fix the checkpoint.
    audit.execute("UPDATE audit_records SET actor = 'forger' WHERE sequence >= 2")
    with audit.store.session() as session:
        rows = session.connection().execute(RECORDS.select().order_by(RECORDS.c.sequence)).all()
    previous = GENESIS_HASH
    for row in rows:
        values = {**row._mapping, "prev_hash": previous}
        forged = type("Row", (), values)
        new_hash = chain.compute_hash(forged)
        audit.execute("UPDATE audit_records SET prev_hash = :p, hash = :h WHERE sequence = :s",
                      p=previous, h=new_hash, s=row.sequence)
        previous = new_hash
    audit.execute("UPDATE audit_chain_head SET hash = :h", h=previous)
    result = verify(audit)
    assert result["ok"] is False and result["firstBadSequence"] == 3


def test_verify_from_a_checkpoint_and_bad_signature(audit: Audit) -> None:
    fill(audit, 3)
    from datetime import UTC, datetime

    from functions.audit import checkpoints

    with audit.store.session() as session:
        made = checkpoints.create(Repository(session), b"test-checkpoint-key", datetime.now(UTC), note="t")
    fill(audit, 2)
    result = verify(audit, checkpoint=str(made.id))
    assert result["ok"] is True and result["count"] == 2 and result["from"] == 3
    listed = reply_json(audit.get("/checkpoints"))["items"]
    assert listed[0]["sequence"] == 3 and listed[0]["algorithm"] == "HMAC-SHA256"
    assert audit.get("/verify", checkpoint="99").status_code == 400
    audit.execute("UPDATE audit_checkpoints SET hash = :h", h="f" * 64)
    assert verify(audit)["ok"] is False


def test_concurrent_writers_keep_one_unbroken_chain(backend: str, tmp_path: Path) -> None:
    with audit_function(backend, tmp_path) as audit:
        errors: list[int] = []

        def writer(worker: int) -> None:
            for n in range(15):
                status = audit.post(subject=f"pay_{worker}_{n}").status_code
                if status != 204:
                    errors.append(status)

        threads = [threading.Thread(target=writer, args=(worker,)) for worker in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        result = verify(audit)
        assert result == {**result, "ok": True, "count": 90}
