"""Retention: legal holds and the purge of expired, un-held records.

A purge runs in one transaction holding the chain lock: it signs a checkpoint of the current head,
turns every expired record whose subject and correlation id are not held into a tombstone (sequence,
prev_hash, hash: no content), drops the tombstones of the now fully purged prefix of the chain and moves
the chain's base there with a signed checkpoint, then appends a `retention.purged` audit record. Verify
starts at that base and links across any remaining tombstones, so the chain stays verifiable.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from functions.audit import chain, checkpoints
from functions.audit.models import AuditRecord
from functions.audit.repository import Repository

HoldKind = Literal["subject", "correlation"]
SOURCE = "/paymesh/audit"


def _self_record(repository: Repository, action: str, subject: str, *, actor: str, now: datetime,
                 details: dict[str, Any]) -> AuditRecord:
    """An audit record about the audit log itself (purges, holds)."""
    payload = {"service": "audit", "action": action, "outcome": "info", "actor": actor, "subject": subject,
               "occurredAt": chain.timestamp(now), "details": details}
    event_id = str(uuid.uuid4())
    return chain.append(repository, chain.NewRecord(
        event_source=SOURCE, event_id=event_id, event_type="audit.internal", service="audit", action=action,
        outcome="info", actor=actor, subject=subject, correlation_id=event_id, customer_id=None,
        occurred_at=now, recorded_at=now, data=chain.canonical_json(payload)))


# ---- legal holds ------------------------------------------------------------------------------------


def place_hold(repository: Repository, kind: HoldKind, value: str, *, reason: str, actor: str,
               now: datetime) -> Any:
    hold = repository.insert_hold(kind, value, reason, now)
    _self_record(repository, "legal-hold.placed", f"hold-{hold.id}", actor=actor, now=now,
                 details={"kind": kind, "value": value, "reason": reason})
    return hold


def release_hold(repository: Repository, hold_id: int, actor: str, now: datetime) -> bool:
    released = repository.release_hold(hold_id, now)
    if released:
        _self_record(repository, "legal-hold.released", f"hold-{hold_id}", actor=actor, now=now, details={})
    return released


def hold_json(row: Any) -> dict[str, Any]:
    return {"id": row.id, "kind": row.kind, "value": row.value, "reason": row.reason,
            "createdAt": chain.timestamp(row.created_at),
            "releasedAt": chain.timestamp(row.released_at) if row.released_at else None}


def list_holds(repository: Repository, active_only: bool = False) -> list[dict[str, Any]]:
    return [hold_json(row) for row in repository.holds(active_only)]


# ---- purge --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class PurgeReport:
    cutoff: str
    expired: int
    held: int
    purged: int
    dry_run: bool
    checkpoint_id: int | None = None
    base_sequence: int | None = None
    purge_record_sequence: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"cutoff": self.cutoff, "expired": self.expired, "held": self.held, "purged": self.purged,
                "dryRun": self.dry_run, "checkpointId": self.checkpoint_id, "baseSequence": self.base_sequence,
                "purgeRecordSequence": self.purge_record_sequence}


def purge(repository: Repository, *, key: bytes | None, retention_days: int, now: datetime, dry_run: bool,
          actor: str = "cli") -> PurgeReport:
    cutoff = now - timedelta(days=retention_days)
    total_expired, purgeable = repository.count_expired(cutoff)
    report = PurgeReport(chain.timestamp(cutoff), total_expired, total_expired - purgeable, 0, dry_run)
    if dry_run:
        return report
    before = checkpoints.create(repository, key, now, note="before purge")  # also takes the chain lock
    report.checkpoint_id = before.id
    report.purged = repository.tombstone_expired(cutoff, now)
    head = repository.lock_head()
    oldest_kept = repository.oldest_record_sequence()
    new_base = (oldest_kept - 1) if oldest_kept is not None else head.sequence
    if new_base > head.base_sequence:
        base_hash = repository.tombstone_hash(new_base)
        repository.drop_tombstones_through(new_base)
        repository.move_base(new_base, base_hash)
        checkpoints.create(repository, key, now, note="purge base", at=(new_base, base_hash))
        report.base_sequence = new_base
    record = _self_record(repository, "retention.purged", "retention", actor=actor, now=now, details={
        "cutoff": report.cutoff, "expired": report.expired, "held": report.held, "purged": report.purged,
        "checkpointId": report.checkpoint_id, "baseSequence": report.base_sequence})
    report.purge_record_sequence = record.sequence
    return report
