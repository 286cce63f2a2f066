"""Every manifest meets the deployment policy, and each policy rule catches what it is for."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from tests.deploy.manifests import all_documents, of_kind
from tests.deploy.policy import violations

Document = dict[str, Any]


def test_the_manifests_meet_the_policy() -> None:
    docs = [doc for _, doc in all_documents()]
    assert {doc["kind"] for doc in docs} >= {"Service", "KafkaSource", "KafkaSink"}
    assert violations(docs) == []


def _container(doc: Document) -> Document:
    container: Document = doc["spec"]["template"]["spec"]["containers"][0]
    return container


def _annotations(doc: Document) -> Document:
    annotations: Document = doc["spec"]["template"]["metadata"]["annotations"]
    return annotations


def _set(path: list[str], value: Any) -> Callable[[Document], None]:
    def mutate(doc: Document) -> None:
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return mutate


BREAKAGES: list[tuple[str, str, Callable[[Document], None], str]] = [
    ("Service", "root user", lambda d: _container(d)["securityContext"].update(runAsUser=0), "runAsUser"),
    ("Service", "writable root", lambda d: _container(d)["securityContext"].pop("readOnlyRootFilesystem"),
     "readOnlyRootFilesystem"),
    ("Service", "privilege escalation", lambda d: _container(d)["securityContext"].update(allowPrivilegeEscalation=True),
     "allowPrivilegeEscalation"),
    ("Service", "capabilities kept", lambda d: _container(d)["securityContext"]["capabilities"].update(drop=["NET_RAW"]),
     "capabilities"),
    ("Service", "no seccomp", lambda d: _container(d)["securityContext"].pop("seccompProfile"), "seccompProfile"),
    ("Service", "no memory limit", lambda d: _container(d)["resources"]["limits"].pop("memory"), "limits.memory"),
    ("Service", "always on", lambda d: _annotations(d).update({"autoscaling.knative.dev/min-scale": "1"}), "min-scale"),
    ("Service", "unbounded", lambda d: _annotations(d).pop("autoscaling.knative.dev/max-scale"), "max-scale"),
    ("Service", "no readiness", lambda d: _container(d).pop("readinessProbe"), "readinessProbe"),
    ("Service", "liveness elsewhere", lambda d: _container(d)["livenessProbe"]["httpGet"].update(path="/health"),
     "livenessProbe"),
    ("Service", "database url in clear",
     lambda d: _container(d)["env"].__setitem__(
         next(i for i, e in enumerate(_container(d)["env"]) if e["name"] == "DATABASE_URL"),
         {"name": "DATABASE_URL", "value": "postgresql://u:p@db/x"}), "DATABASE_URL"),
    ("Service", "password literal",
     lambda d: _container(d)["env"].append({"name": "PAYMESH_X_PASSWORD", "value": "hunter2"}), "PAYMESH_X_PASSWORD"),
    ("Service", "sink env to a missing sink",
     lambda d: _container(d)["env"].append(
         {"name": "PAYMESH_SINK_NOWHERE", "value": "http://kafka-sink-ingress.knative-eventing.svc.cluster.local/paymesh/nowhere"}),
     "no KafkaSink named nowhere"),
    ("Service", "foreign image", lambda d: _container(d).update(image="nginx:latest"), "image"),
    ("Service", "threads differ from the hard limit",
     lambda d: d["spec"]["template"]["spec"].update(containerConcurrency=1000), "THREADS"),
    ("Service", "unlabelled", lambda d: d["metadata"]["labels"].pop("app.kubernetes.io/component"), "labels"),
    ("Service", "storeless by mistake", lambda d: _annotations(d).update({"paymesh.dev/store": "none"}),
     "paymesh.dev/store=none but is given a DATABASE_URL"),
    ("Service", "another function's image", lambda d: d["spec"]["template"]["metadata"]["labels"].update(
        {"app.kubernetes.io/name": "ledger"}), "image must be <registry>/paymesh-ledger:<tag>"),
    ("KafkaSource", "default delivery", lambda d: d["spec"].pop("delivery"), "delivery must be explicit"),
    ("KafkaSource", "zero retries", lambda d: d["spec"]["delivery"].pop("retry"), "delivery.retry"),
    ("KafkaSource", "no backoff", lambda d: d["spec"]["delivery"].pop("backoffDelay"), "backoffDelay"),
    ("KafkaSource", "no dead letters", lambda d: d["spec"]["delivery"].pop("deadLetterSink"), "deadLetterSink"),
    ("KafkaSource", "dead letters to nowhere", _set(["spec", "delivery", "deadLetterSink", "ref", "name"], "ghost"),
     "dead-letter sink ghost"),
    ("KafkaSource", "unordered without a reason",
     lambda d: (d["spec"].update(ordering="unordered"), d["metadata"].pop("annotations", None)),
     "ordering must be ordered"),
    ("KafkaSource", "latest offset", _set(["spec", "initialOffset"], "latest"), "initialOffset"),
    ("KafkaSource", "plaintext", lambda d: d["spec"]["net"]["tls"].update(enable=False), "net.tls"),
    ("KafkaSource", "password inline", _set(["spec", "net", "sasl", "password"], {"value": "x"}), "net.sasl"),
    ("KafkaSink", "owns the topic", lambda d: d["spec"].update(numPartitions=3, replicationFactor=3), "numPartitions"),
    ("KafkaSink", "structured", _set(["spec", "contentMode"], "structured"), "contentMode"),
    ("KafkaSink", "anonymous", lambda d: d["spec"].pop("auth"), "auth.secret.ref.name"),
]


@pytest.mark.parametrize(("kind", "label", "mutate", "expected"), BREAKAGES, ids=[b[1] for b in BREAKAGES])
def test_each_rule_catches_its_breakage(kind: str, label: str, mutate: Callable[[Document], None],
                                        expected: str) -> None:
    docs = [copy.deepcopy(doc) for _, doc in all_documents()]
    victim = next(doc for doc in docs if doc["kind"] == kind)
    mutate(victim)
    found = violations(docs)
    assert any(expected in message for message in found), found


def test_every_function_has_a_service_and_a_source() -> None:
    services = {doc["metadata"]["name"] for doc in of_kind("Service")}
    sources = {doc["metadata"]["name"] for doc in of_kind("KafkaSource")}
    functions = {"payments", "ledger", "notifications", "audit"}
    # the gateway events service runs the payments image and reads no topic: Stripe posts to it
    assert services == functions | {"payments-gateway-events"}
    assert sources == {f"{name}-source" for name in functions}
