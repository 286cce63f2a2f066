"""The transparency log's Merkle tree: RFC 6962/9162 hashing, proofs and the stored-hash layout of Go's sumdb/tlog.

Record n's hashes are stored at consecutive indexes: its leaf hash, then one node hash for each complete subtree
that record n closes (Go's StoredHashIndex numbering), so a store only ever appends. Every function here reads
the stored hashes it needs through a HashReader and matches golang.org/x/mod/sumdb/tlog value for value.
"""

import hashlib
from collections.abc import Callable, Sequence

Hash = bytes
HashReader = Callable[[Sequence[int]], list[bytes]]

HASH_SIZE = 32
SIZE_MAX = (1 << 63) - 1  # Go's int64: the largest tree a Go verifier can name


class ProofReadError(RuntimeError):
    """The hash reader answered with the wrong number or shape of hashes: a store fault, not a bad request."""


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def stored_hash_index(level: int, n: int) -> int:
    """The index of the hash of the level-`level` subtree number n (its records are n<<level .. (n+1)<<level - 1)."""
    if level < 0 or n < 0:
        raise ValueError("level and n must not be negative")
    for _ in range(level):
        n = 2 * n + 1
    index = 0
    while n > 0:
        index += n
        n >>= 1
    return index + level


def stored_hash_count(n: int) -> int:
    """How many hashes are stored for a log of n records."""
    _check_size("n", n)
    if n == 0:
        return 0
    count = stored_hash_index(0, n - 1) + 1
    i = n - 1
    while i & 1:
        count += 1
        i >>= 1
    return count


def stored_hashes(n: int, leaf: bytes, read: HashReader) -> list[bytes]:
    """The hashes to append, at stored_hash_count(n) onwards, when adding record n with contents `leaf`."""
    return stored_hashes_batch(n, [leaf], read)


def stored_hashes_batch(n: int, leaves: Sequence[bytes], read: HashReader) -> list[bytes]:
    """The hashes to append when adding records n .. n+len(leaves)-1, reading the earlier hashes in one call."""
    _check_size("n", n)
    _check_size("n + len(leaves)", n + len(leaves))
    first_new = stored_hash_count(n)
    plans = [_sibling_indexes(n + offset) for offset in range(len(leaves))]
    old_indexes = sorted({index for plan in plans for index in plan if index < first_new})
    known = dict(zip(old_indexes, _read(read, old_indexes), strict=True)) if old_indexes else {}
    new: list[bytes] = []
    for leaf, plan in zip(leaves, plans, strict=True):
        h = leaf_hash(leaf)
        known[first_new + len(new)] = h
        new.append(h)
        for index in plan:
            h = node_hash(known[index], h)
            known[first_new + len(new)] = h
            new.append(h)
    return new


def tree_hash(size: int, read: HashReader) -> bytes:
    """The root of the tree of the first `size` records (32 zero bytes for the empty tree, as Go's TreeHash)."""
    _check_size("size", size)
    if size == 0:
        return bytes(HASH_SIZE)
    indexes = _subtree_indexes(0, size)
    root, rest = _subtree_hash(0, size, _read(read, indexes))
    assert not rest
    return root


def prove_record(size: int, index: int, read: HashReader) -> list[bytes]:
    """The RFC 6962 inclusion proof of record `index` in the tree of `size` records."""
    _check_size("size", size)
    if not 0 <= index < size:
        raise ValueError("index must be at least 0 and less than size")
    indexes = _leaf_proof_indexes(0, size, index)
    proof, rest = _leaf_proof(0, size, index, _read(read, indexes))
    assert not rest
    return proof


def prove_tree(size: int, old_size: int, read: HashReader) -> list[bytes]:
    """The RFC 6962 consistency proof that the tree of `old_size` records is a prefix of the tree of `size`."""
    _check_size("size", size)
    if not 1 <= old_size <= size:
        raise ValueError("old_size must be at least 1 and at most size")
    indexes = _tree_proof_indexes(0, size, old_size)
    proof, rest = _tree_proof(0, size, old_size, _read(read, indexes))
    assert not rest
    return proof


def check_record(proof: Sequence[bytes], size: int, root: bytes, index: int, leaf_hash: bytes) -> bool:
    """Whether `proof` shows the record with hash `leaf_hash` at `index` in the tree of `size` records with `root`."""
    _check_size("size", size)
    if not 0 <= index < size:
        raise ValueError("index must be at least 0 and less than size")
    _check_hashes(proof, root, leaf_hash)
    computed = _run_record_proof(list(proof), 0, size, index, leaf_hash)
    return computed == root


def check_tree(proof: Sequence[bytes], size: int, root: bytes, old_size: int, old_root: bytes) -> bool:
    """Whether `proof` shows the tree (old_size, old_root) is a prefix of the tree (size, root)."""
    _check_size("size", size)
    if not 1 <= old_size <= size:
        raise ValueError("old_size must be at least 1 and at most size")
    _check_hashes(proof, root, old_root)
    computed = _run_tree_proof(list(proof), 0, size, old_size, old_root)
    return computed == (old_root, root)


def _check_size(name: str, value: int) -> None:
    if not 0 <= value <= SIZE_MAX:
        raise ValueError(f"{name} must be between 0 and 2^63-1")


def _check_hashes(proof: Sequence[bytes], *hashes: bytes) -> None:
    if any(len(h) != HASH_SIZE for h in hashes):
        raise ValueError("hashes must be 32 bytes")
    if any(len(h) != HASH_SIZE for h in proof):
        raise ValueError("proof hashes must be 32 bytes")


def _read(read: HashReader, indexes: list[int]) -> list[bytes]:
    if not indexes:
        return []
    hashes = read(indexes)
    if len(hashes) != len(indexes) or any(len(h) != HASH_SIZE for h in hashes):
        raise ProofReadError(f"hash reader answered {len(hashes)} hashes for {len(indexes)} indexes")
    return hashes


def _sibling_indexes(n: int) -> list[int]:
    """The stored hashes that record n's new node hashes combine with, innermost first."""
    levels = ((n + 1) & -(n + 1)).bit_length() - 1  # trailing zero bits of n+1
    return [stored_hash_index(level, (n >> level) - 1) for level in range(levels)]


def _maxpow2(n: int) -> tuple[int, int]:
    """The largest power of two below n (1 for n <= 2) and its exponent, as Go's maxpow2."""
    level = max((n - 1).bit_length() - 1, 0)
    return 1 << level, level


def _subtree_indexes(lo: int, hi: int) -> list[int]:
    need = []
    while lo < hi:
        k, level = _maxpow2(hi - lo + 1)
        need.append(stored_hash_index(level, lo >> level))
        lo += k
    return need


def _subtree_hash(lo: int, hi: int, hashes: list[bytes]) -> tuple[bytes, list[bytes]]:
    count = len(_subtree_indexes(lo, hi))
    h = hashes[count - 1]
    for i in range(count - 2, -1, -1):
        h = node_hash(hashes[i], h)
    return h, hashes[count:]


def _leaf_proof_indexes(lo: int, hi: int, n: int) -> list[int]:
    if lo + 1 == hi:
        return []
    k, _ = _maxpow2(hi - lo)
    if n < lo + k:
        return _leaf_proof_indexes(lo, lo + k, n) + _subtree_indexes(lo + k, hi)
    return _subtree_indexes(lo, lo + k) + _leaf_proof_indexes(lo + k, hi, n)


def _leaf_proof(lo: int, hi: int, n: int, hashes: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    if lo + 1 == hi:
        return [], hashes
    k, _ = _maxpow2(hi - lo)
    if n < lo + k:
        proof, hashes = _leaf_proof(lo, lo + k, n, hashes)
        sibling, hashes = _subtree_hash(lo + k, hi, hashes)
    else:
        sibling, hashes = _subtree_hash(lo, lo + k, hashes)
        proof, hashes = _leaf_proof(lo + k, hi, n, hashes)
    return [*proof, sibling], hashes


def _run_record_proof(proof: list[bytes], lo: int, hi: int, n: int, leaf: bytes) -> bytes | None:
    if lo + 1 == hi:
        return leaf if not proof else None
    if not proof:
        return None
    k, _ = _maxpow2(hi - lo)
    if n < lo + k:
        inner = _run_record_proof(proof[:-1], lo, lo + k, n, leaf)
        return None if inner is None else node_hash(inner, proof[-1])
    inner = _run_record_proof(proof[:-1], lo + k, hi, n, leaf)
    return None if inner is None else node_hash(proof[-1], inner)


def _tree_proof_indexes(lo: int, hi: int, n: int) -> list[int]:
    if n == hi:
        return [] if lo == 0 else _subtree_indexes(lo, hi)
    k, _ = _maxpow2(hi - lo)
    if n <= lo + k:
        return _tree_proof_indexes(lo, lo + k, n) + _subtree_indexes(lo + k, hi)
    return _subtree_indexes(lo, lo + k) + _tree_proof_indexes(lo + k, hi, n)


def _tree_proof(lo: int, hi: int, n: int, hashes: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    if n == hi:
        if lo == 0:
            return [], hashes
        subtree, hashes = _subtree_hash(lo, hi, hashes)
        return [subtree], hashes
    k, _ = _maxpow2(hi - lo)
    if n <= lo + k:
        proof, hashes = _tree_proof(lo, lo + k, n, hashes)
        sibling, hashes = _subtree_hash(lo + k, hi, hashes)
    else:
        sibling, hashes = _subtree_hash(lo, lo + k, hashes)
        proof, hashes = _tree_proof(lo + k, hi, n, hashes)
    return [*proof, sibling], hashes


def _run_tree_proof(proof: list[bytes], lo: int, hi: int, n: int, old: bytes) -> tuple[bytes, bytes] | None:
    """The (old root, new root) that `proof` yields for the subtree lo..hi, or None when its length is wrong."""
    if n == hi:
        if lo == 0:
            return (old, old) if not proof else None
        return (proof[0], proof[0]) if len(proof) == 1 else None
    if not proof:
        return None
    k, _ = _maxpow2(hi - lo)
    sibling = proof[-1]
    if n <= lo + k:
        inner = _run_tree_proof(proof[:-1], lo, lo + k, n, old)
        return None if inner is None else (inner[0], node_hash(inner[1], sibling))
    inner = _run_tree_proof(proof[:-1], lo + k, hi, n, old)
    return None if inner is None else (node_hash(sibling, inner[0]), node_hash(sibling, inner[1]))
