"""The transparency log's Merkle tree against RFC 6962's definitions, with property tests of its proofs."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from functions.audit import tlog
from functions.audit.tlog import ProofReadError

SIZE_MAX = 300


class MemoryLog:
    """Stored hashes in a list, with a record of every read."""

    def __init__(self, size: int = 0) -> None:
        self.hashes: list[bytes] = []
        self.reads: list[list[int]] = []
        for n in range(size):
            self.hashes += tlog.stored_hashes(n, record(n), self.read)

    def read(self, indexes: Sequence[int]) -> list[bytes]:
        self.reads.append(list(indexes))
        return [self.hashes[i] for i in indexes]


def record(n: int) -> bytes:
    return f"record {n}".encode()


LOG = MemoryLog(SIZE_MAX)


def split(n: int) -> int:
    """RFC 6962's k: the largest power of two smaller than n."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves: Sequence[bytes]) -> bytes:
    """RFC 6962 section 2.1 Merkle Tree Hash (of a non-empty list)."""
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = split(len(leaves))
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def path(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    """RFC 6962 section 2.1.1 PATH(m, D[n])."""
    if len(leaves) == 1:
        return []
    k = split(len(leaves))
    if m < k:
        return [*path(m, leaves[:k]), mth(leaves[k:])]
    return [*path(m - k, leaves[k:]), mth(leaves[:k])]


def subproof(m: int, leaves: Sequence[bytes], whole: bool) -> list[bytes]:
    """RFC 6962 section 2.1.2 SUBPROOF(m, D[n], b)."""
    n = len(leaves)
    if m == n:
        return [] if whole else [mth(leaves)]
    k = split(n)
    if m <= k:
        return [*subproof(m, leaves[:k], whole), mth(leaves[k:])]
    return [*subproof(m - k, leaves[k:], False), mth(leaves[:k])]


def flip(data: bytes, bit: int) -> bytes:
    changed = bytearray(data)
    changed[bit // 8] ^= 1 << (bit % 8)
    return bytes(changed)


def test_hashes_are_rfc6962_leaf_and_node_hashes() -> None:
    assert tlog.leaf_hash(b"").hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    left, right = tlog.leaf_hash(b"a"), tlog.leaf_hash(b"b")
    assert tlog.node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()


def test_roots_and_proofs_match_the_rfc_definitions() -> None:
    leaves = [record(n) for n in range(SIZE_MAX)]
    for size in [*range(1, 70), 127, 128, 129, 255, 256, 257, SIZE_MAX]:
        assert tlog.tree_hash(size, LOG.read) == mth(leaves[:size])
        for index in {0, size // 3, size - 1}:
            assert tlog.prove_record(size, index, LOG.read) == path(index, leaves[:size])
        for old_size in {1, size // 2 or 1, size - 1 or 1, size}:
            assert tlog.prove_tree(size, old_size, LOG.read) == subproof(old_size, leaves[:size], True)


def test_the_empty_tree_hash_is_zero_as_in_go() -> None:
    assert tlog.tree_hash(0, LOG.read) == bytes(32)


def test_stored_hashes_append_at_the_stored_hash_count() -> None:
    for n in range(SIZE_MAX):
        assert tlog.stored_hash_index(0, n) == tlog.stored_hash_count(n)
    assert len(LOG.hashes) == tlog.stored_hash_count(SIZE_MAX)
    assert [tlog.stored_hash_count(n) for n in range(9)] == [0, 1, 3, 4, 7, 8, 10, 11, 15]
    assert tlog.stored_hash_index(3, 0) == 14  # the root of the first 8 records is the 15th hash stored


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 120), st.lists(st.integers(1, 40), min_size=1, max_size=5))
def test_a_batch_appends_what_single_records_would_reading_once(start: int, batches: list[int]) -> None:
    log = MemoryLog(start)
    n = start
    for count in batches:
        log.reads.clear()
        new = tlog.stored_hashes_batch(n, [record(i) for i in range(n, n + count)], log.read)
        assert len(log.reads) <= 1
        assert all(i < tlog.stored_hash_count(n) for read in log.reads for i in read)
        log.hashes += new
        n += count
    assert log.hashes == MemoryLog(n).hashes


def test_every_inclusion_proof_up_to_64_verifies_and_every_flipped_bit_of_small_ones_fails() -> None:
    for size in range(1, 65):
        root = tlog.tree_hash(size, LOG.read)
        for index in range(size):
            leaf = tlog.leaf_hash(record(index))
            proof = tlog.prove_record(size, index, LOG.read)
            assert tlog.check_record(proof, size, root, index, leaf)
            if size > 9:
                continue
            for at in range(len(proof)):
                for bit in range(256):
                    tampered = [*proof[:at], flip(proof[at], bit), *proof[at + 1 :]]
                    assert not tlog.check_record(tampered, size, root, index, leaf)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_every_inclusion_proof_verifies_and_any_flipped_bit_fails(data: st.DataObject) -> None:
    size = data.draw(st.integers(1, SIZE_MAX), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    root = tlog.tree_hash(size, LOG.read)
    leaf = tlog.leaf_hash(record(index))
    proof = tlog.prove_record(size, index, LOG.read)
    assert tlog.check_record(proof, size, root, index, leaf)

    bit = data.draw(st.integers(0, 255), label="bit")
    assert not tlog.check_record(proof, size, flip(root, bit), index, leaf)
    assert not tlog.check_record(proof, size, root, index, flip(leaf, bit))
    assert not tlog.check_record([*proof, root], size, root, index, leaf)
    if proof:
        at = data.draw(st.integers(0, len(proof) - 1), label="at")
        assert not tlog.check_record([*proof[:at], flip(proof[at], bit), *proof[at + 1 :]], size, root, index, leaf)
        assert not tlog.check_record(proof[:-1], size, root, index, leaf)
    if size > 1:
        other = data.draw(st.integers(0, size - 1).filter(lambda i: i != index), label="other index")
        assert not tlog.check_record(proof, size, root, other, leaf)


def test_consistency_proofs_for_every_pair_of_sizes_up_to_64_verify_and_tampered_ones_fail() -> None:
    roots = [tlog.tree_hash(size, LOG.read) for size in range(65)]
    for size in range(1, 65):
        for old_size in range(1, size + 1):
            root, old_root = roots[size], roots[old_size]
            proof = tlog.prove_tree(size, old_size, LOG.read)
            assert tlog.check_tree(proof, size, root, old_size, old_root)
            bit = (size * 31 + old_size) % 256
            for at in range(len(proof)):
                tampered = [*proof[:at], flip(proof[at], bit), *proof[at + 1 :]]
                assert not tlog.check_tree(tampered, size, root, old_size, old_root), (size, old_size, at)
            assert not tlog.check_tree(proof, size, flip(root, bit), old_size, old_root)
            assert not tlog.check_tree(proof, size, root, old_size, flip(old_root, bit))
            assert not tlog.check_tree([*proof, root], size, root, old_size, old_root)
            assert not tlog.check_tree([root, *proof], size, root, old_size, old_root)
            if proof:
                assert not tlog.check_tree(proof[:-1], size, root, old_size, old_root)
            if old_size < size:
                assert not tlog.check_tree(proof, size, root, old_size + 1, roots[old_size + 1])


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_random_consistency_proofs_fail_on_any_flipped_bit(data: st.DataObject) -> None:
    size = data.draw(st.integers(2, SIZE_MAX), label="size")
    old_size = data.draw(st.integers(1, size - 1), label="old size")
    root, old_root = tlog.tree_hash(size, LOG.read), tlog.tree_hash(old_size, LOG.read)
    proof = tlog.prove_tree(size, old_size, LOG.read)
    assert tlog.check_tree(proof, size, root, old_size, old_root)
    at = data.draw(st.integers(0, len(proof) - 1), label="at")
    bit = data.draw(st.integers(0, 255), label="bit")
    assert not tlog.check_tree([*proof[:at], flip(proof[at], bit), *proof[at + 1 :]], size, root, old_size, old_root)


@pytest.mark.parametrize(
    "call",
    [
        lambda: tlog.prove_record(5, 5, LOG.read),
        lambda: tlog.prove_record(5, -1, LOG.read),
        lambda: tlog.prove_record(0, 0, LOG.read),
        lambda: tlog.prove_tree(5, 0, LOG.read),
        lambda: tlog.prove_tree(5, 6, LOG.read),
        lambda: tlog.tree_hash(-1, LOG.read),
        lambda: tlog.tree_hash(1 << 63, LOG.read),
        lambda: tlog.stored_hash_count(-1),
        lambda: tlog.stored_hash_index(-1, 0),
        lambda: tlog.stored_hashes(-1, b"", LOG.read),
        lambda: tlog.check_record([], 1, bytes(32), 1, bytes(32)),
        lambda: tlog.check_record([], 1, bytes(31), 0, bytes(32)),
        lambda: tlog.check_record([bytes(33)], 2, bytes(32), 0, bytes(32)),
        lambda: tlog.check_tree([], 1, bytes(32), 0, bytes(32)),
        lambda: tlog.check_tree([], 1, bytes(32), 2, bytes(32)),
        lambda: tlog.check_tree([], 1, bytes(32), 1, b""),
    ],
)
def test_invalid_arguments_raise_value_error(call: Callable[[], object]) -> None:
    with pytest.raises(ValueError):
        call()


def test_a_reader_answering_short_is_a_store_fault_not_a_bad_request() -> None:
    def short(indexes: Sequence[int]) -> list[bytes]:
        return LOG.read(indexes)[:-1]

    for call in (lambda: tlog.tree_hash(3, short), lambda: tlog.prove_record(8, 1, short),
                 lambda: tlog.stored_hashes(7, b"x", short)):
        with pytest.raises(ProofReadError) as raised:
            call()
        assert not isinstance(raised.value, ValueError)
