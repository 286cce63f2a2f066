"""Integrating accepted records into the tree, one integrator at a time, in batches.

A delivery integrates its records in its own transaction when it can take the integrator lock at once
(a CloudEvents batch waits for it: its records share the round). Otherwise it stores them in
`audit_pending` in its transaction and (after that commit) waits here until they are integrated, so
its 2xx means "in the tree and in a signed checkpoint".
Integration takes every pending row under the integrator lock (the tree head row's lock on PostgreSQL, the
write lock on SQLite), gives them the next sequences, appends their leaves and stored hashes, moves
the tree head and signs its checkpoint, all in one transaction. Within a process the waiting threads
queue on a mutex, and whoever holds it integrates everything pending: a round integrates the records
of all deliveries that arrived while the previous round ran (group commit), so the rate grows with
the number of concurrent senders instead of being one transaction per record.

Every round's checkpoint moves the tree head (GET /checkpoint); at most one per HISTORY_SECONDS is kept
in `audit_checkpoints` and published as an audit.checkpoints event, and a timer makes sure the newest
head is kept and published within HISTORY_SECONDS even when no further record arrives. The same timer
integrates records left pending when a delivery could not wait for them (the database went away after
its commit, or the process died): their redelivery is answered as a duplicate, so nobody else would.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from functions.audit import checkpoints, frontier, rounds, tlog
from functions.audit.checkpoints import Checkpoint, Signing
from functions.audit.leaves import Entry, NewRecord, entry
from functions.audit.metrics import INTEGRATION_ROUNDS, RECORDS_INTEGRATED
from functions.audit.repository import Repository
from shared.publish import Publisher
from shared.store import Store

log = logging.getLogger("paymesh.audit.integrator")
ROUND_RECORDS_MAX = 5000
HISTORY_SECONDS = 1.0
FLUSH_ATTEMPTS_MAX = 30  # background retries (one a second) while the database is unreachable


@dataclass(slots=True)
class Round:
    """What one integration transaction did."""

    taken: list[int] = field(default_factory=list)  # pending ids integrated
    appended: int = 0  # records integrated straight from the integrating transaction (never pending)
    checkpoint: Checkpoint | None = None
    kept: bool = False  # stored in the checkpoint history (so: to publish)
    more: bool = False  # pending rows were left for another round


def integrate(repository: Repository, signing: Signing, now: datetime, limit: int = ROUND_RECORDS_MAX, *,
              appended: Sequence[Entry] = (), wait: bool = True) -> Round | None:
    """Integrate up to `limit` pending records, then `appended` (records of the caller's own transaction
    that were never pending), in the caller's transaction (which must commit it). Without `wait`, None
    when another integrator is busy.

    The tree head keeps the frontier, which is all that appending and the new root read, so a round is:
    lock and read the head, take the pending rows, insert hashes and records, move the head (and keep the
    checkpoint once a second)."""
    opened = rounds.open_round(repository, limit, wait=wait)
    if opened is None:
        return None
    head, pending = opened
    size = int(head.size)
    result = Round(taken=[int(row.id) for row in pending], appended=len(appended), more=len(pending) == limit)
    entries = [*map(entry, pending), *appended]
    if not entries and head.checkpoint:
        return result
    known = frontier.unpack(size, bytes(head.frontier))
    first = tlog.stored_hash_count(size)

    def read(indexes: Any) -> list[bytes]:
        missing = [index for index in indexes if index not in known]
        if missing:  # never with a sound frontier; read the store rather than fail
            known.update(zip(missing, repository.read_hashes(missing), strict=True))
        return [known[index] for index in indexes]

    new = tlog.stored_hashes_batch(size, [item.leaf for item in entries], read)
    known.update((first + offset, value) for offset, value in enumerate(new))
    checkpoint = signing.sign(size + len(entries), tlog.tree_hash(size + len(entries), read))
    result.kept = head.kept_at is None or _older(head.kept_at, now, HISTORY_SECONDS)
    rounds.write_round(repository, rounds.Writes(
        first_hash=first, hashes=new, first_sequence=size + 1, entries=entries,
        size=checkpoint.size, root=checkpoint.root, note=checkpoint.note,
        frontier=frontier.pack(checkpoint.size, known), kept_at=now if result.kept else None))
    result.checkpoint = checkpoint
    return result


def _integrate(repository: Repository, signing: Signing, now: datetime) -> Round:
    result = integrate(repository, signing, now)
    assert result is not None  # a waiting round always runs
    return result


def append_now(repository: Repository, signing: Signing, new: NewRecord, now: datetime) -> int:
    """Add `new` and integrate it in the caller's transaction (records the log writes about itself);
    answer its sequence."""
    pending_id = repository.insert_pending(new.values())
    while True:
        result = _integrate(repository, signing, now)
        if pending_id in result.taken:
            break
    found = repository.find(new.record_id)
    return int(found.sequence)


def keep_head(repository: Repository, signing: Signing, now: datetime) -> Checkpoint | None:
    """Store the head's checkpoint in the history if it is newer than the last one kept there."""
    head = repository.lock_head()
    assert head is not None  # a waiting lock always comes back with the head
    latest = repository.latest_checkpoint()
    if not head.checkpoint or (latest is not None and int(latest.size) >= int(head.size)):
        return None
    repository.insert_checkpoint(int(head.size), bytes(head.root), head.checkpoint, now)
    repository.move_head(int(head.size), bytes(head.root), head.checkpoint, bytes(head.frontier), kept_at=now)
    return Checkpoint(signing.origin, int(head.size), bytes(head.root), head.checkpoint)


def _older(created_at: datetime, now: datetime, seconds: float) -> bool:
    if created_at.tzinfo is None:
        created_at = created_at.replace(tzinfo=UTC)
    return now - created_at >= timedelta(seconds=seconds)


class Integrator:
    """Waits for records to be integrated, integrating them itself when no other thread of this process is."""

    def __init__(self, signing: Signing, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.signing = signing
        self.clock = clock
        self.store: Store | None = None
        self.publisher: Publisher | None = None
        self._mutex = threading.Lock()  # one integrating thread per process
        self._state = threading.Lock()  # guards the sets below
        self._waiting: set[int] = set()
        self._done: set[int] = set()
        self._timer: threading.Timer | None = None
        self._failed_flushes = 0

    def attach_store(self, store: Store) -> None:
        self.store = store
        self._flush_later()  # records a crash left pending (their redelivery is a duplicate) are integrated now

    def attach_publisher(self, publisher: Publisher) -> None:
        self.publisher = publisher

    def append(self, repository: Repository, now: datetime, records: Sequence[NewRecord], *,
               block: bool) -> Round | None:
        """Integrate `records` (with whatever is pending) in the caller's (the delivery's) transaction, saving
        it the pending table and a second transaction. Without `block`, None when another integrator is
        busy: then store them as pending and `wait` after the commit (group commit). Call `integrated` with
        the result once the transaction has committed."""
        return integrate(repository, self.signing, now, appended=[entry(record) for record in records], wait=block)

    def integrated(self, result: Round) -> None:
        """A round committed by a delivery's own transaction: wake whoever waits for its records."""
        self._note(result)
        if result.more:
            self._flush_later()

    def _note(self, result: Round) -> None:
        """After a round committed: mark this process's waiters done, count it, publish its checkpoint."""
        with self._state:
            self._done.update(taken for taken in result.taken if taken in self._waiting)
        if result.taken or result.appended:
            INTEGRATION_ROUNDS.inc()
            RECORDS_INTEGRATED.inc(len(result.taken) + result.appended)
        self._after(result)

    def wait(self, pending_ids: list[int]) -> None:
        """Return once the pending records `pending_ids` (committed) are integrated."""
        assert self.store is not None, "attach_store first"
        store = self.store
        if not pending_ids:
            return
        with self._state:
            self._waiting.update(pending_ids)
        try:
            with self._mutex:
                while True:
                    with self._state:
                        if self._done.issuperset(pending_ids):
                            return
                    try:
                        result = store.run(lambda session: _integrate(Repository(session), self.signing,
                                                                      self.clock()))
                    except Exception:
                        # The records are committed as pending; a redelivery would be answered as a duplicate
                        # without waiting, so integrate them in the background once the database is back.
                        self._flush_later()
                        raise
                    self._note(result)
                    # Nothing left behind: whatever this round did not take, another process integrated.
                    if not result.more:
                        return
        finally:
            with self._state:
                self._waiting.difference_update(pending_ids)
                self._done.difference_update(pending_ids)

    def _after(self, result: Round) -> None:
        if result.kept and result.checkpoint is not None:
            self._publish(result.checkpoint)
        elif result.checkpoint is not None:
            self._flush_later()

    def _flush_later(self) -> None:
        with self._state:
            if self._timer is not None:
                return
            self._timer = threading.Timer(HISTORY_SECONDS, self._flush)
            self._timer.daemon = True
            self._timer.start()

    def _flush(self) -> None:
        """Integrate what is pending and keep the newest head in the history (timer thread)."""
        with self._state:
            self._timer = None
        if self.store is None:
            return
        store = self.store
        try:
            with self._mutex:
                result = store.run(lambda session: _integrate(Repository(session), self.signing, self.clock()))
                kept = None if result.kept else store.run(
                    lambda session: keep_head(Repository(session), self.signing, self.clock()))
        except Exception:
            log.warning("could not integrate or keep the newest checkpoint",
                        exc_info=log.getEffectiveLevel() <= logging.DEBUG)
            self._failed_flushes += 1
            if self._failed_flushes < FLUSH_ATTEMPTS_MAX:
                self._flush_later()
            return
        self._failed_flushes = 0
        if result.more:
            self._flush_later()
        if result.kept and result.checkpoint is not None:
            self._publish(result.checkpoint)
        elif kept is not None:
            self._publish(kept)

    def _publish(self, checkpoint: Checkpoint) -> None:
        if self.publisher is None:
            return
        try:
            self.publisher.publish([checkpoints.event(checkpoint, self.clock())])
        except Exception:
            # The checkpoint is stored and served at GET /checkpoint; the next one supersedes it.
            log.warning("could not publish checkpoint %d", checkpoint.size, exc_info=True)
