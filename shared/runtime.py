"""The functions-framework `http` target every paymesh function is: parse, validate, deduplicate,
handle, publish, answer. Status codes follow the Kafka dispatcher's delivery contract
(docs/architecture.md, "The delivery contract").
"""

from __future__ import annotations

import atexit
import json
import logging
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import flask
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from shared import idempotency, tracing
from shared.auth import AUTH_REJECTED, Authenticator, Role, challenge, required_role
from shared.auth import from_settings as authenticator_from_settings
from shared.config import RuntimeSettings, load_settings
from shared.contract import WRITE_METHODS, Context, Emit, FunctionSpec, Inbound, Query, Stream
from shared.envelope import Envelope, dumps
from shared.errors import EventError, FieldProblem, TransientError
from shared.events import CATALOG, EventData
from shared.ingress import Incoming, parse, unwrap_kafka_record
from shared.observability import (
    DEAD_LETTERED,
    EVENTS_HANDLED,
    HANDLER_SECONDS,
    KAFKA_MESSAGES,
    child_traceparent,
    configure_logging,
    dead_lettered_status,
    log_fast,
)
from shared.publish import Publisher, build_publisher
from shared.store import Store

log = logging.getLogger("paymesh.runtime")

# Namespace of the deterministic output ids: uuid5(namespace, input source + id + output type + index).
OUTPUT_ID_NAMESPACE = uuid.UUID("6f1c1f5e-5a4b-4f0e-9a53-2a1d0c7b9e10")
MAX_CORRELATION_ID = 128
PROBES = frozenset({"/health", "/live", "/ready", "/metrics"})  # open to all, with or without authentication

S = TypeVar("S", bound=RuntimeSettings)


def output_id(source: str, event_id: str, output_type: str, index: int) -> str:
    return str(uuid.uuid5(OUTPUT_ID_NAMESPACE, f"{source}\x1f{event_id}\x1f{output_type}\x1f{index}"))


def _json(body: Any, status: int, headers: Mapping[str, str] | None = None) -> flask.Response:
    return flask.Response(dumps(body), status=status, headers=dict(headers or {}),
                          content_type="application/json")


def _error(error: EventError) -> flask.Response:
    return _json(error.to_json(), error.status)


def _correlation_id(attributes: Mapping[str, str], data: Any) -> str:
    candidate = attributes.get("correlationid")
    if not candidate and isinstance(data, dict):
        metadata = data.get("metadata")
        candidate = data.get("correlationId") or (metadata.get("correlationId") if isinstance(metadata, dict)
                                                   else None)
    if isinstance(candidate, str) and 0 < len(candidate) <= MAX_CORRELATION_ID and candidate.isprintable():
        return candidate
    return attributes["id"]


def _in_batch(error: EventError, index: int) -> EventError:
    """`error` of the batch's event `index`, its fields named as the batch's ("[3].data.amount")."""
    problems = [FieldProblem(f"[{index}].{problem.field}", problem.rule, problem.message)
                for problem in error.problems]
    return EventError(error.status, error.code, f"event [{index}]: {error.message}", problems)


def _too_large(limit: int) -> EventError:
    return EventError.field(413, "payload_too_large", "body", "max_bytes", f"the body must be at most {limit} bytes")


def _validation_problems(error: ValidationError, prefix: str) -> list[FieldProblem]:
    problems = []
    for item in error.errors():
        path = ".".join(str(part) for part in item["loc"])
        problems.append(FieldProblem(f"{prefix}data{'.' + path if path else ''}", item["type"], item["msg"]))
    return problems


@dataclass(frozen=True, slots=True)
class Handled:
    """What handling one event came to: its primary output (None when it emits nothing), or the 4xx/503
    response that refuses it."""

    output: Envelope | None = None
    refusal: flask.Response | None = None
    outcome: str = "handled"


class FunctionApp:
    """One function: callable as a functions-framework `http` target (flask.Request -> Response)."""

    def __init__(self, spec: FunctionSpec, settings: RuntimeSettings, store: Store,
                 publisher: Publisher, auth: Authenticator | None = None) -> None:
        self.spec = spec
        self.auth = auth
        self.settings = settings
        self.store = store
        self.publisher = publisher
        self.source = f"/paymesh/{spec.name}"
        self._consumes = spec.consumes
        self._tracing = tracing.enabled()
        self._openapi: bytes | None = None
        self._messages: dict[tuple[str, str], Any] = {}  # kafka_messages_total children: labels() costs ~4 us
        db_system = "postgresql" if store.is_postgres else "sqlite" if store.is_sqlite else "other"
        self._store_span = {"db.system": db_system}
        self._metric_children: dict[tuple[str, str], tuple[Any, Any]] = {}
        for attach in spec.on_store:
            attach(store)
        for attach_publisher in spec.on_publisher:
            attach_publisher(publisher)

    # ---- HTTP -----------------------------------------------------------------------------------

    def __call__(self, request: flask.Request) -> flask.Response:
        path = request.path.rstrip("/") or "/"
        method = request.method
        if self.auth is not None and not (method == "GET" and path in PROBES):
            refusal = self._authenticate(self.auth, request, path, method)
            if refusal is not None:
                return refusal
        if path == "/":
            if method == "POST":
                return self.receive(request)
            if method == "GET":
                return _json({"function": self.spec.name, "consumes": sorted(self._consumes),
                              "produces": sorted(self.spec.outputs)}, 200)
            return _json({"error": "method_not_allowed", "message": "POST CloudEvents to /"}, 405,
                         {"Allow": "GET, POST"})
        if method == "GET":
            if path == "/openapi.json":
                return self._openapi_document()
            probe = self._probe(path, request.headers.get("Accept", ""))
            if probe is not None:
                return probe
            for route in self.spec.routes:
                params = route.match(method, path)
                if params is not None:
                    if self._tracing:
                        with tracing.server_span(f"GET {route.pattern}", request.headers.get("traceparent"),
                                                 {"http.request.method": "GET", "http.route": route.pattern}):
                            return self._query(route.view, params, request)
                    return self._query(route.view, params, request)
        elif method in WRITE_METHODS:
            for route in self.spec.routes:
                params = route.match(method, path)
                if params is not None:
                    return self._write(route.view, params, request)
        return _json({"error": "not_found", "message": f"no route {method} {path}"}, 404)

    def _write(self, view: Callable[[Query], Any], params: dict[str, str],
               request: flask.Request) -> flask.Response:
        """An admin route: its JSON body read within body_bytes_max, then the view in one transaction."""
        try:
            raw = self._read_body(request)
            body = json_body(raw)
        except EventError as error:
            return _error(error)
        return self._query(view, params, request, body)

    def _probe(self, path: str, accept: str = "") -> flask.Response | None:
        if path in {"/health", "/live"}:
            return _json({"status": "ok", "function": self.spec.name}, 200)
        if path == "/ready":
            checks = {"store": self.store.ping(), "publisher": self.publisher.ready()}
            ready = all(checks.values())
            return _json({"ready": ready, "checks": checks, "publisher": self.publisher.name,
                          "auth": "on" if self.auth is not None else "off (PAYMESH_AUTH_ISSUER is not set)"},
                         200 if ready else 503)
        if path == "/metrics":
            from prometheus_client import REGISTRY
            from prometheus_client.exposition import choose_encoder

            # OpenMetrics when the scraper asks for it: the format that carries exemplars (trace ids)
            encoder, content_type = choose_encoder(accept)
            return flask.Response(encoder(REGISTRY), 200, content_type=content_type)
        return None

    def _required_role(self, path: str, method: str) -> tuple[Role, str]:
        if path == "/" and method == "POST":
            return "sender", "send events"
        if path == "/":
            return required_role(method), f"{method} /"
        for route in self.spec.routes:
            if route.match(method, path) is not None:
                return required_role(method, getattr(route, "role", None)), f"{method} {route.pattern}"
        return required_role(method), f"{method} {path}"

    def _authenticate(self, auth: Authenticator, request: flask.Request, path: str,
                      method: str) -> flask.Response | None:
        """None when the bearer token's subject may make this request; else the 401/403 (503: no keys yet)."""
        role, what = self._required_role(path, method)
        try:
            auth.authorize(auth.subject(request.headers.get("Authorization")), role, what)
        except EventError as error:
            rule = error.problems[0].rule if error.problems else error.code
            AUTH_REJECTED.labels(self.spec.name, str(error.status), rule).inc()
            log.info("request refused", extra={"function": self.spec.name, "status": error.status,
                                               "rule": rule, "method": method, "path": path})
            headers = {"WWW-Authenticate": challenge(self.spec.name, error)} if error.status == 401 else None
            return _json(error.to_json(), error.status, headers)
        except TransientError as error:
            return _json({"error": "unavailable", "message": str(error)}, 503, {"Retry-After": "1"})
        return None

    def _query(self, view: Callable[[Query], Any], params: dict[str, str],
               request: flask.Request, body: Any = None) -> flask.Response:
        try:
            with self.store.session() as session:
                reply = view(Query(session, params, request.args.to_dict(), self.settings, body))
        except EventError as error:
            return _error(error)
        except TransientError as error:
            return _json({"error": "unavailable", "message": str(error)}, 503)
        except Exception as error:
            from shared.store import is_unavailable

            if is_unavailable(error):
                return _json({"error": "unavailable", "message": "database unavailable"}, 503)
            raise
        if isinstance(reply, Stream):
            return flask.Response(reply.lines(self.store.session), 200, content_type=reply.content_type)
        return _json(reply.body, reply.status, reply.headers)

    def _read_body(self, request: flask.Request) -> bytes:
        limit = self.settings.body_bytes_max
        if request.content_length is not None and request.content_length > limit:
            raise _too_large(limit)
        body = request.stream.read(limit + 1)
        if len(body) > limit:
            raise _too_large(limit)
        return body

    def receive(self, request: flask.Request) -> flask.Response:
        started = time.perf_counter()
        try:
            body = self._read_body(request)
            incoming = parse(dict(request.headers.items()), body, self.settings.batch_events_max)
            events = [self._validate(item, request.headers.get("traceparent")) for item in incoming]
        except EventError as error:
            self._log_rejected(error, started)
            self._count_dead_letter("unparsed", error.status)
            return _error(error)
        batch = len(incoming) > 1 or incoming[0].field_prefix != ""
        ran: list[tuple[list[dict[str, Any]], bool]] | None = None
        if len(events) > 1 and self.spec.batch_transaction:
            try:
                ran = self._run_many(events)
            except (EventError, TransientError) as error:
                return self._refuse_batch(events, error, started)
        replies: list[Envelope | None] = []
        for index, event in enumerate(events):
            result = self.handle(event, started, None if ran is None else ran[index])
            if result.refusal is not None:
                self._count_dead_letter(event.type, result.refusal.status_code)
                return result.refusal
            replies.append(result.output)
        if batch:
            body_out = [reply.to_structured() for reply in replies if reply is not None]
            return flask.Response(dumps(body_out), 200, content_type="application/cloudevents-batch+json")
        primary = replies[0]
        if primary is None:
            return flask.Response(status=204)
        headers, payload = primary.http_binary()
        return flask.Response(payload, 200, headers=headers, content_type="application/json")

    # ---- events ---------------------------------------------------------------------------------

    def _validate(self, item: Incoming, http_traceparent: str | None) -> Inbound:
        attributes = dict(item.attributes)
        unwrap_kafka_record(attributes, self._consumes)
        event_type = attributes["type"]
        prefix = item.field_prefix
        if event_type not in self._consumes:
            raise EventError.field(400, "unsupported_type", f"{prefix}type", "consumed_types",
                                   f"{self.spec.name} does not consume {event_type!r}; it consumes "
                                   f"{', '.join(sorted(self._consumes))}")
        if item.data is None:
            raise EventError.field(422, "invalid_data", f"{prefix}data", "required", "event data is required")
        model = self.spec.models.get(event_type) or CATALOG[event_type]
        try:
            data = model.model_validate(item.data)
        except ValidationError as error:
            problems = _validation_problems(error, prefix)
            raise EventError(422, "invalid_data", f"{event_type} data is invalid: {problems[0].message}",
                             problems) from None
        extensions = {key: value for key, value in attributes.items()
                      if key not in {"specversion", "id", "source", "type", "subject", "time",
                                     "datacontenttype", "dataschema"}}
        return Inbound(
            id=attributes["id"], source=attributes["source"], type=event_type,
            subject=attributes.get("subject"), time=attributes.get("time"),
            correlation_id=_correlation_id(attributes, item.data),
            traceparent=attributes.get("traceparent") or http_traceparent,
            extensions=extensions, data=data,
        )

    def _refuse_batch(self, events: list[Inbound], error: EventError | TransientError,
                      started: float) -> flask.Response:
        """A batch handled in one transaction that failed as a whole: nothing of it is stored."""
        outcome = "rejected" if isinstance(error, EventError) else "transient"
        duration = time.perf_counter() - started
        for event in events:
            self._count(event.type, outcome, duration)
        log.warning("batch refused", extra={"function": self.spec.name, "outcome": outcome, "events": len(events),
                                            "error": str(error)})
        if isinstance(error, TransientError):
            return _json({"error": "unavailable", "message": str(error)}, 503)
        self._count_dead_letter(events[0].type, error.status)
        return _error(error)

    def handle(self, event: Inbound, started: float,
               ran: tuple[list[dict[str, Any]], bool] | None = None) -> Handled:
        """Handle one validated event: its primary output (or none), or the response refusing it. `ran`: its
        outputs when its transaction already ran (a batch handled as one)."""
        if not self._tracing:
            return self._handle(event, started, None, ran)
        attributes = {"messaging.system": "kafka", "messaging.destination.name": event.type,
                      "cloudevents.event_id": event.id, "cloudevents.event_source": event.source,
                      "cloudevents.event_type": event.type, "paymesh.correlation_id": event.correlation_id}
        with tracing.server_span(f"{event.type} process", event.traceparent, attributes) as current:
            result = self._handle(event, started, tracing.current_traceparent(), ran)
            current.set_attribute("paymesh.outcome", result.outcome)
            if result.refusal is not None:
                current.set_attribute("http.response.status_code", result.refusal.status_code)
                tracing.mark_error(current, result.outcome)
            return result

    def _handle(self, event: Inbound, started: float, traceparent: str | None,
                ran: tuple[list[dict[str, Any]], bool] | None = None) -> Handled:
        outcome = "handled"
        try:
            structured, duplicate = self._run_once(event, traceparent) if ran is None else ran
            if duplicate:
                outcome = "duplicate"
            outputs = [Envelope.from_structured(item) for item in structured]
            self._count_message(event.type, "in")
            if outputs:
                with tracing.span("publish", kind="producer") as span:
                    if span is not None:
                        span.set_attribute("messaging.batch.message_count", len(outputs))
                    self.publisher.publish(outputs)
                for output in outputs:
                    self._count_message(output.topic, "out")
            return Handled(output=outputs[0] if outputs else None, outcome=outcome)
        except EventError as error:
            outcome = "rejected"
            return Handled(refusal=_error(error), outcome=outcome)
        except TransientError as error:
            outcome = "transient"
            log.warning("transient failure, asking for redelivery", extra=self._log_fields(event, error=str(error)))
            return Handled(refusal=_json({"error": "unavailable", "message": str(error)}, 503), outcome=outcome)
        except Exception:
            # A bug, not bad input: let functions-framework answer 500 so the event is retried and,
            # failing that, dead-lettered with the error attached.
            outcome = "error"
            log.exception("handler failed", extra=self._log_fields(event))
            raise
        finally:
            duration = time.perf_counter() - started
            if self._tracing and (traceparent := tracing.current_traceparent()) and traceparent.endswith("-01"):
                EVENTS_HANDLED.labels(self.spec.name, event.type, outcome).inc()
                HANDLER_SECONDS.labels(self.spec.name, event.type).observe(
                    duration, exemplar={"trace_id": traceparent[3:35]})
            else:
                self._count(event.type, outcome, duration)
            if log.isEnabledFor(logging.INFO):
                log_fast(log, logging.INFO, "event handled",
                         self._log_fields(event, outcome=outcome, duration_ms=round(duration * 1000, 2)))

    def _run_once(self, event: Inbound, traceparent: str | None = None) -> tuple[list[dict[str, Any]], bool]:
        return self._run_many([event], traceparent)[0]

    def _run_many(self, events: list[Inbound], traceparent: str | None = None
                  ) -> list[tuple[list[dict[str, Any]], bool]]:
        """Handle `events` in one transaction: each one's structured outputs, and whether it was a duplicate
        (handled before, or earlier in `events`)."""
        committed: list[Callable[[], None]] = []

        def work(session: Session) -> list[tuple[list[dict[str, Any]], bool]]:
            committed.clear()  # a retried attempt starts again
            closing: list[Callable[[], None]] = []
            scratch: dict[str, Any] = {}
            keys = [(event.source, event.id) for event in events]
            stored = idempotency.find_many(session, keys)
            now = datetime.now(UTC)
            results: list[tuple[list[dict[str, Any]], bool]] = []
            fresh: list[tuple[str, str, str, list[dict[str, Any]]]] = []
            for key, event in zip(keys, events, strict=True):
                if key in stored:
                    results.append((stored[key], True))
                    continue
                context = Context(session, event, self.spec.name, self.settings, now, committed, closing, scratch)
                try:
                    emits = self.spec.handlers[event.type](context, event.data)
                except EventError as error:
                    if len(events) == 1:
                        raise
                    raise _in_batch(error, len(results)) from None
                structured = [self._envelope(event, emit, index, now, traceparent).to_structured()
                              for index, emit in enumerate(emits)]
                stored[key] = structured
                results.append((structured, False))
                fresh.append((event.source, event.id, event.type, structured))
            idempotency.remember_many(session, fresh)
            for action in closing:  # last: what they lock (e.g. audit's integrator) is held only until the commit
                action()
            return results

        try:
            with tracing.span("store.transaction", self._store_span):
                result = self.store.run(work)
        except IntegrityError:
            # A concurrent delivery of the same event committed first: answer with its outcome.
            with tracing.span("store.transaction", self._store_span):
                result = self.store.run(work)
        for action in committed:
            action()
        return result

    def _envelope(self, event: Inbound, emit: Emit, index: int, now: datetime,
                  traceparent: str | None = None) -> Envelope:
        data: EventData = emit.data
        output_type = data.type_name
        event_id = output_id(event.source, event.id, output_type, index)
        key = emit.partition_key or data.key
        attributes = {
            "specversion": "1.0",
            "id": event_id,
            "source": self.source,
            "type": output_type,
            "subject": emit.subject or data.key,
            "time": now.isoformat().replace("+00:00", "Z"),
            "datacontenttype": "application/json",
            "partitionkey": key,
            "correlationid": event.correlation_id,
            "causationid": event.id,
            # tracing on: the delivery's server span; off: a span id derived from the output's id
            "traceparent": traceparent or child_traceparent(event.traceparent, event_id),
        }
        return Envelope(attributes, data.wire())

    def _count(self, event_type: str, outcome: str, duration: float) -> None:
        # The labelled metric children are looked up once per (type, outcome), not per event.
        key = (event_type, outcome)
        children = self._metric_children.get(key)
        if children is None:
            children = (EVENTS_HANDLED.labels(self.spec.name, event_type, outcome),
                        HANDLER_SECONDS.labels(self.spec.name, event_type))
            self._metric_children[key] = children
        children[0].inc()
        children[1].observe(duration)

    # ---- logging --------------------------------------------------------------------------------

    def _log_fields(self, event: Inbound, **extra: Any) -> dict[str, Any]:
        fields = {"function": self.spec.name, "event_id": event.id, "event_source": event.source,
                  "event_type": event.type, "correlation_id": event.correlation_id, **extra}
        if event.traceparent and len(event.traceparent) == 55:
            fields["trace_id"] = event.traceparent[3:35]
        return fields

    def _log_rejected(self, error: EventError, started: float) -> None:
        EVENTS_HANDLED.labels(self.spec.name, "unparsed", "rejected").inc()
        log.info("event rejected", extra={"function": self.spec.name, "outcome": "rejected",
                                          "status": error.status, "error": error.code,
                                          "field": error.problems[0].field if error.problems else None,
                                          "duration_ms": round((time.perf_counter() - started) * 1000, 2)})

    # ---- observability hooks ----------------------------------------------------------------------

    def _count_message(self, topic: str, direction: str) -> None:
        counter = self._messages.get((topic, direction))
        if counter is None:
            counter = self._messages[(topic, direction)] = KAFKA_MESSAGES.labels(self.spec.name, topic, direction)
        counter.inc()

    def _count_dead_letter(self, event_type: str, status: int) -> None:
        """A refusal the Kafka dispatcher does not retry: the event goes to the dead-letter sink."""
        if dead_lettered_status(status):
            DEAD_LETTERED.labels(self.spec.name, event_type, str(status)).inc()

    def _openapi_document(self) -> flask.Response:
        if self._openapi is None:
            from shared.openapi import document

            self._openapi = dumps(document(self.spec))
        return flask.Response(self._openapi, 200, content_type="application/json")


def serve(make_spec: Callable[[S], FunctionSpec], settings_cls: type[S]) -> FunctionApp:
    """Build a function from the environment: settings, store (migrated), publisher."""
    settings = load_settings(settings_cls)
    configure_logging(settings.log_level)
    spec = make_spec(settings)
    try:
        tracing.configure(spec.name)
    except tracing.TracingConfigError as error:
        print(f"paymesh: configuration error: {error}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    store = Store.from_settings(settings, spec.name, spec.migrations)
    try:
        publisher = build_publisher(settings, spec.outputs)
    except ValueError as error:
        print(f"paymesh: configuration error: {error}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    if settings.auto_migrate:
        store.migrate()
    # gunicorn lets in-flight requests finish on SIGTERM; then flush what the producer still holds.
    atexit.register(publisher.close)
    return FunctionApp(spec, settings, store, publisher, authenticator_from_settings(settings, spec.name))


def json_body(raw: bytes) -> Any:
    """An admin route's body: None when empty, else JSON (a 400 naming `body` when it is not)."""
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise EventError.field(400, "invalid_body", "body", "json", "the body must be JSON") from None
