"""Signed checkpoints (HMAC-SHA256 over the canonical JSON of sequence, hash and time) and verifying
the chain against them.

An outside party that keeps a checkpoint can later check that the log still contains exactly that
head: verify fails if the chain disagrees with any checkpoint, or if a checkpoint's signature is bad.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Any

from functions.audit import chain
from functions.audit.repository import Repository


class CheckpointError(Exception):
    """A checkpoint cannot be made or used (no key configured, unknown id, purged)."""


def _message(sequence: int, head_hash: str, created_at: datetime) -> bytes:
    return chain.canonical_json({"sequence": sequence, "hash": head_hash,
                                 "createdAt": chain.timestamp(created_at)}).encode()


def sign(key: bytes, sequence: int, head_hash: str, created_at: datetime) -> str:
    return hmac.new(key, _message(sequence, head_hash, created_at), hashlib.sha256).hexdigest()


def signature_valid(key: bytes, checkpoint: Any) -> bool:
    expected = sign(key, int(checkpoint.sequence), checkpoint.hash, checkpoint.created_at)
    return hmac.compare_digest(expected, checkpoint.signature)


def create(repository: Repository, key: bytes | None, now: datetime, note: str = "manual",
           at: tuple[int, str] | None = None) -> Any:
    """Sign the current head (or `at`), locking the head so no append slips in between."""
    if not key:
        raise CheckpointError("set PAYMESH_AUDIT_CHECKPOINT_KEY to sign checkpoints")
    head = repository.lock_head()
    sequence, head_hash = at or (head.sequence, head.hash)
    return repository.insert_checkpoint({"sequence": sequence, "hash": head_hash, "created_at": now,
                                         "note": note[:200], "signature": sign(key, sequence, head_hash, now)})


def checkpoint_json(row: Any) -> dict[str, Any]:
    return {"id": row.id, "sequence": int(row.sequence), "hash": row.hash,
            "createdAt": chain.timestamp(row.created_at), "note": row.note, "signature": row.signature,
            "algorithm": "HMAC-SHA256"}


def verify_log(repository: Repository, key: bytes | None, checkpoint_id: int | None = None) -> chain.Verification:
    """Verify the chain from a checkpoint, or from its stored start, against every checkpoint held."""
    head = repository.read_head()
    checkpoints = repository.checkpoints()
    if key:
        for checkpoint in checkpoints:
            if not signature_valid(key, checkpoint):
                return chain.Verification(False, 0, head.sequence, head.hash, int(checkpoint.sequence),
                                          f"checkpoint {checkpoint.id} has an invalid signature")
    start: Any = None
    if checkpoint_id is not None:
        start = next((item for item in checkpoints if item.id == checkpoint_id), None)
        if start is None:
            raise CheckpointError(f"no checkpoint {checkpoint_id}")
        if start.sequence < head.base_sequence:
            raise CheckpointError(f"checkpoint {checkpoint_id} precedes the purged part of the chain")
    elif head.base_sequence > 0 and not any(
            item.sequence == head.base_sequence and item.hash == head.base_hash for item in checkpoints):
        return chain.Verification(False, 0, head.sequence, head.hash, head.base_sequence + 1,
                                  "the chain's purged start is not covered by a checkpoint")
    begin = int(start.sequence) if start is not None else head.base_sequence
    trusted = {int(item.sequence): item.hash for item in checkpoints if item.sequence > begin}
    return chain.verify(repository, start=start, trusted=trusted)
