"""The eventing engine: the KafkaSink ingress plus a dispatcher per KafkaSource, wired from the topology."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from paymesh.local.dispatcher import SourceConsumer, start_consumers, wait_all_assigned
from paymesh.local.journal import Journal
from paymesh.local.pings import PingRunner, PingSource
from paymesh.local.sink_ingress import SinkIngress
from paymesh.local.stats import Stats
from paymesh.local.topology import KafkaSource, Topology
from shared.config import sink_env_name


@dataclass
class Engine:
    topology: Topology
    bootstrap: str
    stats: Stats = field(default_factory=Stats)
    ingress_port: int = 0
    ingress: SinkIngress | None = None
    consumers: list[SourceConsumer] = field(default_factory=list)
    journal: Journal | None = None  # one JSON line per delivery outcome, for `paymesh trace`
    pings: PingRunner | None = None

    def start_ingress(self) -> SinkIngress:
        self.ingress = SinkIngress(list(self.topology.sinks), self.bootstrap, stats=self.stats,
                                   port=self.ingress_port).start()
        return self.ingress

    def sink_urls(self) -> dict[str, str]:
        """KafkaSink name -> its address on the local ingress."""
        assert self.ingress is not None, "start the ingress first"
        return {sink.name: self.ingress.url(sink) for sink in self.topology.sinks}

    def sink_environment(self) -> dict[str, str]:
        """PAYMESH_SINK_<TOPIC> for every sink's topic, as Knative's SinkBinding would inject."""
        assert self.ingress is not None, "start the ingress first"
        return {sink_env_name(sink.topic): self.ingress.url(sink) for sink in self.topology.sinks}

    def start_dispatchers(self, targets: Mapping[str, str], ready_timeout: float = 30.0,
                          tokens: Callable[[KafkaSource], Callable[[], str] | None] | None = None) -> bool:
        """Start a consumer per KafkaSource (targets: Knative Service name -> URL); True once all joined.
        `tokens` gives each source its OIDC token supply (None: no tokens are sent)."""
        self.consumers = start_consumers(self.topology.sources, self.bootstrap, targets, self.sink_urls(),
                                         self.stats, tokens=tokens,
                                         journal=self.journal)
        return wait_all_assigned(self.consumers, ready_timeout)

    def stop_dispatchers(self) -> None:
        for consumer in self.consumers:
            consumer.stopping.set()  # all stop polling at once; then each waits for its in-flight deliveries
        for consumer in self.consumers:
            consumer.stop()

    def stop_ingress(self) -> None:
        if self.ingress is not None:
            self.ingress.stop()

    def start_pings(self, sources: list[PingSource], targets: Mapping[str, str],
                    tokens: Callable[[PingSource], Callable[[], str] | None] | None = None) -> PingRunner:
        """Run the PingSources (targets: Knative Service name -> URL) on their schedules."""
        self.pings = PingRunner(sources, targets, tokens=tokens).start()
        return self.pings

    def stop_pings(self) -> None:
        if self.pings is not None:
            self.pings.stop()
