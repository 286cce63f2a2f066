"""KafkaSink, locally: POST /<namespace>/<sink-name> with a CloudEvent -> a binary-mode record on the sink's topic.

Answers as Knative's kafka-sink-ingress does: 202 produced, 400 not a CloudEvent, 404 unknown sink,
405 other methods, 503 the produce failed.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from paymesh.local.broker import RECONNECT_BACKOFF_MAX_MS
from paymesh.local.dispatcher import DispatchEvent, structured_event
from paymesh.local.stats import Stats
from paymesh.local.topology import KafkaSink
from shared.envelope import REQUIRED_ATTRIBUTES, decode_header
from shared.ingress import content_mode

log = logging.getLogger("paymesh.local.ingress")
PRODUCE_TIMEOUT = 5.0
# After a producer could not even reach the broker, requests answer 503 at once for this long instead of each
# waiting out its own bootstrap timeout in turn.
UNREACHABLE_PAUSE = 1.0


class NotACloudEventError(ValueError):
    pass


def parse_request(headers: dict[str, str], body: bytes) -> DispatchEvent:
    """A binary or structured CloudEvent from an HTTP request (batch mode is not accepted by a KafkaSink)."""
    mode = content_mode(headers.get("content-type"))
    if mode == "batch":
        raise NotACloudEventError("batch mode is not accepted")
    if mode == "structured":
        try:
            event = structured_event(body)
        except (ValueError, TypeError) as error:
            raise NotACloudEventError(f"malformed structured CloudEvent: {error}") from None
    else:
        try:
            attributes = {name[3:]: decode_header(value) for name, value in headers.items()
                          if name.startswith("ce-")}
        except UnicodeDecodeError:
            raise NotACloudEventError("a ce- header is not percent-encoded UTF-8") from None
        event = DispatchEvent(attributes, body, headers.get("content-type"))
    missing = [name for name in REQUIRED_ATTRIBUTES if not event.attributes.get(name)]
    if missing:
        raise NotACloudEventError(f"missing CloudEvent attribute(s): {', '.join(missing)}")
    return event


def kafka_record(event: DispatchEvent) -> tuple[list[tuple[str, bytes]], bytes | None, bytes]:
    """The Kafka binary binding: ce_<name> headers, content-type header, key = partitionkey."""
    headers = [(f"ce_{name}", value.encode()) for name, value in event.attributes.items()]
    if event.content_type:
        headers.append(("content-type", event.content_type.encode()))
    key = event.attributes.get("partitionkey")
    return headers, key.encode() if key is not None else None, event.data


class SinkIngress:
    """The HTTP server behind every KafkaSink of the topology, producing through one Kafka producer."""

    def __init__(self, sinks: list[KafkaSink], bootstrap: str, *, stats: Stats | None = None,
                 host: str = "127.0.0.1", port: int = 0, produce_timeout: float = PRODUCE_TIMEOUT) -> None:
        self.produce_timeout = produce_timeout
        self.sinks = {sink.path: sink for sink in sinks}
        self.bootstrap = bootstrap
        self.stats = stats or Stats()
        self._producer: Any = None
        self._unreachable_until = 0.0
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer((host, port), self._handler())
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def url(self, sink: KafkaSink) -> str:
        return self.base_url + sink.path

    def _get_producer(self) -> Any:
        with self._lock:
            if self._producer is None:
                from kafka import KafkaProducer

                if time.monotonic() < self._unreachable_until:
                    raise ConnectionError(f"the broker at {self.bootstrap} was unreachable a moment ago")
                timeout_ms = int(self.produce_timeout * 1000)
                try:
                    self._producer = KafkaProducer(
                        bootstrap_servers=self.bootstrap.split(","), acks="all", enable_idempotence=True,
                        linger_ms=1, request_timeout_ms=timeout_ms, max_block_ms=timeout_ms,
                        bootstrap_timeout_ms=timeout_ms, reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,
                        client_id="paymesh-kafka-sink")
                except Exception:
                    self._unreachable_until = time.monotonic() + UNREACHABLE_PAUSE
                    raise
            return self._producer

    def _discard(self, producer: Any) -> None:
        """Drop a producer whose send failed; the next request builds a fresh one.

        An idempotent producer that lived through a broker outage is stuck: a broker started anew (memory storage)
        does not know its producer id, and kafka-python treats that as fatal for the producer. A fresh producer
        gets a new id from whichever broker is there. Records it still buffered are dropped: their requests were
        answered 503, so their senders retry them.
        """
        with self._lock:
            if self._producer is not producer:
                return  # another request already replaced it
            self._producer = None
        with contextlib.suppress(Exception):
            producer.close(timeout=0)  # raises when records are still buffered, before stopping its sender
        sender = getattr(producer, "_sender", None)
        if sender is not None and sender.is_alive():
            sender.force_close()  # aborts the buffered records and ends the producer's I/O thread

    def produce(self, sink: KafkaSink, event: DispatchEvent) -> None:
        headers, key, value = kafka_record(event)
        producer = self._get_producer()
        try:
            producer.send(sink.topic, key=key, value=value, headers=headers).get(timeout=self.produce_timeout)
        except Exception:
            self._discard(producer)
            raise
        self.stats.add(sink.topic, "produced")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        ingress = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self, status: int, message: str = "") -> None:
                body = message.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if len(body) < length:
                    # The sender died mid-request (a SIGKILLed function): never produce a truncated event.
                    self.close_connection = True
                    return
                sink = ingress.sinks.get(self.path.split("?", 1)[0].rstrip("/"))
                if sink is None:
                    self._answer(404, f"no KafkaSink at {self.path}")
                    return
                try:
                    event = parse_request({name.lower(): value for name, value in self.headers.items()}, body)
                except NotACloudEventError as error:
                    self._answer(400, str(error))
                    return
                try:
                    ingress.produce(sink, event)
                except Exception as error:
                    log.warning("KafkaSink %s: produce to %s failed: %s", sink.name, sink.topic, error)
                    self._answer(503, f"produce to {sink.topic} failed")
                    return
                self._answer(202)

            def do_GET(self) -> None:
                self._answer(405, "POST only")

            def do_PUT(self) -> None:
                self._answer(405, "POST only")

            def do_DELETE(self) -> None:
                self._answer(405, "POST only")

            def log_message(self, format: str, *args: Any) -> None:
                return None

        return Handler

    def start(self) -> SinkIngress:
        self._thread = threading.Thread(target=self.server.serve_forever, name="kafka-sink-ingress", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self._producer is not None:
            with contextlib.suppress(Exception):  # a broker already gone: what is still buffered cannot be flushed
                self._producer.flush(timeout=self.produce_timeout)
            self._discard(self._producer)
