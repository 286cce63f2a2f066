"""Retention: legal holds and the purge of expired, un-held records.

A purge removes the content of every expired record whose subject and correlation id no active hold
covers; the record keeps its place (an audit_purged row) and its leaf hash stays in the tree, so the
tree, its checkpoints and every proof made earlier still verify. A purged record reads as purged.
The purge then adds a `retention.purged` record to the log (integrated in the same transaction).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from functions.audit.canonical import canonical_json
from functions.audit.checkpoints import Signing
from functions.audit.integrator import append_now
from functions.audit.leaves import NewRecord, timestamp
from functions.audit.repository import Repository

HoldKind = Literal["subject", "correlation"]
SOURCE = "/paymesh/audit"


def _self_record(repository: Repository, signing: Signing, action: str, subject: str, *, actor: str,
                 now: datetime, details: dict[str, Any]) -> int:
    """Add (and integrate) a record about the audit log itself (purges, holds); answer its sequence."""
    payload = {"service": "audit", "action": action, "outcome": "info", "actor": actor, "subject": subject,
               "occurredAt": timestamp(now), "details": details}
    event_id = str(uuid.uuid4())
    return append_now(repository, signing, NewRecord(
        event_source=SOURCE, event_id=event_id, event_type="audit.internal", service="audit", action=action,
        outcome="info", actor=actor, subject=subject, correlation_id=event_id, customer_id=None,
        occurred_at=now, recorded_at=now, data=canonical_json(payload)), now)


# ---- legal holds ------------------------------------------------------------------------------------


def place_hold(repository: Repository, signing: Signing, kind: HoldKind, value: str, *, reason: str, actor: str,
               now: datetime) -> Any:
    hold = repository.insert_hold(kind, value, reason, now)
    _self_record(repository, signing, "legal-hold.placed", f"hold-{hold.id}", actor=actor, now=now,
                 details={"kind": kind, "value": value, "reason": reason})
    return hold


def release_hold(repository: Repository, signing: Signing, hold_id: int, actor: str, now: datetime) -> bool:
    released = repository.release_hold(hold_id, now)
    if released:
        _self_record(repository, signing, "legal-hold.released", f"hold-{hold_id}", actor=actor, now=now, details={})
    return released


def hold_json(row: Any) -> dict[str, Any]:
    return {"id": row.id, "kind": row.kind, "value": row.value, "reason": row.reason,
            "createdAt": timestamp(row.created_at),
            "releasedAt": timestamp(row.released_at) if row.released_at else None}


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
    purge_record_sequence: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"cutoff": self.cutoff, "expired": self.expired, "held": self.held, "purged": self.purged,
                "dryRun": self.dry_run, "purgeRecordSequence": self.purge_record_sequence}


def purge(repository: Repository, signing: Signing, *, retention_days: int, now: datetime, dry_run: bool,
          actor: str = "cli") -> PurgeReport:
    cutoff = now - timedelta(days=retention_days)
    total_expired, purgeable = repository.count_expired(cutoff)
    report = PurgeReport(timestamp(cutoff), total_expired, total_expired - purgeable, 0, dry_run)
    if dry_run:
        return report
    report.purged = repository.purge_expired(cutoff, now)
    report.purge_record_sequence = _self_record(
        repository, signing, "retention.purged", "retention", actor=actor, now=now, details={
            "cutoff": report.cutoff, "expired": report.expired, "held": report.held, "purged": report.purged})
    return report
