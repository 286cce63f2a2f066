"""The tree's frontier: the roots of the complete subtrees that make up a tree of `size` records (largest
first), kept with the tree head. Appending records only ever reads these, and the root is their fold, so an
integration needs no read of the stored hashes at all."""

from __future__ import annotations

from collections.abc import Mapping

from functions.audit import tlog

HASH_BYTES = 32


def indexes(size: int) -> list[int]:
    """Stored-hash indexes of the frontier of a tree of `size` records, largest subtree first."""
    found = []
    start = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            found.append(tlog.stored_hash_index(level, start >> level))
            start += 1 << level
    return found


def pack(size: int, known: Mapping[int, bytes]) -> bytes:
    return b"".join(known[index] for index in indexes(size))


def unpack(size: int, packed: bytes) -> dict[int, bytes]:
    wanted = indexes(size)
    if len(packed) != HASH_BYTES * len(wanted):
        raise ValueError("the tree head's frontier does not fit its size")
    return {index: packed[HASH_BYTES * position:HASH_BYTES * (position + 1)] for position, index in enumerate(wanted)}
