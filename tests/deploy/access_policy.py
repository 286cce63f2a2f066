"""Rules for who may reach and call the functions, over the whole manifest set: every Service cluster-local and
covered by an ingress NetworkPolicy under a default deny, and each KafkaSource's token audience and identity
accepted by the Service it delivers to. Each rule yields violation messages, like tests/deploy/policy.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from paymesh.local.oidc import service_account_subject, source_account

Document = dict[str, Any]
VISIBILITY = "networking.knative.dev/visibility"
# The peers a function's pods must admit (namespace, pod label) and nothing else.
PEERS = {("knative-serving", ("app", "activator")), ("kourier-system", None),
         ("knative-serving", ("app", "autoscaler")), ("knative-eventing", ("app", "kafka-source-dispatcher")),
         ("monitoring", ("app.kubernetes.io/name", "prometheus"))}


def env_of(service: Document) -> dict[str, str]:
    container = service["spec"]["template"]["spec"]["containers"][0]
    return {item["name"]: str(item.get("value", "")) for item in container.get("env", [])}


def _peer(peer: Document) -> tuple[str | None, tuple[str, str] | None]:
    namespace = peer.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
    pods = peer.get("podSelector", {}).get("matchLabels", {})
    return namespace, (next(iter(pods.items())) if len(pods) == 1 else None)


def network_rules(docs: list[Document]) -> Iterator[str]:
    services = [doc for doc in docs if doc["kind"] == "Service"]
    policies = [doc for doc in docs if doc["kind"] == "NetworkPolicy"]
    namespaces = {doc["metadata"]["namespace"] for doc in services}
    for namespace in sorted(namespaces):
        if not any(p["metadata"]["namespace"] == namespace and p["spec"].get("podSelector") == {}
                   and "Ingress" in p["spec"].get("policyTypes", []) and not p["spec"].get("ingress")
                   for p in policies):
            yield f"namespace {namespace}: no default-deny ingress NetworkPolicy"
    for service in services:
        name = service["metadata"]["name"]
        if service["metadata"].get("labels", {}).get(VISIBILITY) != "cluster-local":
            yield f"{name}: the Service must be labelled {VISIBILITY}: cluster-local"
        covering = [p for p in policies if p["spec"].get("podSelector", {}).get("matchLabels")
                    == {"serving.knative.dev/service": name} and "Ingress" in p["spec"].get("policyTypes", [])]
        if not covering:
            yield f"{name}: no ingress NetworkPolicy selects its pods"
            continue
        admitted = set()
        for policy in covering:
            for rule in policy["spec"].get("ingress", []):
                if not rule.get("from"):
                    yield f"{policy['metadata']['name']}: an ingress rule without `from` admits everyone"
                if not rule.get("ports"):
                    yield f"{policy['metadata']['name']}: an ingress rule without `ports` admits every port"
                for peer in rule.get("from", []):
                    if "ipBlock" in peer:
                        yield f"{policy['metadata']['name']}: ipBlock peers are not expected"
                    admitted.add(_peer(peer))
        if admitted != PEERS:
            yield f"{name}: admits {sorted(map(str, admitted))}, expected exactly {sorted(map(str, PEERS))}"


def auth_rules(docs: list[Document]) -> Iterator[str]:
    services = {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == "Service"}
    accounts = {service_account_subject(doc["metadata"]["namespace"], doc["metadata"]["name"])
                for doc in docs if doc["kind"] == "ServiceAccount"}
    for name, service in services.items():
        env = env_of(service)
        if not env.get("PAYMESH_AUTH_ISSUER", "").startswith("https://"):
            yield f"{name}: PAYMESH_AUTH_ISSUER must be set to the cluster's https issuer"
        for variable in ("PAYMESH_AUTH_READERS", "PAYMESH_AUTH_ADMINS"):
            unknown = {s for s in env.get(variable, "").split(",") if s} - accounts
            if unknown or not env.get(variable):
                yield f"{name}: {variable} must name service accounts the manifests create (unknown: {unknown})"
    for source in (doc for doc in docs if doc["kind"] in ("KafkaSource", "PingSource")):
        sink = source["spec"]["sink"]
        service = services.get(sink.get("ref", {}).get("name"))
        if service is None:
            continue  # policy.set_rules reports it
        env = env_of(service)
        audience = env.get("PAYMESH_AUTH_AUDIENCE") or service["metadata"]["name"]
        if sink.get("audience") != audience:
            yield (f"{source['metadata']['name']}: sink.audience {sink.get('audience')!r} is not the audience "
                   f"{audience!r} its Service accepts")
        subject = service_account_subject(source["metadata"]["namespace"],
                                          source_account(source["kind"], source["metadata"]["name"]))
        if subject not in env.get("PAYMESH_AUTH_SENDERS", "").split(","):
            yield f"{source['metadata']['name']}: its OIDC subject {subject} is not among {service['metadata']['name']}'s senders"
