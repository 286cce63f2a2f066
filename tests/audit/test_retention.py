"""Retention: purge removes only expired, un-held records, records itself, and leaves a verifiable chain."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from functions.audit import checkpoints, retention
from functions.audit.repository import Repository
from paymesh.audit import app as audit_cli
from tests.audit.helpers import KEY, Audit, audit_function
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
        return retention.purge(Repository(session), key=KEY.encode(), retention_days=audit.settings.audit_retention_days,
                               now=now, dry_run=dry_run, actor="test")


def verify(audit: Audit) -> dict[str, Any]:
    body: dict[str, Any] = reply_json(audit.get("/verify"))
    return body


def subjects(audit: Audit) -> list[str]:
    return [item["subject"] for item in reply_json(audit.get("/events"))["items"]]


def test_default_retention_is_seven_years(audit: Audit) -> None:
    assert audit.settings.audit_retention_days >= 7 * 365
    assert purge(audit, NOW + timedelta(days=6 * 365)).purged == 0


def test_dry_run_counts_and_changes_nothing(audit: Audit) -> None:
    with audit.store.session() as session:
        retention.place_hold(Repository(session), "subject", "pay_1", reason="case 1", actor="test", now=NOW)
    report = purge(audit, LATER, dry_run=True)
    assert (report.expired, report.held, report.purged, report.dry_run) == (7, 1, 0, True)
    assert len(subjects(audit)) == 7 and verify(audit)["count"] == 7


def test_purge_keeps_held_records_records_itself_and_stays_verifiable(audit: Audit) -> None:
    with audit.store.session() as session:
        retention.place_hold(Repository(session), "subject", "pay_2", reason="case 1", actor="test", now=NOW)
        retention.place_hold(Repository(session), "correlation", "corr_4", reason="case 2", actor="test", now=NOW)
    report = purge(audit, LATER)
    # 6 events + 2 hold records, 2 held: sequences 1-2 form a purged prefix, 4, 6, 7, 8 become tombstones.
    assert (report.expired, report.held, report.purged, report.base_sequence) == (8, 2, 6, 2)
    assert subjects(audit) == ["pay_2", "pay_4", "retention"]
    purged = reply_json(audit.get("/events", action="retention.purged"))["items"][0]
    assert purged["data"]["details"]["purged"] == 6 and purged["actor"] == "test"
    result = verify(audit)
    assert result["ok"] is True and result["from"] == 2 and result["count"] == 7
    notes = [item["note"] for item in reply_json(audit.get("/checkpoints"))["items"]]
    assert notes == ["before purge", "purge base"]

    # Release the holds; a later purge removes the rest and the chain still verifies from the new base.
    with audit.store.session() as session:
        assert retention.release_hold(Repository(session), 1, "test", NOW)
        assert retention.release_hold(Repository(session), 2, "test", NOW)
        assert not retention.release_hold(Repository(session), 2, "test", NOW)
    second = purge(audit, LATER + timedelta(days=365))
    # The first purge's own record (written "later") is not expired yet: it becomes the new start.
    assert second.purged == 4 and second.base_sequence == 8
    assert subjects(audit) == ["retention", "retention"]
    assert verify(audit) == {**verify(audit), "ok": True, "from": 8, "count": 4}
    assert audit.post(subject="pay_new").status_code == 204
    assert verify(audit)["ok"] is True


def test_tampering_after_a_purge_is_still_found(audit: Audit) -> None:
    with audit.store.session() as session:
        retention.place_hold(Repository(session), "subject", "pay_2", reason="case", actor="test", now=NOW)
    purge(audit, LATER)
    audit.execute("DELETE FROM audit_tombstones WHERE sequence = 5")
    assert verify(audit)["firstBadSequence"] == 5
    audit.execute("INSERT INTO audit_tombstones (sequence, prev_hash, hash, purged_at) "
                  "SELECT 5, hash, hash, purged_at FROM audit_tombstones WHERE sequence = 4")
    assert verify(audit)["firstBadSequence"] == 6


def test_moving_the_base_without_a_checkpoint_is_found(audit: Audit) -> None:
    audit.execute("DELETE FROM audit_records WHERE sequence <= 2")
    audit.execute("UPDATE audit_chain_head SET base_sequence = 2, "
                  "base_hash = (SELECT prev_hash FROM audit_records WHERE sequence = 3)")
    result = verify(audit)
    assert result["ok"] is False and result["firstBadSequence"] == 3


def test_purge_needs_a_checkpoint_key(audit: Audit) -> None:
    with audit.store.session() as session, pytest.raises(checkpoints.CheckpointError):
        retention.purge(Repository(session), key=None, retention_days=1, now=LATER, dry_run=False)


def test_cli_verify_checkpoint_hold_purge_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("PAYMESH_AUDIT_CHECKPOINT_KEY", KEY)
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(audit_cli, list(args))
        assert result.exit_code == code, result.output
        return result.output

    held = json.loads(run("hold", "add", "--subject", "pay_1", "--reason", "case 7"))
    assert held["kind"] == "subject" and json.loads(run("hold", "list", "--active"))[0]["id"] == held["id"]
    assert json.loads(run("checkpoint", "--note", "daily"))["sequence"] == 1
    assert json.loads(run("checkpoints"))[0]["note"] == "daily"
    dry = json.loads(run("purge", "--dry-run"))
    assert (dry["purged"], dry["dryRun"], dry["checkpointId"]) == (0, True, None)
    assert json.loads(run("purge"))["purgeRecordSequence"] == 2
    assert json.loads(run("verify"))["count"] == 2
    assert json.loads(run("verify", "--checkpoint", "1"))["count"] == 1
    lines = run("export").splitlines()
    assert [json.loads(line)["action"] for line in lines] == ["legal-hold.placed", "retention.purged"]
    run("hold", "release", "1")
    run("hold", "release", "1", code=1)
    run("hold", "add", "--reason", "none", code=2)
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{tmp_path / 'cli.db'}")
    with engine.begin() as connection:
        connection.execute(text("UPDATE audit_records SET actor = 'x' WHERE sequence = 2"))
    engine.dispose()
    assert json.loads(run("verify", code=1))["firstBadSequence"] == 2
