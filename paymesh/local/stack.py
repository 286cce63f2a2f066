"""The whole local set in start-up order (broker, KafkaSink ingress, functions, dispatchers) and back down."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from paymesh.local import access
from paymesh.local.broker import Broker, all_topics, create_topics, start_broker, start_embedded
from paymesh.local.engine import Engine
from paymesh.local.journal import JOURNAL_FILE, Journal
from paymesh.local.oidc import Issuer, role_subject
from paymesh.local.partitions import FLOW, MINIMUM, partitions_for
from paymesh.local.pings import load_pings
from paymesh.local.sandbox import Sandbox, start_sandbox
from paymesh.local.send import STATE_FILE
from paymesh.local.supervisor import PORTS, Supervisor
from paymesh.local.topology import Topology, load

ROOT = Path(__file__).resolve().parents[2]


def _quiet(_line: str) -> None:
    return None


@dataclass
class LocalSet:
    home: Path
    eventing: Path = ROOT / "eventing"
    ingress_port: int = 0
    ports: Mapping[str, int] = field(default_factory=lambda: dict(PORTS))
    say: Callable[[str], None] = _quiet
    topology: Topology | None = None
    broker: Broker | None = None
    engine: Engine | None = None
    supervisor: Supervisor | None = None
    ready_seconds: float = 0.0
    # The provider sandbox (SMTP, Twilio- and FCM-shaped APIs) that email, SMS and push deliver to; off: the real
    # providers configured in the environment. Ports 0 pick free ones.
    use_sandbox: bool = True
    sandbox_ports: tuple[int, int] = (0, 0)  # (SMTP, HTTP)
    sandbox: Sandbox | None = None
    # The local OIDC issuer: functions verify tokens, dispatchers send them, as with Knative's authentication-oidc.
    auth: bool = True
    issuer: Issuer | None = None
    # More variables for the functions, e.g. OTEL_EXPORTER_OTLP_ENDPOINT of a collector.
    extra_environment: Mapping[str, str] = field(default_factory=dict)

    @property
    def urls(self) -> dict[str, str]:
        assert self.supervisor is not None
        return {name: function.url.rstrip("/") for name, function in self.supervisor.functions.items()}

    def token(self, role: str, function: str | None = None) -> str:
        """A bearer token of the local issuer: `reader`/`admin` (for one function, or all), or `sender` as the
        KafkaSource delivering to `function`."""
        assert self.issuer is not None and self.topology is not None, "authentication is off"
        if role == "sender":
            assert function is not None, "a sender token is for one function"
            return self.issuer.signer.token(access.senders(self.topology, function)[0], function)
        return self.issuer.signer.token(role_subject(role), function or list(self.ports))

    def auth_headers(self, role: str, function: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, function)}"} if self.issuer is not None else {}

    def topics(self) -> list[str]:
        assert self.topology is not None
        return sorted(set(all_topics()) | self.topology.topics())

    def start(self) -> LocalSet:
        started = time.monotonic()
        self.topology = topology = load(self.eventing)
        self.broker = broker = start_broker(self.topics())
        kind = "embedded Tansu, memory storage" if broker.embedded else "KAFKA_BOOTSTRAP_SERVERS"
        flow = sum(1 for topic in self.topics() if partitions_for(topic) == FLOW)
        self.say(f"broker        {broker.bootstrap}  ({kind}; {len(self.topics())} topics: {flow} flow topics of "
                 f"{FLOW} partitions, the rest {MINIMUM})")
        self.home.mkdir(parents=True, exist_ok=True)
        self.engine = engine = Engine(topology, broker.bootstrap, ingress_port=self.ingress_port,
                                      journal=Journal(self.home / JOURNAL_FILE))
        ingress = engine.start_ingress()
        self.say(f"kafka sinks   {ingress.base_url}/<namespace>/<sink>  ({len(topology.sinks)} KafkaSinks)")
        environment = dict(engine.sink_environment())
        if self.use_sandbox:
            smtp_port, http_port = self.sandbox_ports
            self.sandbox = start_sandbox(self.home, self.say, smtp_port=smtp_port, http_port=http_port)
            environment.update(self.sandbox.environment())
        environment.update(self.extra_environment)
        per_function: dict[str, dict[str, str]] = {}
        ping_sources = load_pings(self.eventing)
        if self.auth:
            self.issuer = Issuer(self.home).start()
            per_function = access.function_environment(topology, self.issuer.url, self.ports, ping_sources)
            self.say(f"oidc issuer   {self.issuer.url}  (discovery, JWKS; `paymesh token --role reader` for curl)")
        self.supervisor = supervisor = Supervisor(ROOT, self.home, environment, ports=self.ports,
                                                  per_function=per_function)
        supervisor.start_all(tuple(self.ports))
        supervisor.wait_ready(timeout=90)
        for name, function in supervisor.functions.items():
            self.say(f"{name:<14}{function.url}  (ready; log {function.log_path})")
        collector = environment.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        if collector:
            self.say(f"traces        OTLP to {collector}  (`paymesh trace ID` tells one payment's story)")
        targets = {name: function.url for name, function in supervisor.functions.items()}
        tokens = access.source_tokens(self.issuer) if self.issuer is not None else None
        if not engine.start_dispatchers(targets, ready_timeout=30, tokens=tokens):
            self.say("some consumer groups have not joined yet; they will catch up from the earliest offset")
        for source in topology.sources:
            self.say(f"source        {source.name}: {', '.join(source.topics)} -> {targets.get(source.sink)}")
        pings = engine.start_pings(ping_sources, targets, tokens)
        for ping in pings.sources:
            self.say(f"ping source   {ping.name}: '{' '.join(ping.cron_text.split())}' -> {pings.url(ping)}")
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / STATE_FILE).write_text(json.dumps(
            {"bootstrap": broker.bootstrap, "ingress": ingress.base_url, "functions": self.urls,
             "sandbox": self.sandbox.url if self.sandbox is not None else None,
             "issuer": self.issuer.url if self.issuer is not None else None}))
        self.ready_seconds = time.monotonic() - started
        return self

    def stop_broker(self, *, kill: bool = True) -> None:
        """The broker outage: the embedded broker dies (SIGKILL, or SIGTERM with kill=False). Memory storage is all
        it has, so its records, committed offsets and consumer groups die with it. The ingress answers 503 and the
        dispatchers keep retrying what they hold until start_new_broker()."""
        assert self.broker is not None and self.broker.embedded, "only the embedded broker can be stopped"
        if kill:
            self.broker.kill()
        else:
            self.broker.stop()
        if self.engine is not None:
            for consumer in self.engine.consumers:
                consumer.broker_lost()  # before the new broker exists: no fetch from an old position reaches it

    def start_new_broker(self, timeout: float = 20.0) -> Broker:
        """A new, empty embedded broker on the old one's address (clients reconnect by themselves) with the topics
        created again; the consumer groups are joined anew by the dispatchers as they reconnect."""
        assert self.broker is not None and self.broker.embedded, "only the embedded broker can be restarted"
        self.broker = broker = start_embedded(self.broker.port, timeout=timeout)
        try:
            # At once: Tansu creates a topic on the first produce to it, with its own partition count.
            create_topics(broker.bootstrap, self.topics())
        except Exception:
            broker.stop()
            raise
        self.say(f"broker        {broker.bootstrap}  (a new embedded Tansu: empty, topics created again)")
        return broker

    def stop(self) -> None:
        """Consumers first (in-flight deliveries finish), then functions (they flush), then ingress and broker."""
        if self.engine is not None:
            self.engine.stop_pings()
            self.engine.stop_dispatchers()
        if self.supervisor is not None:
            self.supervisor.stop_all()
        if self.sandbox is not None:
            self.sandbox.stop()
        if self.engine is not None:
            self.engine.stop_ingress()
        if self.issuer is not None:
            self.issuer.stop()
        if self.broker is not None:
            self.broker.stop()
        with contextlib.suppress(OSError):
            (self.home / STATE_FILE).unlink()
