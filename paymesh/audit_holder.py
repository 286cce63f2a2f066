"""`paymesh audit verify --checkpoint FILE`: what the holder of an earlier checkpoint checks.

The held checkpoint's signature (with the log's verifier key), that the log's current signed checkpoint
extends it (a consistency proof from the held size to the current size), and optionally that every record
the log still holds is in the current tree at its index (an inclusion proof of its leaf). The log is read
either over HTTP (--url, the audit function's routes) or straight from its store.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from functions.audit import checkpoints, tlog
from functions.audit.records import Filters, record_json
from functions.audit.repository import Repository, export_batched
from shared.store import Store


class LogReader(Protocol):
    def checkpoint(self) -> bytes: ...

    def consistency(self, old_size: int, size: int) -> list[bytes]: ...

    def inclusion(self, index: int, size: int) -> list[bytes]: ...

    def leaves(self) -> Iterator[tuple[int, bytes]]: ...


class HttpLog:
    def __init__(self, url: str, client: httpx.Client | None = None) -> None:
        self.client = client or httpx.Client(base_url=url.rstrip("/"), timeout=30)

    def _json(self, path: str, **params: Any) -> Any:
        response = self.client.get(path, params=params)
        response.raise_for_status()
        return response.json()

    def checkpoint(self) -> bytes:
        response = self.client.get("/checkpoint")
        response.raise_for_status()
        return response.content

    def consistency(self, old_size: int, size: int) -> list[bytes]:
        body = self._json("/proof/consistency", **{"from": old_size, "size": size})
        return [base64.b64decode(item) for item in body["hashes"]]

    def inclusion(self, index: int, size: int) -> list[bytes]:
        body = self._json("/proof/inclusion", index=index, size=size)
        return [base64.b64decode(item) for item in body["hashes"]]

    def leaves(self) -> Iterator[tuple[int, bytes]]:
        cursor: str | None = None
        while True:
            body = self._json("/events", limit=1000, **({"cursor": cursor} if cursor else {}))
            for item in body["items"]:
                yield int(item["leafIndex"]), base64.b64decode(item["leaf"])
            cursor = body.get("nextCursor")
            if not cursor:
                return


class StoreLog:
    def __init__(self, store: Store) -> None:
        self.store = store

    def checkpoint(self) -> bytes:
        with self.store.session() as session:
            return str(Repository(session).read_head().checkpoint).encode()

    def consistency(self, old_size: int, size: int) -> list[bytes]:
        with self.store.session() as session:
            return tlog.prove_tree(size, old_size, Repository(session).read_hashes)

    def inclusion(self, index: int, size: int) -> list[bytes]:
        with self.store.session() as session:
            return tlog.prove_record(size, index, Repository(session).read_hashes)

    def leaves(self) -> Iterator[tuple[int, bytes]]:
        for row in export_batched(self.store.session, Filters({})):
            item = record_json(row)
            yield int(item["leafIndex"]), base64.b64decode(item["leaf"])


@dataclass(slots=True)
class HolderCheck:
    ok: bool = False
    held_size: int = 0
    current_size: int = 0
    records_checked: int = 0
    problems: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "heldSize": self.held_size, "currentSize": self.current_size,
                "recordsChecked": self.records_checked, "problems": self.problems}


def check(log: LogReader, verifier_key: str, held_note: bytes, *, records: bool) -> HolderCheck:
    result = HolderCheck()
    try:
        held = checkpoints.open_with(verifier_key, held_note)
    except ValueError as error:
        result.problems.append(f"the held checkpoint does not verify: {error}")
        return result
    result.held_size = held.size
    try:
        current = checkpoints.open_with(verifier_key, log.checkpoint())
    except ValueError as error:
        result.problems.append(f"the log's current checkpoint does not verify: {error}")
        return result
    result.current_size = current.size
    if current.origin != held.origin:
        result.problems.append("the log's checkpoint is of another log")
    elif current.size < held.size:
        result.problems.append(f"the log shrank from {held.size} to {current.size} records")
    elif held.size == current.size and held.root != current.root:
        result.problems.append("the log's root at the held size differs from the held checkpoint")
    elif 0 < held.size < current.size:
        try:
            proof = log.consistency(held.size, current.size)
            consistent = tlog.check_tree(proof, current.size, current.root, held.size, held.root)
        except (ValueError, RuntimeError, httpx.HTTPError) as error:
            consistent = False
            result.problems.append(f"no consistency proof: {error}")
        if not consistent:
            result.problems.append(f"the log of {current.size} records does not extend the held checkpoint")
    if records and not result.problems:
        for index, leaf in log.leaves():
            if index >= current.size:
                continue  # integrated after the checkpoint was read
            result.records_checked += 1
            try:
                proof = log.inclusion(index, current.size)
                included = tlog.check_record(proof, current.size, current.root, index, tlog.leaf_hash(leaf))
            except (ValueError, RuntimeError, httpx.HTTPError):
                included = False
            if not included:
                result.problems.append(f"record at leaf index {index} is not in the tree as its checkpoint says")
                break
    result.ok = not result.problems
    return result
