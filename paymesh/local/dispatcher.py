"""KafkaSource, locally: a consumer group per source delivering each record to its sink as Knative's dispatcher does.

Records of one partition go one at a time (ordering: ordered); the partition is paused while its batch is
in flight so the poll loop keeps the group membership alive through long retries. An offset is committed
only once its record has an outcome: delivered, dead-lettered, or (dead-letter sink failing too) given up.
"""

from __future__ import annotations

import base64
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from paymesh.local.broker import CONSUMER_TIMEOUTS
from paymesh.local.journal import Journal
from paymesh.local.stats import Stats
from paymesh.local.topology import Delivery, KafkaSource
from shared.envelope import dumps, encode_header
from shared.ingress import KAFKA_EVENT_TYPE

log = logging.getLogger("paymesh.local.dispatcher")

RETRYABLE = frozenset({404, 408, 409, 429})
MAX_ERROR_DATA = 1024
DEFAULT_TIMEOUT = 30.0
# A poll hands over everything fetched. With a smaller cap, the rest of a partition's fetched records is parked by
# kafka-python when the partition is paused for delivery, and (kafka-python 3.0.12) parked records of a partition
# can stay parked after it is resumed: the partition is neither returned nor fetched again, and stalls for good.
# Seen with a backlog (a burst, a re-read after a broker restart); tests/reliability/test_broker_outage.py.
MAX_POLL_RECORDS = 1_000_000


@dataclass(frozen=True)
class DispatchEvent:
    """A CloudEvent as the dispatcher holds it: attributes (no datacontenttype) plus raw data bytes."""

    attributes: dict[str, str]
    data: bytes = b""
    content_type: str | None = None

    def http_binary(self) -> tuple[dict[str, str], bytes]:
        headers = {f"ce-{name}": encode_header(value) for name, value in self.attributes.items()}
        if self.content_type:
            headers["Content-Type"] = self.content_type
        return headers, self.data

    def with_extensions(self, extensions: Mapping[str, str]) -> DispatchEvent:
        return DispatchEvent({**self.attributes, **extensions}, self.data, self.content_type)


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _header_extension(name: str) -> str:
    return "kafkaheader" + "".join(char for char in name.lower() if char.isascii() and char.isalnum())


def _rfc3339(timestamp_ms: int) -> str:
    return datetime.fromtimestamp(timestamp_ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def structured_event(value: bytes) -> DispatchEvent:
    document = json.loads(value)
    if not isinstance(document, dict):
        raise ValueError("a structured CloudEvent record is a JSON object")
    attributes = {key: str(item) for key, item in document.items() if key not in {"data", "data_base64"}}
    content_type = attributes.pop("datacontenttype", None)
    if "data_base64" in document:
        data = base64.b64decode(document["data_base64"])
    elif "data" not in document:
        data = b""
    elif isinstance(document["data"], str) and content_type and "json" not in content_type:
        data = document["data"].encode()
    else:
        data = dumps(document["data"])
    return DispatchEvent(attributes, data, content_type)


def record_to_event(record: Any, source: KafkaSource) -> DispatchEvent:
    """The CloudEvent Knative's Kafka dispatcher builds from a record (docs/architecture.md)."""
    headers: list[tuple[str, bytes]] = list(record.headers or [])
    content_type = next((_text(value) for name, value in headers if name.lower() == "content-type"), None)
    if content_type and content_type.lower().startswith("application/cloudevents"):
        return structured_event(record.value or b"")
    ce_headers = {name[3:].lower(): _text(value) for name, value in headers if name.lower().startswith("ce_")}
    if ce_headers:
        ce_headers.pop("datacontenttype", None)
        return DispatchEvent(ce_headers, record.value or b"", content_type)
    attributes = {
        "specversion": "1.0",
        "id": f"partition:{record.partition}/offset:{record.offset}",
        "source": f"{source.base_source}#{record.topic}",
        "type": KAFKA_EVENT_TYPE,
        "subject": f"partition:{record.partition}#{record.offset}",
    }
    if record.timestamp is not None and record.timestamp >= 0:
        attributes["time"] = _rfc3339(record.timestamp)
    if record.key is not None:
        attributes["key"] = attributes["partitionkey"] = _text(record.key)
    for name, value in headers:
        if name.lower() != "content-type":
            attributes[_header_extension(name)] = _text(value)
    return DispatchEvent(attributes, record.value or b"", content_type)


def retryable(status: int) -> bool:
    """Knative retries 5xx, 404, 408, 409, 429 (and network errors, timeouts); other >= 300 dead-letter."""
    return status >= 500 or status in RETRYABLE


@dataclass
class Outcome:
    status: int | None  # last HTTP status; None = network error or timeout
    attempts: int
    body: bytes = b""
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def error_extensions(destination: str, outcome: Outcome) -> dict[str, str]:
    extensions = {"knativeerrordest": destination}
    if outcome.status is not None:
        extensions["knativeerrorcode"] = str(outcome.status)
        if outcome.body:
            extensions["knativeerrordata"] = base64.b64encode(outcome.body[:MAX_ERROR_DATA]).decode()
    return extensions


@dataclass
class Sender:
    """POSTs in binary mode with the manifest's retry and backoff; `stopping` cuts a backoff short."""

    client: httpx.Client
    delivery: Delivery
    stopping: threading.Event = field(default_factory=threading.Event)
    on_retry: Callable[[], None] = lambda: None

    def send(self, url: str, event: DispatchEvent, token: Callable[[], str] | None = None) -> Outcome | None:
        """The final outcome, or None when stopping interrupted the retries (the record stays uncommitted).
        `token` gives the OIDC bearer token for the destination's audience (authentication-oidc), per attempt."""
        headers, body = event.http_binary()
        headers["Prefer"] = "reply"
        traceparent = event.attributes.get("traceparent")
        if traceparent:
            headers["traceparent"] = traceparent
        timeout = self.delivery.timeout or DEFAULT_TIMEOUT
        attempt = 0
        while True:
            attempt += 1
            if token is not None:
                headers["Authorization"] = f"Bearer {token()}"
            try:
                response = self.client.post(url, headers=headers, content=body, timeout=timeout)
                outcome = Outcome(response.status_code, attempt, response.content)
            except httpx.HTTPError as error:
                outcome = Outcome(None, attempt, error=f"{type(error).__name__}: {error}")
            again = outcome.status is None or retryable(outcome.status)
            if outcome.ok or not again or attempt > self.delivery.retry:
                return outcome
            self.on_retry()
            if self.stopping.wait(self.delivery.backoff(attempt)):
                return None


class SourceConsumer:
    """One KafkaSource: its consumer group, its poll loop and its per-partition delivery workers."""

    def __init__(self, source: KafkaSource, bootstrap: str, target_url: str, dead_letter_url: str | None, *,
                 stats: Stats | None = None, poll_timeout_ms: int = 100,
                 token: Callable[[], str] | None = None, journal: Journal | None = None) -> None:
        self.source = source
        self.token = token  # None: no token is sent (authentication-oidc off, or a sink without an audience)
        self.journal = journal
        self.bootstrap = bootstrap
        self.target_url = target_url
        self.dead_letter_url = dead_letter_url
        self.stats = stats or Stats()
        self.poll_timeout_ms = poll_timeout_ms
        self.stopping = threading.Event()
        self.assigned = threading.Event()
        self._client = httpx.Client()
        # (partition, next offset or None, batch finished, broker epoch the batch was fetched in)
        self._done: queue.Queue[tuple[Any, int | None, bool, int]] = queue.Queue()
        # Bumped when the broker lost its log (see broker_lost): offsets of an older epoch are never committed.
        self._epoch = 0
        self._broker_lost = threading.Event()
        self._inflight: dict[Any, Future[None]] = {}
        # Per partition, the offset after the last record with an outcome: where reading resumes.
        self._next_offset: dict[Any, int] = {}
        self._thread: threading.Thread | None = None
        self._consumer_ref: Any = None
        self._error: BaseException | None = None
        self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix=f"{source.name}-deliver")

    # -- delivery (worker threads) ------------------------------------------------------------------------

    def _sender(self, topic: str) -> Sender:
        return Sender(self._client, self.source.delivery, self.stopping,
                      on_retry=lambda: self.stats.add(topic, "retried"))

    def deliver(self, record: Any) -> bool:
        """Deliver one record to its outcome; False when stopping interrupted it."""
        try:
            event = record_to_event(record, self.source)
        except (ValueError, UnicodeDecodeError) as error:
            # Knative cannot build an event from such a record either; it is skipped, not retried forever.
            log.error("record %s/%s@%s is not a CloudEvent: %s", record.topic, record.partition, record.offset, error)
            self.stats.add(record.topic, "lost")
            return True
        sender = self._sender(record.topic)
        started = time.monotonic()
        outcome = sender.send(self.target_url, event, self.token)
        if outcome is None:
            return False
        if outcome.ok:
            self.stats.add(record.topic, "delivered")
            self._journal(record, event, "delivered", outcome, started)
            return True
        log.warning("%s: %s answered %s after %d attempt(s); dead-lettering %s", self.source.name, self.target_url,
                    outcome.status or outcome.error, outcome.attempts, event.attributes.get("id"))
        if self.dead_letter_url is None:
            self.stats.add(record.topic, "lost")
            return True
        dead = sender.send(self.dead_letter_url, event.with_extensions(error_extensions(self.target_url, outcome)))
        if dead is None:
            return False
        if dead.ok:
            self.stats.add(record.topic, "dead_lettered")
            self._journal(record, event, "dead_lettered", outcome, started)
        else:
            log.error("%s: dead-letter sink %s failed (%s): event %s is lost", self.source.name,
                      self.dead_letter_url, dead.status or dead.error, event.attributes.get("id"))
            self.stats.add(record.topic, "lost")
            self._journal(record, event, "lost", outcome, started)
        return True

    def _journal(self, record: Any, event: DispatchEvent, name: str, outcome: Outcome, started: float) -> None:
        if self.journal is None:
            return
        error = outcome.error or (outcome.body.decode("utf-8", "replace") if not outcome.ok else "")
        try:
            self.journal.record(source=self.source.name, function=self.source.sink, topic=record.topic,
                                partition=record.partition, offset=record.offset, attributes=event.attributes,
                                outcome=name, status=outcome.status, attempts=outcome.attempts,
                                duration_seconds=time.monotonic() - started, error=error)
        except OSError as problem:  # the journal is for people; a full disk must not stop deliveries
            log.warning("delivery journal: %s", problem)

    def _deliver_batch(self, partition: Any, records: Sequence[Any], epoch: int = 0) -> None:
        for record in records:
            if self.stopping.is_set() or not self.deliver(record):
                break
            self._done.put((partition, record.offset + 1, False, epoch))
        self._done.put((partition, None, True, epoch))

    # -- poll loop (the only thread touching the consumer) ---------------------------------------------

    def _consumer(self) -> Any:
        from kafka import ConsumerRebalanceListener, KafkaConsumer

        outer = self

        class Listener(ConsumerRebalanceListener):  # type: ignore[misc]
            # kafka-python 3 calls listeners on its network thread: blocking here (waiting for in-flight
            # deliveries, committing) would stop heartbeats and fail the commit. The poll loop handles the
            # consequences instead: see _run and _apply_done.
            def on_partitions_revoked(self, revoked: Any) -> None:
                return None

            def on_partitions_assigned(self, assigned: Any) -> None:
                if assigned:
                    outer.assigned.set()

        consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap.split(","), group_id=self.source.consumer_group,
            client_id=f"paymesh-{self.source.name}", enable_auto_commit=False,
            auto_offset_reset=self.source.initial_offset, max_poll_records=MAX_POLL_RECORDS,
            **CONSUMER_TIMEOUTS)
        consumer.subscribe(list(self.source.topics), listener=Listener())
        self._consumer_ref = consumer
        return consumer

    def _apply_done(self, consumer: Any, block: bool = False) -> None:
        from kafka.structs import OffsetAndMetadata

        offsets: dict[Any, Any] = {}
        finished: list[Any] = []
        while True:
            try:
                partition, offset, last, epoch = self._done.get(timeout=0.05) if block else self._done.get_nowait()
            except queue.Empty:
                break
            block = False
            if offset is not None and epoch == self._epoch:
                offsets[partition] = OffsetAndMetadata(offset, "", -1)
            if last:
                finished.append(partition)
        for partition, position in offsets.items():
            self._next_offset[partition] = position.offset
        assigned = consumer.assignment()
        offsets = {partition: position for partition, position in offsets.items() if partition in assigned}
        if offsets:
            try:
                consumer.commit(offsets)
            except Exception as error:  # the records are redelivered; receivers dedupe on (source, id)
                log.warning("%s: commit failed: %s", self.source.name, error)
        for partition in finished:
            self._inflight.pop(partition, None)
            if not self.stopping.is_set() and partition in assigned:
                # Read on exactly after the last record with an outcome, whatever the fetcher did meanwhile (a
                # rebalance resets positions to the last commit; a paused partition's fetched records may be
                # parked): seeking also drops anything it fetched for the partition during the delivery.
                if partition in self._next_offset:
                    consumer.seek(partition, self._next_offset[partition])
                consumer.resume(partition)

    def _finish(self, partitions: set[Any] | None = None) -> None:
        """Wait for the in-flight batches of `partitions` (all when None) and commit what they delivered."""
        consumer = self._consumer_ref
        while any(partitions is None or partition in partitions for partition in self._inflight):
            self._apply_done(consumer, block=True)
        self._apply_done(consumer)

    def _run(self) -> None:
        consumer = self._consumer()
        try:
            while not self.stopping.is_set():
                if self._broker_lost.is_set():
                    self._restart_from_new_log(consumer)
                self._apply_done(consumer)
                batches = consumer.poll(timeout_ms=self.poll_timeout_ms)
                for partition, records in batches.items():
                    consumer.pause(partition)
                    if partition in self._inflight:
                        # Handed back after a rebalance while its batch still runs: those records are read
                        # again, in order, from where the batch stops (see _apply_done).
                        continue
                    self._next_offset[partition] = records[0].offset
                    self._inflight[partition] = self._pool.submit(self._deliver_batch, partition, records,
                                                                  self._epoch)
            self._finish()
        except BaseException as error:
            self._error = error
            log.exception("%s: consumer stopped", self.source.name)
        finally:
            consumer.close(autocommit=False)

    def broker_lost(self) -> None:
        """The broker was replaced by an empty one (memory storage): its log, offsets and groups are gone.

        Thread-safe; the poll loop acts on it before its next poll: in-flight records (fetched from the old log)
        are still delivered, but their offsets are not committed, since they mean nothing on the new log; and
        every assigned partition is read again from the new log's beginning. That is initialOffset earliest
        on a broker that holds only what was produced since it started: nothing of before is re-read, because
        nothing of before exists. Without it the consumer would fetch the new log from its old positions until
        its group re-joins, skipping the first records there and getting them later, out of order.
        """
        self._broker_lost.set()

    def _restart_from_new_log(self, consumer: Any) -> None:
        self._broker_lost.clear()
        self._epoch += 1
        self._next_offset.clear()  # positions in the old log mean nothing in the new one
        partitions = consumer.assignment()
        if partitions:
            consumer.seek_to_beginning(*partitions)  # resolved lazily, against the broker there at the next fetch
        log.warning("%s: broker replaced; reading %d partition(s) from the new log's beginning",
                    self.source.name, len(partitions))

    def start(self) -> SourceConsumer:
        self._thread = threading.Thread(target=self._run, name=f"source-{self.source.name}", daemon=True)
        self._thread.start()
        return self

    def wait_assigned(self, timeout: float) -> bool:
        return self.assigned.wait(timeout)

    def stop(self, timeout: float = 60.0) -> None:
        """Stop polling, let in-flight deliveries finish (a pending backoff is cut short), commit, close."""
        self.stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._client.close()


def start_consumers(sources: Sequence[KafkaSource], bootstrap: str, targets: Mapping[str, str],
                    dead_letter_urls: Mapping[str, str], stats: Stats, *,
                    tokens: Callable[[KafkaSource], Callable[[], str] | None] | None = None,
                    journal: Journal | None = None) -> list[SourceConsumer]:
    """A consumer per source whose sink is in `targets` (service name -> URL)."""
    consumers = []
    for source in sources:
        url = targets.get(source.sink) or (source.sink if source.sink.startswith("http") else None)
        if url is None:
            log.warning("KafkaSource %s: no local target for sink %s; skipped", source.name, source.sink)
            continue
        dead = dead_letter_urls.get(source.delivery.dead_letter_sink or "")
        token = tokens(source) if tokens is not None else None
        consumers.append(SourceConsumer(source, bootstrap, url, dead, stats=stats, token=token,
                                        journal=journal).start())
    return consumers


def wait_all_assigned(consumers: Sequence[SourceConsumer], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    return all(consumer.wait_assigned(max(0.0, deadline - time.monotonic())) for consumer in consumers)
