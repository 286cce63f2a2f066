"""Read-only HTTP routes: the query API, export, checkpoints, proofs and verification.

Query strings are read only through Query.text/integer/time, so a bad value is a 400 naming it.
"""

from __future__ import annotations

import base64

from functions.audit import checkpoints, records, retention, tlog, verification
from functions.audit.checkpoints import Signing
from functions.audit.records import DEFAULT_LIMIT, FILTERS, MAX_LIMIT, Filters
from functions.audit.repository import Repository, export_batched
from shared.contract import Query, Reply, Stream, bad_query

SIZE_MAX = tlog.SIZE_MAX
CHECKPOINTS_LIMIT_MAX = 1000


def filters(q: Query) -> Filters:
    equals = {column: value for name, column in FILTERS.items() if (value := q.text(name)) is not None}
    return Filters(equals, q.time("from"), q.time("to"))


def required_integer(q: Query, name: str, low: int) -> int:
    if q.text(name) is None:
        raise bad_query(name, "required", f"{name} is required")
    return q.integer(name, low, low, SIZE_MAX)


def _hashes(proof: list[bytes]) -> list[str]:
    return [base64.b64encode(value).decode() for value in proof]


class AuditRoutes:
    """The routes, bound to the log's key at wiring time."""

    def __init__(self, signing: Signing) -> None:
        self.signing = signing

    def list_events(self, q: Query) -> Reply:
        """`{"items": [...], "nextCursor": str | None}`, ordered by (occurred_at, sequence)."""
        chosen = filters(q)
        limit = q.integer("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        cursor = q.text("cursor")
        after = records.decode_cursor(cursor) if cursor is not None else None
        rows = Repository(q.session).page(chosen, after, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return Reply({"items": [records.record_json(row) for row in rows],
                      "nextCursor": records.encode_cursor(rows[-1]) if more else None})

    def get_event(self, q: Query) -> Reply:
        repository = Repository(q.session)
        found = repository.find(q.params["id"])
        if found is not None:
            return Reply(records.record_json(found))
        purged = repository.find_purged(q.params["id"])
        if purged is not None:
            return Reply(records.purged_json(purged))
        return Reply({"error": "not_found", "message": f"no audit record {q.params['id']}"}, 404)

    def export_events(self, q: Query) -> Stream:
        """JSON lines, streamed in keyset batches; bad parameters are answered 400 before streaming starts."""
        chosen = filters(q)
        return Stream(lambda open_session: (records.json_line(records.record_json(row))
                                            for row in export_batched(open_session, chosen)))

    def checkpoint(self, q: Query) -> Stream:
        """The newest signed checkpoint, as the note's text."""
        head = Repository(q.session).read_head()
        # before the first integration: the empty tree's checkpoint
        note = head.checkpoint or self.signing.sign(0, bytes(32)).note
        return Stream(lambda _open_session: iter([note]), content_type="text/plain; charset=utf-8")

    def _size(self, q: Query, repository: Repository) -> int:
        size = required_integer(q, "size", 1)
        if size > int(repository.read_head().size):
            raise bad_query("size", "range", "size must not exceed the size of the newest checkpoint")
        return size

    def inclusion_proof(self, q: Query) -> Reply:
        repository = Repository(q.session)
        index = required_integer(q, "index", 0)
        size = self._size(q, repository)
        if index >= size:
            raise bad_query("index", "range", "index must be less than size")
        proof = tlog.prove_record(size, index, repository.read_hashes)
        return Reply({"index": index, "size": size, "hashes": _hashes(proof)})

    def consistency_proof(self, q: Query) -> Reply:
        repository = Repository(q.session)
        old_size = required_integer(q, "from", 1)
        size = self._size(q, repository)
        if old_size > size:
            raise bad_query("from", "range", "from must not exceed size")
        proof = tlog.prove_tree(size, old_size, repository.read_hashes)
        return Reply({"from": old_size, "size": size, "hashes": _hashes(proof)})

    def verify_log(self, q: Query) -> Reply:
        return Reply(verification.verify(Repository(q.session), self.signing).to_json())

    def list_checkpoints(self, q: Query) -> Reply:
        limit = q.integer("limit", 100, 1, CHECKPOINTS_LIMIT_MAX)
        rows = Repository(q.session).checkpoints(limit)
        return Reply({"items": [checkpoints.checkpoint_json(row) for row in rows]})

    def list_holds(self, q: Query) -> Reply:
        active_only = q.text("active") == "true"
        return Reply({"items": retention.list_holds(Repository(q.session), active_only=active_only)})
