"""Storing audit events in the transparency log, and /verify catching every kind of tampering."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from functions.audit import note, tlog
from tests.audit.forgery import forge_copy_of_row_2_as_row_3, rebuild_tree
from tests.audit.helpers import VERIFIER_KEY, Audit, audit_function
from tests.support import post_event, reply_json


@pytest.fixture
def audit(backend: str, tmp_path: Path) -> Iterator[Audit]:
    with audit_function(backend, tmp_path) as function:
        yield function


def fill(audit: Audit, count: int) -> None:
    for n in range(count):
        assert audit.post(subject=f"pay_{n}").status_code == 204


def verify(audit: Audit) -> dict[str, object]:
    response = audit.get("/verify")
    assert response.status_code == 200, response.data
    body: dict[str, object] = reply_json(response)
    return body


def checkpoint(audit: Audit) -> tuple[str, int, bytes]:
    response = audit.get("/checkpoint")
    assert response.status_code == 200 and response.content_type == "text/plain; charset=utf-8"
    text = note.open_note(response.data, [note.Verifier(VERIFIER_KEY)])
    return note.parse_checkpoint(text)


def test_each_event_is_one_leaf_and_redelivery_is_stored_once(audit: Audit) -> None:
    first = audit.post(event_id="e1", subject="pay_1", correlationId="corr-1", actor="user:42")
    assert first.status_code == 204 and first.data == b""
    assert audit.post("ledger", event_id="e2", action="transaction.posted", subject="txn_1").status_code == 204
    assert audit.post(event_id="e1", subject="pay_1", correlationId="corr-1", actor="user:42").status_code == 204

    items = reply_json(audit.get("/events"))["items"]
    assert [item["sequence"] for item in items] == [1, 2]
    assert [item["leafIndex"] for item in items] == [0, 1]
    one, _ = items
    assert (one["service"], one["action"], one["actor"], one["subject"], one["correlationId"]) == (
        "payments", "payment.captured", "user:42", "pay_1", "corr-1")
    assert (one["source"], one["eventId"], one["eventType"]) == ("/paymesh/payments", "e1", "audit.payment-events")
    assert one["data"]["details"]["amount"] == "12.34"
    origin, size, root = checkpoint(audit)
    assert (origin, size) == ("audit.test", 2)
    assert verify(audit) == {"ok": True, "count": 2, "head": {"sequence": 2, "hash": root.hex()}}


def test_the_leaf_is_the_canonical_json_of_the_record_with_its_id(audit: Audit) -> None:
    fill(audit, 3)
    item = reply_json(audit.get("/events"))["items"][1]
    leaf = base64.b64decode(item["leaf"])
    assert leaf.startswith(b'{"action":"payment.captured","actor":') and b'"id":"' + item["id"].encode() in leaf
    assert b" " not in leaf.replace(b"payment captured", b"")
    assert reply_json(audit.get(f"/events/{item['id']}"))["leaf"] == item["leaf"]
    _, size, root = checkpoint(audit)
    proof = [base64.b64decode(value) for value in
             reply_json(audit.get("/proof/inclusion", index=item["leafIndex"], size=size))["hashes"]]
    assert tlog.check_record(proof, size, root, item["leafIndex"], tlog.leaf_hash(leaf))
    assert not tlog.check_record(proof, size, root, item["leafIndex"], tlog.leaf_hash(leaf + b" "))


def test_the_2xx_means_in_the_tree_and_in_a_signed_checkpoint(audit: Audit) -> None:
    for n in range(5):
        assert audit.post(subject=f"pay_{n}").status_code == 204
        _, size, root = checkpoint(audit)
        assert size == n + 1
        newest = reply_json(audit.get("/events", subject=f"pay_{n}"))["items"][0]
        proof = [base64.b64decode(value) for value in
                 reply_json(audit.get("/proof/inclusion", index=n, size=size))["hashes"]]
        assert tlog.check_record(proof, size, root, n, tlog.leaf_hash(base64.b64decode(newest["leaf"])))
    published = audit.publisher.of_type("audit.checkpoints")
    assert published and published[0].data is not None
    data = published[0].data
    origin, size, root = note.parse_checkpoint(note.open_note(data["checkpoint"].encode(),
                                                              [note.Verifier(VERIFIER_KEY)]))
    assert (data["origin"], data["treeSize"], data["rootHash"]) == (origin, size, base64.b64encode(root).decode())


def test_consistency_proofs_link_every_earlier_checkpoint(audit: Audit) -> None:
    roots = {}
    for _ in range(7):
        fill(audit, 1)
        _, size, root = checkpoint(audit)
        roots[size] = root
    for old in range(1, 8):
        body = reply_json(audit.get("/proof/consistency", **{"from": old, "size": 7}))
        assert (body["from"], body["size"]) == (old, 7)
        proof = [base64.b64decode(value) for value in body["hashes"]]
        assert tlog.check_tree(proof, 7, roots[7], old, roots[old])


@pytest.mark.parametrize(("path", "args", "field"), [
    ("/proof/inclusion", {"size": "3"}, "index"),
    ("/proof/inclusion", {"index": "0"}, "size"),
    ("/proof/inclusion", {"index": "3", "size": "3"}, "index"),
    ("/proof/inclusion", {"index": "0", "size": "4"}, "size"),
    ("/proof/inclusion", {"index": "-1", "size": "3"}, "index"),
    ("/proof/inclusion", {"index": "x", "size": "3"}, "index"),
    ("/proof/consistency", {"from": "0", "size": "3"}, "from"),
    ("/proof/consistency", {"from": "3", "size": "2"}, "from"),
    ("/proof/consistency", {"from": "1", "size": "99999999999999999999"}, "size"),
    ("/proof/consistency", {"size": "3"}, "from"),
])
def test_bad_proof_request_is_400_naming_the_parameter(audit: Audit, path: str, args: dict[str, str],
                                                       field: str) -> None:
    fill(audit, 3)
    response = audit.get(path, **args)
    assert response.status_code == 400, response.data
    assert reply_json(response)["field"] == field


def test_correlation_id_defaults_to_the_cloudevent_one(audit: Audit) -> None:
    post_event(audit.client, "audit.payment-events", {"service": "payments", "action": "payment.failed",
                                                      "subject": "pay_9"}, event_id="e9", correlationid="c-from-ce")
    assert reply_json(audit.get("/events"))["items"][0]["correlationId"] == "c-from-ce"


def test_bad_audit_event_is_a_4xx_naming_the_field(audit: Audit) -> None:
    response = audit.post(service="payments", action="")
    assert response.status_code == 422
    assert reply_json(response)["field"] == "data.action"
    assert reply_json(audit.get("/events"))["items"] == []


# ---- tampering the store's own /verify finds ----------------------------------------------------------


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


def test_inserted_row_is_found(audit: Audit) -> None:
    fill(audit, 4)
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


def test_changed_stored_hash_is_found(audit: Audit) -> None:
    fill(audit, 4)
    # record 4 (index 3) stores its leaf hash at 4 and closes subtrees at 5 and 6
    audit.execute("UPDATE audit_tree_hashes SET hash = (SELECT hash FROM audit_tree_hashes WHERE hash_index = 0)"
                  " WHERE hash_index = 5")
    assert verify(audit)["firstBadSequence"] == 4


def test_rewritten_tree_and_head_are_caught_by_a_signed_checkpoint(audit: Audit) -> None:
    """A forger rewrites records 2.. and rebuilds the whole tree and head, but cannot sign: the kept
    checkpoints (signed before) no longer match, and the head's note does not sign the new root."""
    fill(audit, 3)
    time.sleep(1.2)  # the newest head is kept in the history within a second
    fill(audit, 2)
    kept = [item["size"] for item in reply_json(audit.get("/checkpoints"))["items"]]
    assert kept[-1] == 1 and kept[0] >= 3
    audit.execute("UPDATE audit_records SET actor = 'forger' WHERE sequence >= 2")
    rebuild_tree(audit, resign=False)
    result = verify(audit)
    assert result["ok"] is False and result["firstBadSequence"] == 2


def test_concurrent_senders_make_one_contiguous_tree(backend: str, tmp_path: Path) -> None:
    """8 senders at once (on PostgreSQL: concurrent transactions, one integrator at a time): every 2xx'd record
    is in the signed tree, each exactly once, at contiguous indexes."""
    with audit_function(backend, tmp_path) as audit:
        errors: list[str] = []

        def writer(worker: int) -> None:
            for n in range(12):
                response = audit.post(subject=f"pay_{worker}_{n}")
                if response.status_code != 204:
                    errors.append(f"{response.status_code} {response.data!r}")
                    continue
                _, size, _ = checkpoint(audit)
                found = reply_json(audit.get("/events", subject=f"pay_{worker}_{n}"))["items"]
                if len(found) != 1 or found[0]["leafIndex"] >= size:
                    errors.append(f"pay_{worker}_{n} not integrated before its 2xx")

        threads = [threading.Thread(target=writer, args=(worker,)) for worker in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        result = verify(audit)
        assert result == {**result, "ok": True, "count": 96}
        _, size, root = checkpoint(audit)
        items = reply_json(audit.get("/events", limit=1000))["items"]
        assert size == 96 and sorted(item["leafIndex"] for item in items) == list(range(96))
        for item in items:
            proof = [base64.b64decode(value) for value in
                     reply_json(audit.get("/proof/inclusion", index=item["leafIndex"], size=size))["hashes"]]
            assert tlog.check_record(proof, size, root, item["leafIndex"], tlog.leaf_hash(base64.b64decode(item["leaf"])))


def test_a_record_left_pending_by_a_crash_is_integrated_after_start(backend: str, tmp_path: Path) -> None:
    """The process died after the delivery committed and before integrating: the redelivery is answered as
    a duplicate, so the function integrates leftovers itself shortly after it starts."""
    from datetime import UTC, datetime

    from functions.audit.app import AuditSettings, build_spec
    from functions.audit.leaves import NewRecord
    from functions.audit.repository import Repository
    from shared.publish import MemoryPublisher
    from tests.audit.helpers import SIGNER_KEY
    from tests.support import build_app, flask_client, temporary_store

    settings = AuditSettings(audit_signing_key=SIGNER_KEY)
    spec = build_spec(settings)
    with temporary_store(backend, "audit", spec.migrations, tmp_path) as store:
        with store.session() as session:
            now = datetime.now(UTC)
            Repository(session).insert_pending(NewRecord(
                event_source="/paymesh/payments", event_id="left", event_type="audit.payment-events",
                service="payments", action="payment.captured", outcome="success", actor="system", subject="pay_left",
                correlation_id="c", customer_id=None, occurred_at=now, recorded_at=now, data="{}").values())
        publisher = MemoryPublisher()
        audit = Audit(store, flask_client(build_app(spec, store, settings, publisher)), publisher, settings)
        deadline = time.monotonic() + 5
        while not reply_json(audit.get("/events"))["items"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [item["subject"] for item in reply_json(audit.get("/events"))["items"]] == ["pay_left"]
        assert checkpoint(audit)[1] == 1 and verify(audit)["ok"] is True
        assert publisher.of_type("audit.checkpoints")


def test_the_frontier_kept_with_the_head_is_what_appending_reads(audit: Audit) -> None:
    from functions.audit import frontier

    for size in range(1, 12):
        fill(audit, 1)
        with audit.store.session() as session:
            from functions.audit.repository import Repository

            repository = Repository(session)
            head = repository.read_head()
            indexes = frontier.indexes(size)
            assert bytes(head.frontier) == b"".join(repository.read_hashes(indexes))
    assert frontier.indexes(11) == [tlog.stored_hash_index(3, 0), tlog.stored_hash_index(1, 4),
                                    tlog.stored_hash_index(0, 10)]
    audit.execute("UPDATE audit_tree_head SET frontier = :f", f=bytes(96))
    assert verify(audit)["problem"] == "the tree head's frontier does not match the leaves"
