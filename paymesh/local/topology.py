"""What `eventing/` asks Knative for, read from the same YAML files: KafkaSources and KafkaSinks."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DEFAULT_RETRY = 10
DEFAULT_BACKOFF_DELAY = 0.3
_DURATION = re.compile(r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?"
                       r"(?:(?P<s>\d+(?:\.\d+)?)S)?)?$")


def iso_seconds(text: str) -> float:
    """ISO 8601 duration (PT0.5S, PT1M, P1DT2H) in seconds."""
    match = _DURATION.match(text.strip())
    if not match or text.strip() in {"P", "PT"}:
        raise ValueError(f"not an ISO 8601 duration: {text!r}")
    parts = {name: float(value) for name, value in match.groupdict().items() if value}
    return parts.get("d", 0) * 86400 + parts.get("h", 0) * 3600 + parts.get("m", 0) * 60 + parts.get("s", 0)


@dataclass(frozen=True)
class Delivery:
    retry: int = DEFAULT_RETRY
    backoff_policy: str = "exponential"
    backoff_delay: float = DEFAULT_BACKOFF_DELAY
    timeout: float | None = None
    dead_letter_sink: str | None = None  # name of a KafkaSink in the source's namespace

    def backoff(self, retry_number: int) -> float:
        """Wait before retry number `retry_number` (1-based): Knative's backoffDelay * 2^n (exponential) or * n."""
        if self.backoff_policy == "linear":
            return self.backoff_delay * retry_number
        return float(self.backoff_delay * 2**retry_number)

    @classmethod
    def from_spec(cls, spec: dict[str, Any] | None) -> Delivery:
        if spec is None:
            return cls()  # Knative's defaults apply only when `delivery` is omitted
        ref = ((spec.get("deadLetterSink") or {}).get("ref") or {})
        if ref and ref.get("kind") != "KafkaSink":
            raise ValueError(f"dead-letter sink kind {ref.get('kind')!r} is not supported locally (KafkaSink only)")
        return cls(
            retry=int(spec.get("retry", 0)),
            backoff_policy=str(spec.get("backoffPolicy", "exponential")),
            backoff_delay=iso_seconds(str(spec.get("backoffDelay", "PT0.3S"))),
            timeout=iso_seconds(str(spec["timeout"])) if spec.get("timeout") else None,
            dead_letter_sink=ref.get("name"),
        )


@dataclass(frozen=True)
class KafkaSource:
    name: str
    namespace: str
    topics: tuple[str, ...]
    consumer_group: str
    initial_offset: str
    ordering: str
    delivery: Delivery
    sink: str  # name of the Knative Service (or a URI) events are sent to
    audience: str | None = None  # spec.sink.audience: the OIDC audience of the token sent with each event

    @property
    def base_source(self) -> str:
        return f"/apis/v1/namespaces/{self.namespace}/kafkasources/{self.name}"


@dataclass(frozen=True)
class KafkaSink:
    name: str
    namespace: str
    topic: str
    content_mode: str = "binary"

    @property
    def path(self) -> str:
        return f"/{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Topology:
    sources: tuple[KafkaSource, ...]
    sinks: tuple[KafkaSink, ...]

    def sink(self, namespace: str, name: str) -> KafkaSink | None:
        return next((sink for sink in self.sinks if (sink.namespace, sink.name) == (namespace, name)), None)

    def topics(self) -> set[str]:
        return {sink.topic for sink in self.sinks} | {topic for source in self.sources for topic in source.topics}


def _source(document: dict[str, Any]) -> KafkaSource:
    meta, spec = document["metadata"], document["spec"]
    name = str(meta["name"])
    sink = spec.get("sink") or {}
    target = (sink.get("ref") or {}).get("name") or sink.get("uri")
    if not target:
        raise ValueError(f"KafkaSource {name}: spec.sink is required")
    return KafkaSource(
        name=name,
        namespace=str(meta.get("namespace", "default")),
        topics=tuple(str(topic) for topic in spec["topics"]),
        # Knative names the group after the source's UID when none is given; the name is stable enough here.
        consumer_group=str(spec.get("consumerGroup") or f"knative-kafka-source-{name}"),
        initial_offset=str(spec.get("initialOffset", "latest")),
        ordering=str(spec.get("ordering", "ordered")),
        delivery=Delivery.from_spec(spec.get("delivery")),
        sink=str(target),
        audience=str(sink["audience"]) if sink.get("audience") else None,
    )


def _sink(document: dict[str, Any]) -> KafkaSink:
    meta, spec = document["metadata"], document["spec"]
    return KafkaSink(name=str(meta["name"]), namespace=str(meta.get("namespace", "default")),
                     topic=str(spec["topic"]), content_mode=str(spec.get("contentMode", "binary")))


def load(directory: Path) -> Topology:
    """Every KafkaSource and KafkaSink in directory/*/*.yaml (other kinds are someone else's)."""
    sources: list[KafkaSource] = []
    sinks: list[KafkaSink] = []
    for path in sorted(directory.glob("*/*.yaml")) + sorted(directory.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if not isinstance(document, dict):
                continue
            kind = document.get("kind")
            if kind == "KafkaSource":
                sources.append(_source(document))
            elif kind == "KafkaSink":
                sinks.append(_sink(document))
    return Topology(tuple(sources), tuple(sinks))
