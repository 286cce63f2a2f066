"""A real OTLP/HTTP trace receiver on loopback: POST /v1/traces with protobuf bodies, decoded with
opentelemetry-proto, kept as flat Span records for assertions."""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tests.support.http_recorder import QuietHandler, serving

KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}


@dataclass(frozen=True)
class Span:
    service: str
    name: str
    kind: str
    trace_id: str
    span_id: str
    parent_id: str
    attributes: dict[str, Any]
    status_code: int
    start_ns: int
    end_ns: int


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


def decode(body: bytes) -> list[Span]:
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    spans = []
    for resource_spans in request.resource_spans:
        resource = {item.key: _value(item.value) for item in resource_spans.resource.attributes}
        for scope in resource_spans.scope_spans:
            for span in scope.spans:
                spans.append(Span(
                    service=str(resource.get("service.name", "")), name=span.name, kind=KINDS[span.kind],
                    trace_id=span.trace_id.hex(), span_id=span.span_id.hex(), parent_id=span.parent_span_id.hex(),
                    attributes={item.key: _value(item.value) for item in span.attributes},
                    status_code=span.status.code, start_ns=span.start_time_unix_nano, end_ns=span.end_time_unix_nano))
    return spans


@dataclass
class Receiver:
    url: str = ""
    spans: list[Span] = field(default_factory=list)
    requests: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def snapshot(self) -> list[Span]:
        with self._lock:
            return list(self.spans)

    def wait_for(self, done: Callable[[list[Span]], bool], timeout: float = 20.0) -> list[Span]:
        deadline = time.monotonic() + timeout
        while True:
            spans = self.snapshot()
            if done(spans) or time.monotonic() > deadline:
                return spans
            time.sleep(0.05)


@contextmanager
def otlp_receiver() -> Iterator[Receiver]:
    receiver = Receiver()

    class Handler(QuietHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            status = 200
            if self.path != "/v1/traces" or self.headers.get("Content-Type") != "application/x-protobuf":
                status = 404
            else:
                spans = decode(body)
                with receiver._lock:
                    receiver.spans.extend(spans)
                    receiver.requests += 1
            reply = ExportTraceServiceResponse().SerializeToString() if status == 200 else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

    with serving(Handler) as url:
        receiver.url = url
        yield receiver


@contextmanager
def exporting(service: str) -> Iterator[Receiver]:
    """A receiver, and this process's tracing configured to export to it as `service` (from the standard OTEL_*
    variables, as in production); tracing is shut down and the variables restored afterwards."""
    import os

    from shared import tracing

    with otlp_receiver() as receiver:
        environ = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_BSP_SCHEDULE_DELAY": "50"}
        saved = {name: os.environ.get(name) for name in environ}
        os.environ.update(environ)
        try:
            assert tracing.configure(service)
            yield receiver
        finally:
            tracing.shutdown()
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def flushed(receiver: Receiver, done: Callable[[list[Span]], bool], timeout: float = 10.0) -> list[Span]:
    """The spans once the exporter has sent what it holds and `done` holds (or the timeout passed)."""
    from shared import tracing

    assert tracing._state.provider is not None
    tracing._state.provider.force_flush()
    return receiver.wait_for(done, timeout)
