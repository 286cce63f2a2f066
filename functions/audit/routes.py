"""Read-only HTTP routes: the query API, export, verification and checkpoints.

Query strings are read only through Query.text/integer/time, so a bad value is a 400 naming it.
"""

from __future__ import annotations

from functions.audit import checkpoints, records, retention
from functions.audit.records import DEFAULT_LIMIT, FILTERS, MAX_LIMIT, Filters
from functions.audit.repository import Repository, export_batched
from functions.audit.settings import AuditSettings
from shared.contract import Query, Reply, Stream, bad_query

ID_MAX = 2**63 - 1


def filters(q: Query) -> Filters:
    equals = {column: value for name, column in FILTERS.items() if (value := q.text(name)) is not None}
    return Filters(equals, q.time("from"), q.time("to"))


class AuditRoutes:
    """The routes, bound to the function's settings at wiring time."""

    def __init__(self, settings: AuditSettings) -> None:
        self.settings = settings

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
        found = Repository(q.session).find(q.params["id"])
        if found is None:
            return Reply({"error": "not_found", "message": f"no audit record {q.params['id']}"}, 404)
        return Reply(records.record_json(found))

    def export_events(self, q: Query) -> Stream:
        """JSON lines, streamed in keyset batches; bad parameters are answered 400 before streaming starts."""
        chosen = filters(q)
        return Stream(lambda open_session: (records.json_line(records.record_json(row))
                                            for row in export_batched(open_session, chosen)))

    def verify_chain(self, q: Query) -> Reply:
        checkpoint_id = q.integer("checkpoint", 0, 1, ID_MAX) or None
        try:
            result = checkpoints.verify_log(Repository(q.session), self.settings.checkpoint_key(), checkpoint_id)
        except checkpoints.CheckpointError as error:
            raise bad_query("checkpoint", "checkpoint", str(error)) from None
        return Reply(result.to_json())

    def list_checkpoints(self, q: Query) -> Reply:
        rows = Repository(q.session).checkpoints()
        return Reply({"items": [checkpoints.checkpoint_json(row) for row in rows]})

    def list_holds(self, q: Query) -> Reply:
        active_only = q.text("active") == "true"
        return Reply({"items": retention.list_holds(Repository(q.session), active_only=active_only)})
