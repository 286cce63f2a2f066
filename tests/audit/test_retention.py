"""Retention: purge removes the content of expired, un-held records only, records itself, and leaves the
tree, its checkpoints and every earlier proof intact; a purged record reads as purged."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from functions.audit import note, retention, tlog
from functions.audit.repository import Repository
from tests.audit.helpers import VERIFIER_KEY, Audit, audit_function
from tests.support import reply_json

NOW = datetime.now(UTC)
LATER = NOW + timedelta(days=8 * 365)


@pytest.fixture
def audit(backend: str, tmp_path: Path) -> Iterator[Audit]:
    with audit_function(backend, tmp_path) as function:
        for n in range(6):
            assert function.post(subject=f"pay_{n}", correlationId=f"corr_{n}").status_code == 204
        yield function


def purge(audit: Audit, now: datetime, *, dry_run: bool = False) -> retention.PurgeReport:
    with audit.store.session() as session:
        return retention.purge(Repository(session), audit.signing,
                               retention_days=audit.settings.audit_retention_days, now=now, dry_run=dry_run,
                               actor="test")


def hold(audit: Audit, kind: retention.HoldKind, value: str) -> None:
    with audit.store.session() as session:
        retention.place_hold(Repository(session), audit.signing, kind, value, reason="case", actor="test", now=NOW)


def verify(audit: Audit) -> dict[str, Any]:
    body: dict[str, Any] = reply_json(audit.get("/verify"))
    return body


def subjects(audit: Audit) -> list[str]:
    return [item["subject"] for item in reply_json(audit.get("/events"))["items"]]


def signed_checkpoint(audit: Audit) -> tuple[int, bytes]:
    _, size, root = note.parse_checkpoint(note.open_note(audit.get("/checkpoint").data, [note.Verifier(VERIFIER_KEY)]))
    return size, root


def test_default_retention_is_seven_years(audit: Audit) -> None:
    assert audit.settings.audit_retention_days >= 7 * 365
    assert purge(audit, NOW + timedelta(days=6 * 365)).purged == 0


def test_dry_run_counts_and_changes_nothing(audit: Audit) -> None:
    hold(audit, "subject", "pay_1")
    report = purge(audit, LATER, dry_run=True)
    assert (report.expired, report.held, report.purged, report.dry_run) == (7, 1, 0, True)
    assert len(subjects(audit)) == 7 and verify(audit)["count"] == 7


def test_purge_keeps_held_records_records_itself_and_earlier_proofs_verify(audit: Audit) -> None:
    hold(audit, "subject", "pay_2")
    hold(audit, "correlation", "corr_4")
    size, root = signed_checkpoint(audit)
    assert size == 8
    before = reply_json(audit.get("/events", subject="pay_1"))["items"][0]
    proof = reply_json(audit.get("/proof/inclusion", index=before["leafIndex"], size=size))["hashes"]

    report = purge(audit, LATER)
    # 6 events + 2 hold records, 2 held: 6 purged
    assert (report.expired, report.held, report.purged) == (8, 2, 6)
    assert subjects(audit) == ["pay_2", "pay_4", "retention"]
    purged = reply_json(audit.get("/events", action="retention.purged"))["items"][0]
    assert purged["data"]["details"]["purged"] == 6 and purged["actor"] == "test"
    assert purged["sequence"] == report.purge_record_sequence == 9

    gone = reply_json(audit.get(f"/events/{before['id']}"))
    assert gone == {"id": before["id"], "sequence": before["sequence"], "leafIndex": before["leafIndex"],
                    "purged": True, "purgedAt": gone["purgedAt"]}
    # The purged record's leaf is still in the tree: the proof made before verifies, and is what the log serves.
    leaf_hash = tlog.leaf_hash(base64.b64decode(before["leaf"]))
    assert tlog.check_record([base64.b64decode(item) for item in proof], size, root, before["leafIndex"], leaf_hash)
    assert reply_json(audit.get("/proof/inclusion", index=before["leafIndex"], size=size))["hashes"] == proof
    new_size, new_root = signed_checkpoint(audit)
    consistency = reply_json(audit.get("/proof/consistency", **{"from": size, "size": new_size}))["hashes"]
    assert tlog.check_tree([base64.b64decode(item) for item in consistency], new_size, new_root, size, root)
    result = verify(audit)
    assert result["ok"] is True and result["count"] == 9

    # Release the holds; a later purge removes the rest and the log still verifies.
    with audit.store.session() as session:
        assert retention.release_hold(Repository(session), audit.signing, 1, "test", NOW)
        assert retention.release_hold(Repository(session), audit.signing, 2, "test", NOW)
        assert not retention.release_hold(Repository(session), audit.signing, 2, "test", NOW)
    second = purge(audit, LATER + timedelta(days=365))
    # The first purge's own record (written "later") is not expired yet.
    assert second.purged == 4
    assert subjects(audit) == ["retention", "retention"]
    assert verify(audit) == {**verify(audit), "ok": True, "count": 12}
    assert audit.post(subject="pay_new").status_code == 204
    assert verify(audit)["ok"] is True


def test_tampering_after_a_purge_is_still_found(audit: Audit) -> None:
    hold(audit, "subject", "pay_2")
    purge(audit, LATER)
    audit.execute("DELETE FROM audit_purged WHERE sequence = 5")
    assert verify(audit)["firstBadSequence"] == 5
    audit.execute("INSERT INTO audit_purged (sequence, record_id, purged_at) "
                  "SELECT 5, 'aud_x', purged_at FROM audit_purged WHERE sequence = 4")
    assert verify(audit)["ok"] is True  # a purged place holds no content to check: its leaf hash stays
    audit.execute("UPDATE audit_tree_hashes SET hash = (SELECT hash FROM audit_tree_hashes WHERE hash_index = 0)"
                  " WHERE hash_index = 7")  # record 5's stored leaf hash
    # Record 5 has no content left to hold its leaf hash to: the subtree record 6 closes with it differs.
    assert verify(audit)["firstBadSequence"] == 6
