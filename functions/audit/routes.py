"""Read-only HTTP routes: the query API, export, verification and checkpoints."""

from __future__ import annotations

from typing import Any

from functions.audit import checkpoints, queries, retention
from shared.contract import Query, Reply, Stream
from shared.errors import EventError


def checkpoint_key(settings: Any) -> bytes | None:
    secret = getattr(settings, "audit_checkpoint_key", None)
    return secret.get_secret_value().encode() if secret is not None else None


def list_events(q: Query) -> Reply:
    return Reply(queries.page(q.session, q.args))


def get_event(q: Query) -> Reply:
    found = queries.find(q.session, q.params["id"])
    if found is None:
        return Reply({"error": "not_found", "message": f"no audit record {q.params['id']}"}, 404)
    return Reply(found)


def export_events(q: Query) -> Stream:
    """JSON lines, streamed in keyset batches; bad parameters are answered 400 before streaming starts."""
    queries.parse_filters(q.args)
    args = dict(q.args)
    return Stream(lambda open_session: (queries.json_line(item) for item in queries.export_batched(open_session, args)))


def verify_chain(q: Query) -> Reply:
    checkpoint_id: int | None = None
    if q.args.get("checkpoint"):
        try:
            checkpoint_id = int(q.args["checkpoint"])
        except ValueError:
            raise EventError.field(400, "invalid_query", "checkpoint", "integer", "checkpoint must be an id") from None
    try:
        result = checkpoints.verify_log(q.session, checkpoint_key(q.settings), checkpoint_id)
    except checkpoints.CheckpointError as error:
        raise EventError.field(400, "invalid_query", "checkpoint", "checkpoint", str(error)) from None
    return Reply(result.to_json())


def list_checkpoints(q: Query) -> Reply:
    return Reply({"items": [checkpoints.checkpoint_json(row) for row in checkpoints.all_checkpoints(q.session)]})


def list_holds(q: Query) -> Reply:
    return Reply({"items": retention.list_holds(q.session, active_only=q.args.get("active") == "true")})
