"""Recomputing the log from its leaves and holding it to the signed checkpoints.

One pass in sequence order: each record's leaf is rebuilt from its columns and must equal the stored
leaf hash (a purged record keeps only that stored hash); the stored hashes that record closes must
equal the ones recomputed from the leaves; where a stored checkpoint names this size, its signature
must verify and its root must equal the root recomputed so far. At the end the tree head must hold the
recomputed size and root under a valid signature. A tree rewritten together with its head (leaves,
hashes and root) is caught by the first checkpoint the log signed before the rewrite; that checkpoint
can say which records it covers, not which one changed, so firstBadSequence is then the first record
after the last checkpoint that still matches.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from functions.audit import tlog
from functions.audit.checkpoints import Signing
from functions.audit.leaves import leaf_bytes
from functions.audit.repository import RECORD_KIND, Repository


@dataclass(slots=True)
class Verification:
    ok: bool
    count: int
    head_size: int
    head_root: bytes
    first_bad_sequence: int | None = None
    problem: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": self.ok, "count": self.count,
                                "head": {"sequence": self.head_size, "hash": self.head_root.hex()}}
        if self.first_bad_sequence is not None:
            body["firstBadSequence"] = self.first_bad_sequence
            body["problem"] = self.problem
        return body


class _Tree:
    """The complete subtrees of the records folded so far: (height, hash), largest first."""

    def __init__(self) -> None:
        self.stack: list[tuple[int, bytes]] = []
        self.size = 0

    def append(self, leaf_hash: bytes) -> list[bytes]:
        """Add a leaf; answer the hashes it stores (its leaf hash, then each subtree it closes)."""
        stored = [leaf_hash]
        height, value = 0, leaf_hash
        while self.stack and self.stack[-1][0] == height:
            _, left = self.stack.pop()
            value = tlog.node_hash(left, value)
            height += 1
            stored.append(value)
        self.stack.append((height, value))
        self.size += 1
        return stored

    def root(self) -> bytes:
        if not self.stack:
            return bytes(32)
        value = self.stack[-1][1]
        for _, left in reversed(self.stack[:-1]):
            value = tlog.node_hash(left, value)
        return value


def verify(repository: Repository, signing: Signing, batch: int = 5000) -> Verification:
    head = repository.read_head()
    result = Verification(ok=True, count=0, head_size=int(head.size), head_root=bytes(head.root))
    held = {int(row.size): row for row in repository.checkpoints()}
    last_good = 0

    def bad(sequence: int, problem: str) -> Verification:
        result.ok, result.first_bad_sequence, result.problem = False, sequence, problem
        return result

    def checkpoint_problem(note: str, size: int, root: bytes) -> str | None:
        try:
            opened = signing.open(note)
        except ValueError as error:
            return f"checkpoint at size {size} does not verify: {error}"
        if opened.size != size or opened.root != root:
            return f"checkpoint at size {size} differs from its note"
        return None

    stored: Iterator[tuple[int, bytes]] = repository.hashes_from(0, batch)
    tree = _Tree()
    expected = 1
    for sequence, kind, row in repository.log_rows(batch):
        if sequence != expected:
            return bad(expected, "missing" if sequence > expected else "duplicate")
        if sequence > result.head_size:
            return bad(sequence, "beyond the tree head")
        index, leaf_stored = next(stored, (-1, b""))
        if index != tlog.stored_hash_count(sequence - 1):
            return bad(sequence, "stored hashes are missing")
        leaf = tlog.leaf_hash(leaf_bytes(row)) if kind == RECORD_KIND else leaf_stored
        if leaf != leaf_stored:
            return bad(sequence, "content does not match its leaf")
        for value in tree.append(leaf)[1:]:
            if next(stored, (-1, b""))[1] != value:
                return bad(sequence, "stored tree hashes do not match the leaves")
        if sequence in held:
            row_held = held[sequence]
            problem = checkpoint_problem(row_held.note, sequence, bytes(row_held.root))
            if problem is not None:
                return bad(sequence, problem)
            if bytes(row_held.root) != tree.root():
                return bad(last_good + 1, "differs from a signed checkpoint")
            last_good = sequence
        expected += 1
        result.count += 1
    if tree.size < result.head_size:
        return bad(tree.size + 1, "missing")
    beyond = [size for size in held if size > tree.size]
    if beyond and checkpoint_problem(held[min(beyond)].note, min(beyond), bytes(held[min(beyond)].root)) is None:
        return bad(tree.size + 1, f"a signed checkpoint holds {min(beyond)} records; the log has {tree.size}")
    if tree.root() != result.head_root:
        return bad(last_good + 1, "the tree head's root does not match the leaves")
    if bytes(head.frontier) != b"".join(value for _, value in tree.stack):
        return bad(last_good + 1, "the tree head's frontier does not match the leaves")
    if result.head_size and not head.checkpoint:
        return bad(result.head_size, "the tree head has no checkpoint")
    if head.checkpoint:
        problem = checkpoint_problem(head.checkpoint, result.head_size, result.head_root)
        if problem is not None:
            return bad(last_good + 1, problem)
    return result
