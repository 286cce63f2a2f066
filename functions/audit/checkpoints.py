"""Signed checkpoints of the audit log: C2SP tlog-checkpoint notes signed with the log's Ed25519 key.

The signer key (PAYMESH_AUDIT_SIGNING_KEY, note's PRIVATE+KEY+<name>+... form) names the log: its name
is the checkpoint origin. Without a key the log still keeps checkpoints, unsigned, under UNSIGNED_ORIGIN,
and verification can then only compare roots, not prove who made them.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from functions.audit import note
from functions.audit.leaves import timestamp
from shared.envelope import Envelope
from shared.events import AuditCheckpointEvent

UNSIGNED_ORIGIN = "paymesh-audit"
SOURCE = "/paymesh/audit"
CHECKPOINT_ID_NAMESPACE = uuid.UUID("3a4f1f0e-8d51-4c57-9a3b-0c5e2f7d9b61")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    note: str  # the signed note (or, unsigned, the bare checkpoint text)


class Signing:
    """The log's key: signs new checkpoints and opens held ones."""

    def __init__(self, signer_key: str | None) -> None:
        self.signer = note.Signer(signer_key) if signer_key else None
        self.verifier = note.Verifier(note.verifier_of(signer_key)) if signer_key else None
        self.origin = self.signer.name if self.signer else UNSIGNED_ORIGIN

    def sign(self, size: int, root: bytes) -> Checkpoint:
        text = note.format_checkpoint(self.origin, size, root)
        signed = note.sign_note(text, self.signer).decode() if self.signer else text
        return Checkpoint(self.origin, size, root, signed)

    def open(self, message: str) -> Checkpoint:
        """The checkpoint a note holds, its signature checked when the log has a key; ValueError if bad."""
        if self.verifier is not None:
            text = note.open_note(message.encode(), [self.verifier])
        else:
            text = message.split("\n\n", 1)[0] + "\n" if "\n\n" in message else message
        origin, size, root = note.parse_checkpoint(text)
        if origin != self.origin:
            raise ValueError(f"checkpoint of {origin!r}, not of this log ({self.origin!r})")
        return Checkpoint(origin, size, root, message)


def open_with(verifier_key: str, message: bytes) -> Checkpoint:
    """A checkpoint held by an outside party, opened with the log's verifier key; ValueError if bad."""
    verifier = note.Verifier(verifier_key)
    origin, size, root = note.parse_checkpoint(note.open_note(message, [verifier]))
    if origin != verifier.name:
        raise ValueError("the checkpoint's origin is not the key's name")
    return Checkpoint(origin, size, root, message.decode())


def checkpoint_json(row: Any) -> dict[str, Any]:
    return {"size": int(row.size), "root": base64.b64encode(bytes(row.root)).decode(), "note": row.note,
            "createdAt": timestamp(row.created_at)}


def event(checkpoint: Checkpoint, now: datetime) -> Envelope:
    """The audit.checkpoints CloudEvent announcing `checkpoint`."""
    data = AuditCheckpointEvent(origin=checkpoint.origin, tree_size=checkpoint.size,
                                root_hash=base64.b64encode(checkpoint.root).decode(), checkpoint=checkpoint.note,
                                signed_at=now)
    event_id = uuid.uuid5(CHECKPOINT_ID_NAMESPACE, f"{checkpoint.origin}\x1f{checkpoint.size}")
    attributes = {
        "specversion": "1.0", "id": str(event_id),
        "source": SOURCE, "type": AuditCheckpointEvent.type_name, "subject": checkpoint.origin,
        "time": timestamp(now), "datacontenttype": "application/json", "partitionkey": checkpoint.origin,
    }
    return Envelope(attributes, data.wire())
