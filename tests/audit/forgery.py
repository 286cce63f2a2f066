"""What a forger with write access to the audit store (and, at worst, the signing key) can do: rewrite
records, then rebuild the whole tree and its head so the store is consistent with itself again."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select, update

from functions.audit import frontier, tlog
from functions.audit.checkpoints import Signing
from functions.audit.leaves import leaf_bytes
from functions.audit.models import TREE_HEAD_ID
from functions.audit.repository import HASHES, HEAD, RECORDS
from tests.audit.helpers import SIGNER_KEY, Audit


def forge_copy_of_row_2_as_row_3(audit: Audit) -> None:
    """Insert a copy of row 2 as sequence 3 (a forger who knows the table's shape)."""
    audit.execute(
        "INSERT INTO audit_records (sequence, record_id, event_source, event_id, event_type, service, action,"
        " outcome, actor, subject, correlation_id, customer_id, occurred_at, recorded_at, data)"
        " SELECT 3, 'aud_forged', event_source, 'forged', event_type, service, action, outcome, actor, subject,"
        " correlation_id, customer_id, occurred_at, recorded_at, data FROM audit_records WHERE sequence = 2")


def rebuild_tree(audit: Audit, *, resign: bool) -> None:
    """Recompute every stored hash and the head's root from the records as they now are; with `resign`
    also sign the new head with the log's own key (a forger who stole it), else keep the old note."""
    with audit.store.session() as session:
        rows = session.execute(select(RECORDS).order_by(RECORDS.c.sequence)).all()
        stored: dict[int, bytes] = {}

        def read(indexes: Any) -> list[bytes]:
            return [stored[index] for index in indexes]

        hashes = tlog.stored_hashes_batch(0, [leaf_bytes(row) for row in rows], read)
        stored.update(enumerate(hashes))
        root = tlog.tree_hash(len(rows), read)
        session.execute(delete(HASHES))
        session.execute(insert(HASHES), [{"hash_index": index, "hash": value} for index, value in stored.items()])
        values: dict[str, Any] = {"size": len(rows), "root": root, "frontier": frontier.pack(len(rows), stored)}
        if resign:
            values["checkpoint"] = Signing(SIGNER_KEY).sign(len(rows), root).note
        session.execute(update(HEAD).where(HEAD.c.id == TREE_HEAD_ID).values(**values))


def renumber(audit: Audit) -> None:
    """Close the gaps in the sequence numbers (after a deletion), keeping the order."""
    with audit.store.session() as session:
        sequences = [row[0] for row in session.execute(select(RECORDS.c.sequence).order_by(RECORDS.c.sequence))]
        for new, old in enumerate(sequences, start=1):
            if new != old:
                session.execute(update(RECORDS).where(RECORDS.c.sequence == old).values(sequence=new))
