"""Who may reach and call the functions: every Service cluster-local and covered by an ingress NetworkPolicy (default
deny), NetworkPolicies of the networking.k8s.io/v1 shape, and the audiences and subjects of the KafkaSources' tokens
accepted by the Services they deliver to, also after `paymesh deploy` moves everything to another namespace."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator  # type: ignore[import-untyped]

from paymesh.deploy import Target, retarget
from tests.deploy.access_policy import auth_rules, env_of, network_rules
from tests.deploy.manifests import all_documents

Document = dict[str, Any]

# networking.k8s.io/v1 NetworkPolicy as the API server's OpenAPI schema has it, strict: an unknown field is an error.
_SELECTOR = {"type": "object", "additionalProperties": False, "properties": {
    "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}},
    "matchExpressions": {"type": "array", "items": {
        "type": "object", "additionalProperties": False, "required": ["key", "operator"],
        "properties": {"key": {"type": "string"}, "operator": {"enum": ["In", "NotIn", "Exists", "DoesNotExist"]},
                       "values": {"type": "array", "items": {"type": "string"}}}}}}}
_PEER = {"type": "object", "additionalProperties": False, "minProperties": 1, "properties": {
    "podSelector": _SELECTOR, "namespaceSelector": _SELECTOR,
    "ipBlock": {"type": "object", "additionalProperties": False, "required": ["cidr"],
                "properties": {"cidr": {"type": "string"}, "except": {"type": "array", "items": {"type": "string"}}}}}}
_PORT = {"type": "object", "additionalProperties": False, "properties": {
    "protocol": {"enum": ["TCP", "UDP", "SCTP"]}, "port": {"type": ["integer", "string"]},
    "endPort": {"type": "integer"}}}
_RULE = {"type": "object", "additionalProperties": False, "properties": {
    "from": {"type": "array", "items": _PEER}, "to": {"type": "array", "items": _PEER},
    "ports": {"type": "array", "items": _PORT}}}
NETWORK_POLICY = {
    "type": "object", "additionalProperties": False, "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "networking.k8s.io/v1"}, "kind": {"const": "NetworkPolicy"},
        "metadata": {"type": "object", "required": ["name", "namespace"]},
        "spec": {"type": "object", "additionalProperties": False, "required": ["podSelector"], "properties": {
            "podSelector": _SELECTOR, "policyTypes": {"type": "array", "items": {"enum": ["Ingress", "Egress"]}},
            "ingress": {"type": "array", "items": _RULE}, "egress": {"type": "array", "items": _RULE}}}}}
SERVICE_ACCOUNT = {"type": "object", "required": ["apiVersion", "kind", "metadata"], "additionalProperties": False,
                   "properties": {"apiVersion": {"const": "v1"}, "kind": {"const": "ServiceAccount"},
                                  "metadata": {"type": "object", "required": ["name", "namespace"]},
                                  "automountServiceAccountToken": {"type": "boolean"}}}
SCHEMAS = {"NetworkPolicy": Draft7Validator(NETWORK_POLICY), "ServiceAccount": Draft7Validator(SERVICE_ACCOUNT)}


def _docs() -> list[Document]:
    return [copy.deepcopy(doc) for _, doc in all_documents()]


def _shape_errors(doc: Document) -> list[str]:
    return [error.message for error in SCHEMAS[doc["kind"]].iter_errors(doc)]


def test_the_manifests_keep_every_function_private_and_agree_on_tokens() -> None:
    docs = _docs()
    assert len([doc for doc in docs if doc["kind"] == "NetworkPolicy"]) == 5
    assert list(network_rules(docs)) == []
    assert list(auth_rules(docs)) == []


def test_core_kinds_have_the_kubernetes_shape() -> None:
    core = [doc for doc in _docs() if doc["kind"] in SCHEMAS]
    assert {doc["kind"] for doc in core} == set(SCHEMAS)
    assert {doc["metadata"]["name"]: _shape_errors(doc) for doc in core} == {
        doc["metadata"]["name"]: [] for doc in core}


@pytest.mark.parametrize(("path", "value", "expected"), [
    (["spec", "ingres"], [], "Additional properties"),
    (["spec", "policyTypes"], ["Inbound"], "is not one of"),
    (["spec", "ingress", 0, "from", 0, "namespaceSelector", "matchLabel"], {}, "Additional properties"),
    (["spec", "ingress", 0, "ports", 0, "protocol"], "HTTP", "is not one of"),
])
def test_a_malformed_network_policy_fails_the_shape_check(path: list[Any], value: Any, expected: str) -> None:
    policy = next(doc for doc in _docs() if doc["kind"] == "NetworkPolicy" and doc["spec"].get("ingress"))
    node: Any = policy
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert any(expected in message for message in _shape_errors(policy))


def _service(docs: list[Document], name: str) -> Document:
    return next(doc for doc in docs if doc["kind"] == "Service" and doc["metadata"]["name"] == name)


def _set_env(name: str, value: str) -> Callable[[list[Document]], None]:
    def mutate(docs: list[Document]) -> None:
        for item in _service(docs, "ledger")["spec"]["template"]["spec"]["containers"][0]["env"]:
            if item["name"] == name:
                item["value"] = value
    return mutate


def _drop_policy(name: str) -> Callable[[list[Document]], None]:
    def mutate(docs: list[Document]) -> None:
        docs[:] = [doc for doc in docs if doc["metadata"]["name"] != name or doc["kind"] != "NetworkPolicy"]
    return mutate


def _open_rule(docs: list[Document]) -> None:
    policy = next(doc for doc in docs if doc["metadata"]["name"] == "ledger-ingress")
    policy["spec"]["ingress"].append({"ports": [{"protocol": "TCP", "port": 8012}]})


def _public(docs: list[Document]) -> None:
    del _service(docs, "audit")["metadata"]["labels"]["networking.knative.dev/visibility"]


def _wrong_audience(docs: list[Document]) -> None:
    source = next(doc for doc in docs if doc["kind"] == "KafkaSource" and doc["spec"]["sink"]["ref"]["name"] == "ledger")
    source["spec"]["sink"]["audience"] = "payments"


@pytest.mark.parametrize(("mutate", "expected"), [
    (_drop_policy("paymesh-default-deny-ingress"), "no default-deny"),
    (_drop_policy("ledger-ingress"), "ledger: no ingress NetworkPolicy"),
    (_open_rule, "without `from` admits everyone"),
    (_public, "audit: the Service must be labelled"),
], ids=["no-default-deny", "uncovered-service", "open-rule", "public-service"])
def test_each_network_rule_catches_what_it_is_for(mutate: Callable[[list[Document]], None], expected: str) -> None:
    docs = _docs()
    mutate(docs)
    assert any(expected in message for message in network_rules(docs)), list(network_rules(docs))


@pytest.mark.parametrize(("mutate", "expected"), [
    (_wrong_audience, "is not the audience 'ledger'"),
    (_set_env("PAYMESH_AUTH_AUDIENCE", "ledger-v2"), "is not the audience 'ledger-v2'"),
    (_set_env("PAYMESH_AUTH_SENDERS", "system:serviceaccount:paymesh:someone"), "not among ledger's senders"),
    (_set_env("PAYMESH_AUTH_READERS", "system:serviceaccount:paymesh:nobody"), "PAYMESH_AUTH_READERS must name"),
    (_set_env("PAYMESH_AUTH_ISSUER", ""), "PAYMESH_AUTH_ISSUER must be set"),
], ids=["source-audience", "service-audience", "senders", "readers", "issuer"])
def test_each_auth_rule_catches_what_it_is_for(mutate: Callable[[list[Document]], None], expected: str) -> None:
    docs = _docs()
    mutate(docs)
    assert any(expected in message for message in auth_rules(docs)), list(auth_rules(docs))


def test_tokens_still_agree_after_a_deploy_to_another_namespace() -> None:
    moved = [retarget(doc, Target("pay-prod", "registry.example.com/team", "1.0")) for doc in _docs()]
    assert list(auth_rules(moved)) == []
    assert list(network_rules(moved)) == []
    senders = env_of(_service(moved, "payments"))["PAYMESH_AUTH_SENDERS"]
    assert senders == "system:serviceaccount:pay-prod:payments-source-oidc-sources.knative.dev-kafkasource"


def test_the_deploy_guide_names_the_features_and_how_to_get_a_token() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for needle in ("authentication-oidc", "transport-encryption", "kubectl create token", "--audience",
                   "networking.knative.dev/visibility: cluster-local", "paymesh token --role"):
        assert needle in readme, needle
