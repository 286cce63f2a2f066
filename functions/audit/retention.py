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

from sqlalchemy import and_, delete, func, insert, literal, not_, select, update
from sqlmodel import Session

from functions.audit import chain, checkpoints
from functions.audit.models import CHAIN_HEAD_ID, AuditChainHead, AuditLegalHold, AuditRecord, AuditTombstone

HoldKind = Literal["subject", "correlation"]
_RECORDS = AuditRecord.__table__  # type: ignore[attr-defined]
_TOMBSTONES = AuditTombstone.__table__  # type: ignore[attr-defined]
_HOLDS = AuditLegalHold.__table__  # type: ignore[attr-defined]
_HEAD = AuditChainHead.__table__  # type: ignore[attr-defined]
SOURCE = "/paymesh/audit"


def _db_time(session: Session, value: datetime) -> datetime:
    from functions.audit.queries import _db_time as convert

    return convert(session, value)


def _self_record(session: Session, action: str, subject: str, *, actor: str, now: datetime,
                 details: dict[str, Any]) -> AuditRecord:
    """An audit record about the audit log itself (purges, holds)."""
    payload = {"service": "audit", "action": action, "outcome": "info", "actor": actor, "subject": subject,
               "occurredAt": chain.timestamp(now), "details": details}
    event_id = str(uuid.uuid4())
    return chain.append(session, chain.NewRecord(
        event_source=SOURCE, event_id=event_id, event_type="audit.internal", service="audit", action=action,
        outcome="info", actor=actor, subject=subject, correlation_id=event_id, customer_id=None,
        occurred_at=now, recorded_at=now, data=chain.canonical_json(payload)))


# ---- legal holds ------------------------------------------------------------------------------------


def place_hold(session: Session, kind: HoldKind, value: str, *, reason: str, actor: str,
               now: datetime) -> AuditLegalHold:
    hold = AuditLegalHold(kind=kind, value=value, reason=reason, created_at=now)
    session.add(hold)
    session.flush()
    _self_record(session, "legal-hold.placed", f"hold-{hold.id}", actor=actor, now=now,
                 details={"kind": kind, "value": value, "reason": reason})
    return hold


def release_hold(session: Session, hold_id: int, actor: str, now: datetime) -> bool:
    released = session.connection().execute(update(_HOLDS).where(_HOLDS.c.id == hold_id, _HOLDS.c.released_at.is_(None))
                                            .values(released_at=now)).rowcount
    if released:
        _self_record(session, "legal-hold.released", f"hold-{hold_id}", actor=actor, now=now, details={})
    return bool(released)


def hold_json(row: Any) -> dict[str, Any]:
    return {"id": row.id, "kind": row.kind, "value": row.value, "reason": row.reason,
            "createdAt": chain.timestamp(row.created_at),
            "releasedAt": chain.timestamp(row.released_at) if row.released_at else None}


def list_holds(session: Session, active_only: bool = False) -> list[dict[str, Any]]:
    statement = select(_HOLDS).order_by(_HOLDS.c.id)
    if active_only:
        statement = statement.where(_HOLDS.c.released_at.is_(None))
    return [hold_json(row) for row in session.connection().execute(statement)]


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


def _purgeable(session: Session, cutoff: datetime) -> Any:
    active = _HOLDS.c.released_at.is_(None)
    held_subjects = select(_HOLDS.c.value).where(active, _HOLDS.c.kind == "subject")
    held_correlations = select(_HOLDS.c.value).where(active, _HOLDS.c.kind == "correlation")
    expired = _RECORDS.c.recorded_at < _db_time(session, cutoff)
    unheld = and_(not_(_RECORDS.c.subject.in_(held_subjects)),
                  not_(_RECORDS.c.correlation_id.in_(held_correlations)))
    return expired, unheld


def purge(session: Session, *, key: bytes | None, retention_days: int, now: datetime, dry_run: bool,
          actor: str = "cli") -> PurgeReport:
    cutoff = now - timedelta(days=retention_days)
    expired, unheld = _purgeable(session, cutoff)
    count = session.connection().execute
    total_expired = int(count(select(func.count()).select_from(_RECORDS).where(expired)).scalar_one())
    purgeable = int(count(select(func.count()).select_from(_RECORDS).where(expired, unheld)).scalar_one())
    report = PurgeReport(chain.timestamp(cutoff), total_expired, total_expired - purgeable, 0, dry_run)
    if dry_run:
        return report
    before = checkpoints.create(session, key, now, note="before purge")  # also takes the chain lock
    report.checkpoint_id = before.id
    connection = session.connection()
    connection.execute(insert(_TOMBSTONES).from_select(
        ["sequence", "prev_hash", "hash", "purged_at"],
        select(_RECORDS.c.sequence, _RECORDS.c.prev_hash, _RECORDS.c.hash, literal(
            _db_time(session, now), _TOMBSTONES.c.purged_at.type)).where(expired, unheld)))
    report.purged = connection.execute(delete(_RECORDS).where(
        _RECORDS.c.sequence.in_(select(_TOMBSTONES.c.sequence)))).rowcount
    head = chain.lock_head(session)
    oldest_kept = connection.execute(select(func.min(_RECORDS.c.sequence))).scalar()
    new_base = (int(oldest_kept) - 1) if oldest_kept is not None else head.sequence
    if new_base > head.base_sequence:
        base_hash = connection.execute(select(_TOMBSTONES.c.hash).where(
            _TOMBSTONES.c.sequence == new_base)).scalar_one()
        connection.execute(delete(_TOMBSTONES).where(_TOMBSTONES.c.sequence <= new_base))
        connection.execute(update(_HEAD).where(_HEAD.c.id == CHAIN_HEAD_ID)
                           .values(base_sequence=new_base, base_hash=base_hash))
        checkpoints.create(session, key, now, note="purge base", at=(new_base, base_hash))
        report.base_sequence = new_base
    record = _self_record(session, "retention.purged", "retention", actor=actor, now=now, details={
        "cutoff": report.cutoff, "expired": report.expired, "held": report.held, "purged": report.purged,
        "checkpointId": report.checkpoint_id, "baseSequence": report.base_sequence})
    report.purge_record_sequence = record.sequence
    return report
