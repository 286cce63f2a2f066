"""The deployment policy, written the way an OPA/Gatekeeper rule set would be: each rule looks at one
document (or the whole set) and yields violation messages. The tests run them over the manifests and
over deliberately broken copies, so each rule is shown to catch what it is for."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from paymesh.deploy import SINK_INGRESS
from shared.config import sink_env_name

Document = dict[str, Any]
SECRET_LIKE = re.compile(r"PASSWORD|SECRET|TOKEN|(^|_)KEY($|_)|DATABASE_URL")
# A Service without a database (the gateway events service) says so; every other one needs its DATABASE_URL.
STORE_ANNOTATION = "paymesh.dev/store"
REQUIRED_LABELS = ("app.kubernetes.io/name", "app.kubernetes.io/part-of", "app.kubernetes.io/component")


def service_rules(doc: Document) -> Iterator[str]:
    name = doc["metadata"]["name"]
    template = doc["spec"]["template"]
    annotations = template["metadata"].get("annotations", {})
    if annotations.get("autoscaling.knative.dev/min-scale") != "0":
        yield f"{name}: min-scale must be 0 (scale to zero)"
    for key in ("max-scale", "target", "initial-scale"):
        if not str(annotations.get(f"autoscaling.knative.dev/{key}", "")).isdigit():
            yield f"{name}: autoscaling.knative.dev/{key} must be set"
    if not isinstance(template["spec"].get("containerConcurrency"), int) or template["spec"]["containerConcurrency"] < 1:
        yield f"{name}: containerConcurrency must be a positive hard limit"
    for meta in (doc["metadata"], template["metadata"]):
        labels = meta.get("labels", {})
        if any(key not in labels for key in REQUIRED_LABELS) or labels.get("app.kubernetes.io/part-of") != "paymesh":
            yield f"{name}: labels {REQUIRED_LABELS} with part-of=paymesh are required"
    for container in template["spec"]["containers"]:
        yield from _container_rules(name, container, template["metadata"].get("labels", {}).get(
            "app.kubernetes.io/name", name), stateful=annotations.get(STORE_ANNOTATION) != "none")
        threads = {e["name"]: e.get("value") for e in container.get("env", [])}.get("THREADS")
        if threads != str(template["spec"].get("containerConcurrency")):
            yield f"{name}: THREADS (gunicorn threads) must equal containerConcurrency"


def _container_rules(name: str, container: Document, image: str, *, stateful: bool) -> Iterator[str]:
    """`image`: the function whose image it runs (its app.kubernetes.io/name); `stateful`: it has a store."""
    sc = container.get("securityContext", {})
    expected = {"runAsNonRoot": True, "runAsUser": 1001, "readOnlyRootFilesystem": True,
                "allowPrivilegeEscalation": False}
    for key, value in expected.items():
        if sc.get(key) != value:
            yield f"{name}: securityContext.{key} must be {value}"
    if "ALL" not in sc.get("capabilities", {}).get("drop", []):
        yield f"{name}: securityContext.capabilities.drop must contain ALL"
    if sc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        yield f"{name}: securityContext.seccompProfile.type must be RuntimeDefault"
    resources = container.get("resources", {})
    for section in ("requests", "limits"):
        for resource in ("cpu", "memory"):
            if resource not in resources.get(section, {}):
                yield f"{name}: resources.{section}.{resource} must be set"
    for probe, path in (("readinessProbe", "/ready"), ("livenessProbe", "/live")):
        if container.get(probe, {}).get("httpGet", {}).get("path") != path:
            yield f"{name}: {probe} must be an httpGet on {path}"
    if not re.fullmatch(rf"[^\s:]+(:\d+)?(/[^\s:]+)*/paymesh-{re.escape(image)}:[\w.-]+", container.get("image", "")):
        yield f"{name}: image must be <registry>/paymesh-{image}:<tag>"
    env = {item["name"]: item for item in container.get("env", [])}
    if stateful and "secretKeyRef" not in env.get("DATABASE_URL", {}).get("valueFrom", {}):
        yield f"{name}: DATABASE_URL must come from a Secret (secretKeyRef)"
    if not stateful and "DATABASE_URL" in env:
        yield f"{name}: declared {STORE_ANNOTATION}=none but is given a DATABASE_URL"
    for key, item in env.items():
        if SECRET_LIKE.search(key) and "value" in item:
            yield f"{name}: {key} looks secret and must come from a Secret, not a literal value"


def source_rules(doc: Document) -> Iterator[str]:
    name = doc["metadata"]["name"]
    spec = doc["spec"]
    delivery = spec.get("delivery")
    if delivery is None:
        yield f"{name}: delivery must be explicit"
        return
    if not isinstance(delivery.get("retry"), int) or delivery["retry"] < 1:
        yield f"{name}: delivery.retry must be explicit and >= 1 (a delivery block without it means 0 retries)"
    for key in ("backoffPolicy", "backoffDelay", "timeout"):
        if key not in delivery:
            yield f"{name}: delivery.{key} must be set"
    ref = delivery.get("deadLetterSink", {}).get("ref", {})
    if ref.get("kind") != "KafkaSink" or not ref.get("name"):
        yield f"{name}: delivery.deadLetterSink must reference a KafkaSink (without one failed events are lost)"
    if spec.get("initialOffset") != "earliest":
        yield f"{name}: initialOffset must be earliest"
    unordered_because = doc["metadata"].get("annotations", {}).get("paymesh.dev/unordered-because")
    if spec.get("ordering") != "ordered" and not (spec.get("ordering") == "unordered" and unordered_because):
        yield f"{name}: ordering must be ordered (or unordered with a paymesh.dev/unordered-because annotation)"
    sasl, tls = spec.get("net", {}).get("sasl", {}), spec.get("net", {}).get("tls", {})
    if sasl.get("enable") is not True or any("secretKeyRef" not in sasl.get(k, {}) for k in ("user", "password", "type")):
        yield f"{name}: net.sasl must be enabled with user, password and type from secretKeyRefs"
    if tls.get("enable") is not True or "secretKeyRef" not in tls.get("caCert", {}):
        yield f"{name}: net.tls must be enabled with caCert from a secretKeyRef"


def sink_rules(doc: Document) -> Iterator[str]:
    name, spec = doc["metadata"]["name"], doc["spec"]
    if "numPartitions" in spec or "replicationFactor" in spec:
        yield f"{name}: numPartitions/replicationFactor would make the sink own (and delete) a shared topic"
    if spec.get("contentMode") != "binary":
        yield f"{name}: contentMode must be binary"
    if not spec.get("auth", {}).get("secret", {}).get("ref", {}).get("name"):
        yield f"{name}: auth.secret.ref.name must be set"
    if name != spec["topic"].replace(".", "-"):
        yield f"{name}: a KafkaSink is named after its topic with dots as dashes"


def set_rules(docs: list[Document]) -> Iterator[str]:
    """Rules across documents: references resolve, env vars and sinks agree."""
    sinks = {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == "KafkaSink"}
    services = {doc["metadata"]["name"] for doc in docs if doc["kind"] == "Service"}
    for doc in docs:
        if doc["kind"] == "KafkaSource":
            dead = doc["spec"].get("delivery", {}).get("deadLetterSink", {}).get("ref", {}).get("name")
            if dead not in sinks:
                yield f"{doc['metadata']['name']}: dead-letter sink {dead} is not defined"
            if doc["spec"]["sink"]["ref"]["name"] not in services:
                yield f"{doc['metadata']['name']}: sink Service is not defined"
        if doc["kind"] == "Service":
            namespace = doc["metadata"]["namespace"]
            for container in doc["spec"]["template"]["spec"]["containers"]:
                for item in container.get("env", []):
                    if not item["name"].startswith("PAYMESH_SINK_"):
                        continue
                    sink_name = str(item.get("value", "")).rsplit("/", 1)[-1]
                    sink = sinks.get(sink_name)
                    if sink is None:
                        yield f"{item['name']}: no KafkaSink named {sink_name}"
                    elif sink_env_name(sink["spec"]["topic"]) != item["name"]:
                        yield f"{item['name']}: points at the sink of {sink['spec']['topic']}"
                    elif item["value"] != f"{SINK_INGRESS}/{namespace}/{sink_name}":
                        yield f"{item['name']}: must be the kafka-sink-ingress address of {sink_name}"


RULES: dict[str, Callable[[Document], Iterator[str]]] = {
    "Service": service_rules,
    "KafkaSource": source_rules,
    "KafkaSink": sink_rules,
}


def _no_rules(doc: Document) -> Iterator[str]:
    return iter(())


def violations(docs: list[Document]) -> list[str]:
    found = [message for doc in docs for message in RULES.get(doc["kind"], _no_rules)(doc)]
    return found + list(set_rules(docs))
