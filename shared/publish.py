"""publish(events): KafkaSink over HTTP, a Kafka producer, a log, or memory, chosen by configuration.

Publishing happens after the state change commits. Any failure raises TransientError (503): the
input is redelivered, the stored outputs are published again, and their deterministic ids make the
duplicates harmless downstream.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from shared import tracing
from shared.config import SINK_ENV_PREFIX, RuntimeSettings, sink_env_name
from shared.envelope import Envelope
from shared.errors import TransientError
from shared.keepalive import HttpRequestError, KeepAlivePool

log = logging.getLogger("paymesh.publish")


class Publisher(Protocol):
    name: str

    def publish(self, events: Sequence[Envelope]) -> None: ...

    def ready(self) -> bool: ...

    def close(self) -> None: ...


class MemoryPublisher:
    """Keeps what it is given. For unit tests only."""

    name = "memory"

    def __init__(self) -> None:
        self.events: list[Envelope] = []
        self._lock = threading.Lock()

    def publish(self, events: Sequence[Envelope]) -> None:
        with self._lock:
            self.events.extend(events)

    def of_type(self, event_type: str) -> list[Envelope]:
        return [event for event in self.events if event.type == event_type]

    def ready(self) -> bool:
        return True

    def close(self) -> None:
        return None


class LogPublisher:
    """No publisher configured: outputs are logged so a person trying the function sees them."""

    name = "log"

    def publish(self, events: Sequence[Envelope]) -> None:
        for event in events:
            log.info("output not published (no publisher configured)",
                     extra={"output": event.to_structured()})

    def ready(self) -> bool:
        return True

    def close(self) -> None:
        return None


class KafkaSinkPublisher:
    """POST each event in binary mode to the KafkaSink of its topic; only 202 counts as produced."""

    name = "kafkasink"

    def __init__(self, sinks: dict[str, str], timeout: float = 10.0) -> None:
        self.sinks = dict(sinks)
        self.timeout = timeout
        # Keep-alive connections, opened on first use (no socket crosses gunicorn's fork).
        self._client = KeepAlivePool(timeout)
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def publish(self, events: Sequence[Envelope]) -> None:
        """Publish every event or raise TransientError. Events of one (topic, partition key) go in order;
        different keys go concurrently, since a delivery waits for all of its outputs before it answers."""
        for event in events:
            if event.topic not in self.sinks:
                raise TransientError(f"no KafkaSink configured for {event.topic} ({sink_env_name(event.topic)})")
        streams: dict[tuple[str, str], list[Envelope]] = {}
        for event in events:
            streams.setdefault((event.topic, str(event.attributes.get("partitionkey", ""))), []).append(event)
        if len(streams) == 1:
            self._post_in_order(next(iter(streams.values())))
            return
        pool = self._executor()
        post = tracing.bind(self._post_in_order)  # each stream's spans stay in this delivery's trace
        for future in [pool.submit(post, stream) for stream in streams.values()]:
            future.result()

    def _post_in_order(self, events: list[Envelope]) -> None:
        for event in events:
            url = self.sinks[event.topic]
            headers, body = event.http_binary()
            traceparent = event.attributes.get("traceparent")
            if traceparent:
                headers["traceparent"] = traceparent
            with tracing.span(f"{event.topic} publish", kind="producer") as span:
                if span is not None:
                    span.set_attributes(_publish_attributes(event))
                try:
                    status = self._client.post(url, headers, body)
                except HttpRequestError as error:
                    raise TransientError(f"KafkaSink {url}: {error}") from error
                if status != 202:
                    raise TransientError(f"KafkaSink {url} answered {status}, not 202")

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="kafkasink")
            return self._pool

    def ready(self) -> bool:
        return True

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        self._client.close()


class KafkaPublisher:
    """kafka-python producer: binary-mode Kafka binding, acks=all, idempotent, key = partitionkey."""

    name = "kafka"

    def __init__(self, settings: RuntimeSettings) -> None:
        if not settings.kafka_bootstrap_servers:
            raise ValueError("KAFKA_BOOTSTRAP_SERVERS is required for the kafka publisher")
        self.settings = settings
        self.timeout = settings.publish_timeout_seconds
        self._producer: Any = None
        self._lock = threading.Lock()

    def producer_config(self) -> dict[str, Any]:
        settings = self.settings
        config: dict[str, Any] = {
            "bootstrap_servers": (settings.kafka_bootstrap_servers or "").split(","),
            "acks": "all",
            "enable_idempotence": True,
            "linger_ms": 2,
            "request_timeout_ms": int(self.timeout * 1000),
            "max_block_ms": int(self.timeout * 1000),
            # Default 30 s: with the broker down every event would hang that long before its 503.
            "bootstrap_timeout_ms": int(self.timeout * 1000),
            "security_protocol": settings.kafka_security_protocol,
            "client_id": "paymesh",
        }
        if settings.kafka_security_protocol.startswith("SASL"):
            config.update(sasl_mechanism=settings.kafka_sasl_mechanism,
                          sasl_plain_username=settings.kafka_sasl_username,
                          sasl_plain_password=settings.kafka_sasl_password)
        if settings.kafka_security_protocol.endswith("SSL"):
            config.update(ssl_cafile=_path(settings.kafka_ssl_cafile),
                          ssl_certfile=_path(settings.kafka_ssl_certfile),
                          ssl_keyfile=_path(settings.kafka_ssl_keyfile))
        return config

    def _get_producer(self) -> Any:
        with self._lock:
            if self._producer is None:
                from kafka import KafkaProducer

                try:
                    self._producer = KafkaProducer(**self.producer_config())
                except Exception as error:
                    raise TransientError(f"kafka: {type(error).__name__}: {error}") from error
            return self._producer

    def publish(self, events: Sequence[Envelope]) -> None:
        producer = self._get_producer()
        try:
            futures = []
            for event in events:
                headers, key, value = event.kafka_binary()
                with tracing.span(f"{event.topic} publish", kind="producer") as span:
                    if span is not None:
                        span.set_attributes(_publish_attributes(event))
                    futures.append(producer.send(event.topic, key=key, value=value, headers=headers))
            for future in futures:
                future.get(timeout=self.timeout)
        except TransientError:
            raise
        except Exception as error:
            raise TransientError(f"kafka: {type(error).__name__}: {error}") from error

    def ready(self) -> bool:
        return self._producer is None or bool(self._producer.bootstrap_connected())

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(timeout=self.timeout)
            self._producer.close(timeout=self.timeout)


def _publish_attributes(event: Envelope) -> dict[str, str]:
    return {"messaging.system": "kafka", "messaging.destination.name": event.topic,
            "messaging.message.id": event.id}


def _path(value: os.PathLike[str] | None) -> str | None:
    return os.fspath(value) if value is not None else None


def configured_sinks(environ: dict[str, str] | None = None) -> dict[str, str]:
    """Sink URLs from PAYMESH_SINK_<TOPIC> variables, keyed by the variable name."""
    env = os.environ if environ is None else environ
    return {name: value for name, value in env.items() if name.startswith(SINK_ENV_PREFIX) and value}


def build_publisher(settings: RuntimeSettings, outputs: Iterable[str],
                    environ: dict[str, str] | None = None) -> Publisher:
    """Pick the publisher; a kafkasink set-up missing a sink for one of `outputs` is a config error."""
    sinks_by_env = configured_sinks(environ)
    choice = settings.publisher
    if choice == "auto":
        if sinks_by_env:
            choice = "kafkasink"
        elif settings.kafka_bootstrap_servers:
            choice = "kafka"
        else:
            choice = "log"
    if choice == "kafkasink":
        sinks: dict[str, str] = {}
        for topic in sorted(outputs):
            env_name = sink_env_name(topic)
            url = sinks_by_env.get(env_name)
            if not url or not url.startswith(("http://", "https://")):
                raise ValueError(f"{env_name}: an http(s) KafkaSink address is required for output {topic}")
            sinks[topic] = url
        return KafkaSinkPublisher(sinks, settings.publish_timeout_seconds)
    if choice == "kafka":
        return KafkaPublisher(settings)
    if choice == "memory":
        return MemoryPublisher()
    log.warning("no publisher configured: outputs are logged, not published "
                "(set PAYMESH_SINK_<TOPIC> variables or KAFKA_BOOTSTRAP_SERVERS)")
    return LogPublisher()
