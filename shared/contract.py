"""The contract between the runtime and a function's business logic.

A handler takes the typed event and returns the events it causes; it never publishes, answers HTTP
or deduplicates: the runtime does that the same way for every function.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

from pydantic import BaseModel
from sqlmodel import Session

from shared import times
from shared.config import RuntimeSettings
from shared.errors import EventError
from shared.events import CATALOG, EventData

if TYPE_CHECKING:
    from shared.publish import Publisher
    from shared.store import Store

E = TypeVar("E", bound=EventData)


@dataclass(frozen=True, slots=True)
class Inbound:
    """The CloudEvent being handled, with its validated data."""

    id: str
    source: str
    type: str
    subject: str | None
    time: str | None
    correlation_id: str
    traceparent: str | None
    extensions: Mapping[str, str]
    data: EventData


@dataclass(frozen=True, slots=True)
class Emit:
    """An output event. Subject and partition key default to the data's key field."""

    data: EventData
    subject: str | None = None
    partition_key: str | None = None


@dataclass(slots=True)
class Context:
    """What a handler may use: the open transaction, the event, settings and the clock."""

    session: Session
    event: Inbound
    function: str
    settings: RuntimeSettings
    now: datetime
    committed: list[Callable[[], None]] = field(default_factory=list)
    # Shared by every event of one transaction (a batch handled as one, see FunctionSpec.batch_transaction).
    closing: list[Callable[[], None]] = field(default_factory=list)
    scratch: dict[str, Any] = field(default_factory=dict)

    def after_commit(self, action: Callable[[], None]) -> None:
        """Run `action` once this event's transaction has committed (e.g. count a metric); never on a
        rollback or a retried attempt."""
        self.committed.append(action)

    def before_commit(self, action: Callable[[], None]) -> None:
        """Run `action` in the transaction once every event of it has been handled, before it commits
        (work done once per transaction rather than once per event)."""
        self.closing.append(action)


Handler = Callable[[Context, Any], Sequence[Emit]]


@dataclass(frozen=True, slots=True)
class Reply:
    """A JSON answer from a query route."""

    body: Any
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Stream:
    """A streamed answer (e.g. JSON lines). `lines` is called while the response is sent, with a
    function that opens a short session: fetch in batches, one session each, so a long export never
    holds a transaction (or SQLite's write lock) open for its whole length.
    """

    lines: Callable[[Callable[[], AbstractContextManager[Session]]], Iterator[str]]
    content_type: str = "application/x-ndjson"


# Times a query or an event may name (shared/times.py holds the one definition).
TIME_MIN, TIME_MAX = times.TIME_MIN, times.TIME_MAX
QUERY_TEXT_MAX_CHARS = 512


def bad_query(name: str, rule: str, message: str) -> EventError:
    return EventError.field(400, "invalid_query", name, rule, message)


@dataclass(frozen=True, slots=True)
class Query:
    """One GET request: path parameters, query string and an open read session.

    The typed readers below are the only way routes read the query string, so every malformed value
    is a 400 naming the parameter and the rule, never a 500.
    """

    session: Session
    params: Mapping[str, str]
    args: Mapping[str, str]
    settings: RuntimeSettings
    # The parsed JSON body of a write route (POST/PATCH/DELETE); None for GET or an empty body.
    body: Any = None

    def text(self, name: str, *, max_chars: int = QUERY_TEXT_MAX_CHARS) -> str | None:
        raw = self.args.get(name)
        if raw in (None, ""):
            return None
        assert raw is not None
        if len(raw) > max_chars or not raw.isprintable():
            raise bad_query(name, "max_length", f"{name} must be at most {max_chars} printable characters")
        return raw

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.args.get(name)
        if raw in (None, ""):
            return default
        assert raw is not None
        # ASCII digits only: str.isdigit() accepts superscripts and other scripts that int() refuses.
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 19 or not low <= int(raw) <= high:
            raise bad_query(name, "range", f"{name} must be an integer from {low} to {high}")
        return int(raw)

    def time(self, name: str) -> datetime | None:
        raw = self.args.get(name)
        if raw in (None, ""):
            return None
        assert raw is not None
        return parse_time(name, raw)


def parse_time(name: str, text: str) -> datetime:
    """An RFC 3339 time with an offset, within [TIME_MIN, TIME_MAX), in UTC; else a 400 naming `name`."""
    try:
        # a '+' in a query string arrives as a space when the client did not encode it
        return times.parse_rfc3339(text.replace(" ", "+"))
    except times.TimeRangeError as error:
        message = {"timezone": f"{name} must carry a timezone offset",
                   "range": f"{name} must be between 1970 and 9000"}.get(error.rule, f"{name} must be an RFC 3339 time")
        raise bad_query(name, error.rule, message) from None


View = Callable[[Query], Reply | Stream]


@dataclass(frozen=True, slots=True)
class Route:
    """An HTTP route, e.g. Route("GET", "/accounts/{account}/balances", view)."""

    method: str
    pattern: str
    view: View
    # For the OpenAPI document (shared/openapi.py); all optional. `params` are the query-string
    # parameters the view reads, `response` the JSON Schema of its 200 body, `errors` statuses it may
    # answer besides 200, 400, 404 and 503.
    summary: str = ""
    params: tuple[Param, ...] = ()
    response: Mapping[str, Any] | None = None
    errors: tuple[int, ...] = ()
    # Who may call it once an auth layer exists: "reader" for reads, "admin" for writes.
    role: str = "reader"
    # Write routes: the model of the body they take (its JSON Schema is made only when /openapi.json is asked
    # for, never at start-up), and the status of their success answer.
    request: type[BaseModel] | None = None
    success: int = 200
    # A streamed answer's media type when it is not the Stream default (e.g. text/plain; charset=utf-8).
    content_type: str | None = None

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if method != self.method:
            return None
        regex = "^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.pattern)) + "/?$"
        found = re.match(regex, path)
        return found.groupdict() if found else None


@dataclass
class FunctionSpec:
    name: str
    outputs: frozenset[str]
    migrations: Path | None = None
    # Tables this function owns besides processed_events; its migrations must create exactly these.
    tables: frozenset[str] = frozenset()
    handlers: dict[str, Handler] = field(default_factory=dict)
    routes: list[Route] = field(default_factory=list)
    # Called with the function's store once it exists, e.g. for metrics read from the database.
    on_store: list[Callable[[Store], None]] = field(default_factory=list)
    # Called with the function's publisher once it exists, e.g. to publish what no single event causes.
    on_publisher: list[Callable[[Publisher], None]] = field(default_factory=list)
    # The data model of each consumed type (catalog types and non-topic ones such as PingSource ticks).
    models: dict[str, type[EventData]] = field(default_factory=dict)
    # A CloudEvents batch is handled in one transaction: all its events are stored, or none is.
    batch_transaction: bool = False

    def on(self, model: type[E], handler: Callable[[Context, E], Sequence[Emit]]) -> None:
        self.handlers[model.type_name] = cast(Handler, handler)
        self.models[model.type_name] = model

    @property
    def consumes(self) -> frozenset[str]:
        return frozenset(self.handlers)

    @property
    def consumed_topics(self) -> frozenset[str]:
        """The consumed types that are Kafka topics (what its KafkaSource reads); not e.g. PingSource ticks."""
        return frozenset(event_type for event_type in self.handlers if event_type in CATALOG)

    def get(self, pattern: str, view: View, *, summary: str = "", params: Sequence[Param] = (),
            response: Mapping[str, Any] | None = None, errors: Sequence[int] = (),
            content_type: str | None = None) -> None:
        self.routes.append(Route("GET", pattern, view, summary, tuple(params), response, tuple(errors),
                                 content_type=content_type))

    def write(self, method: str, pattern: str, view: View, *, summary: str = "", params: Sequence[Param] = (),
              response: Mapping[str, Any] | None = None, errors: Sequence[int] = (),
              request: type[BaseModel] | None = None, success: int = 200) -> None:
        """An admin route taking a JSON body (POST, PUT, PATCH or DELETE)."""
        assert method in WRITE_METHODS, method
        self.routes.append(Route(method, pattern, view, summary, tuple(params), response, tuple(errors),
                                 role="admin", request=request, success=success))


WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def json_object(q: Query, *, required: bool = True) -> dict[str, Any]:
    """The body of a write route as a JSON object; a 400 naming `body` otherwise."""
    if q.body is None and not required:
        return {}
    if not isinstance(q.body, dict):
        raise EventError.field(400, "invalid_body", "body", "json_object", "the body must be a JSON object")
    return q.body


@dataclass(frozen=True, slots=True)
class Param:
    """A query-string parameter a route reads through Query.text/integer/time, as its OpenAPI document shows
    it: Param("limit", "integer", minimum=1, maximum=1000, default=100)."""

    name: str
    kind: Literal["text", "integer", "time"] = "text"
    description: str = ""
    required: bool = False
    minimum: int | None = None
    maximum: int | None = None
    default: int | str | None = None
    max_chars: int = QUERY_TEXT_MAX_CHARS
    choices: tuple[str, ...] = ()
