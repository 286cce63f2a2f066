"""OpenTelemetry spans, only when the standard OTEL_* variables ask for them.

Nothing of OpenTelemetry is imported until configure() finds an exporter configured, so a function
without those variables starts and handles events exactly as before: span() then hands back one shared
no-op context manager. With them, each delivery gets a server span continuing the caller's traceparent;
functions wrap their own outbound calls (gateway, provider, webhook) in span(name).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any, Literal, TypeVar

T = TypeVar("T")
Kind = Literal["internal", "server", "client", "producer", "consumer"]
Attributes = Mapping[str, str | int | float | bool]

_NOOP: AbstractContextManager[None] = contextlib.nullcontext()


class _State:
    """The configured tracer and its provider; None while tracing is off."""

    tracer: Any = None
    provider: Any = None


_state = _State()

SUPPORTED_PROTOCOLS = ("http/protobuf", "grpc")


class TracingConfigError(ValueError):
    """An OTEL_* variable asks for something this runtime cannot do."""


def requested(environ: Mapping[str, str] | None = None) -> bool:
    """True when the environment asks for spans: an OTLP endpoint, or OTEL_TRACES_EXPORTER naming one."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = {name.strip() for name in env.get("OTEL_TRACES_EXPORTER", "").lower().split(",") if name.strip()}
    if "none" in exporters:
        return False
    if exporters & {"otlp", "console"}:
        return True
    return bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def enabled() -> bool:
    return _state.tracer is not None


def _exporters(env: Mapping[str, str]) -> list[Any]:
    names = {name.strip() for name in env.get("OTEL_TRACES_EXPORTER", "otlp").lower().split(",") if name.strip()}
    unknown = names - {"otlp", "console"}
    if unknown:
        raise TracingConfigError(f"OTEL_TRACES_EXPORTER: {', '.join(sorted(unknown))} is not supported "
                                 "(otlp, console or none)")
    exporters: list[Any] = []
    if "console" in names:
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        exporters.append(ConsoleSpanExporter())
    if "otlp" in names:
        protocol = (env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
                    or "http/protobuf").strip().lower()
        if protocol not in SUPPORTED_PROTOCOLS:
            raise TracingConfigError(f"OTEL_EXPORTER_OTLP_PROTOCOL: {protocol!r} is not supported "
                                     f"({' or '.join(SUPPORTED_PROTOCOLS)})")
        if protocol == "grpc":
            try:
                from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
            except ImportError:
                raise TracingConfigError("OTEL_EXPORTER_OTLP_PROTOCOL=grpc needs the "
                                         "opentelemetry-exporter-otlp-proto-grpc package; "
                                         "http/protobuf works without it") from None
            exporters.append(GrpcExporter())
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporters.append(OTLPSpanExporter())
    return exporters


def configure(service_name: str, environ: Mapping[str, str] | None = None) -> bool:
    """Start exporting spans if the environment asks for it; True when tracing is on.

    OTEL_SERVICE_NAME overrides `service_name`; the SDK reads the sampler (OTEL_TRACES_SAMPLER, _ARG),
    OTEL_RESOURCE_ATTRIBUTES, the exporter's endpoint, headers and timeout, and the batch settings itself.
    """
    env = os.environ if environ is None else environ
    if _state.tracer is not None or not requested(env):
        return _state.tracer is not None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    exporters = _exporters(env)
    # Resource.create lets OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over these defaults.
    provider = TracerProvider(resource=Resource.create({"service.name": service_name,
                                                        "service.namespace": "paymesh"}))
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    _state.provider = provider
    _state.tracer = provider.get_tracer("paymesh")
    atexit.register(shutdown)
    _add_log_filter()
    return True


def shutdown() -> None:
    """Flush and stop the exporters (at exit; tests call it to turn tracing off again)."""
    provider, _state.provider, _state.tracer = _state.provider, None, None
    if provider is not None:
        provider.shutdown()


def _kind(kind: Kind) -> Any:
    from opentelemetry.trace import SpanKind

    return {"internal": SpanKind.INTERNAL, "server": SpanKind.SERVER, "client": SpanKind.CLIENT,
            "producer": SpanKind.PRODUCER, "consumer": SpanKind.CONSUMER}[kind]


def span(name: str, attributes: Attributes | None = None, *, kind: Kind = "internal") -> AbstractContextManager[Any]:
    """A child span of the current one around a block, e.g. `with span("gateway.charge"): ...`.

    Yields the span (set_attribute, record_exception) or None when tracing is off; off, it costs one call.
    """
    if _state.tracer is None:
        return _NOOP
    started: AbstractContextManager[Any] = _state.tracer.start_as_current_span(
        name, kind=_kind(kind), attributes=dict(attributes or {}))
    return started


@contextlib.contextmanager
def server_span(name: str, traceparent: str | None, attributes: Attributes | None = None) -> Iterator[Any]:
    """A server span continuing `traceparent` (same trace id, parented on the caller's span); a new trace
    when there is none or it is malformed. Only call it while tracing is on."""
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    parent = TraceContextTextMapPropagator().extract({"traceparent": traceparent} if traceparent else {})
    with _state.tracer.start_as_current_span(name, context=parent, kind=_kind("server"),
                                       attributes=dict(attributes or {})) as current:
        yield current


def current_traceparent() -> str | None:
    """The W3C traceparent of the current span, or None (tracing off, or no span)."""
    if _state.tracer is None:
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def mark_error(current: Any, description: str) -> None:
    """Set a span's status to ERROR (no-op for None)."""
    if current is None:
        return
    from opentelemetry.trace import Status, StatusCode

    current.set_status(Status(StatusCode.ERROR, description))


def bind(function: Callable[..., T]) -> Callable[..., T]:
    """`function`, carrying the caller's current span into another thread (a pool worker)."""
    if _state.tracer is None:
        return function
    from opentelemetry import context

    captured = context.get_current()

    def bound(*args: Any, **kwargs: Any) -> T:
        token = context.attach(captured)
        try:
            return function(*args, **kwargs)
        finally:
            context.detach(token)

    return bound


class TraceIdFilter(logging.Filter):
    """Adds trace_id and span_id of the current span to every log record that has none."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _state.tracer is not None and not hasattr(record, "span_id"):
            from opentelemetry import trace

            context = trace.get_current_span().get_span_context()
            if context.is_valid:
                record.trace_id = f"{context.trace_id:032x}"
                record.span_id = f"{context.span_id:016x}"
        return True


def _add_log_filter() -> None:
    for handler in logging.getLogger().handlers:
        if not any(isinstance(existing, TraceIdFilter) for existing in handler.filters):
            handler.addFilter(TraceIdFilter())
