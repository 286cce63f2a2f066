"""Every Knative manifest validates against the upstream CRD schema, with unknown fields rejected."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from jsonschema import Draft7Validator  # type: ignore[import-untyped]

from tests.deploy.crds import errors, load_validators
from tests.deploy.manifests import all_documents, doc_id

KNATIVE_GROUPS = ("serving.knative.dev", "sources.knative.dev", "eventing.knative.dev", "flows.knative.dev")
STRIMZI_KINDS = {("kafka.strimzi.io/v1beta2", "KafkaTopic"), ("kafka.strimzi.io/v1beta2", "KafkaUser")}
# Core Kubernetes kinds have no CRD: tests/deploy/test_access.py checks their shape.
CORE_KINDS = {("networking.k8s.io/v1", "NetworkPolicy"), ("v1", "ServiceAccount")}
KNATIVE_DOCS = [entry for entry in all_documents() if entry[1]["apiVersion"].split("/")[0] in KNATIVE_GROUPS]


@pytest.fixture(scope="module")
def validators() -> dict[tuple[str, str], Draft7Validator]:
    return load_validators()


def test_every_manifest_has_a_known_kind(validators: dict[tuple[str, str], Draft7Validator]) -> None:
    kinds = {(doc["apiVersion"], doc["kind"]) for _, doc in all_documents()}
    unknown = kinds - set(validators) - STRIMZI_KINDS - CORE_KINDS
    assert not unknown, f"no schema for {unknown}"
    assert {doc["kind"] for _, doc in KNATIVE_DOCS} == {"Service", "KafkaSource", "KafkaSink", "PingSource"}


@pytest.mark.parametrize("entry", KNATIVE_DOCS, ids=doc_id)
def test_manifest_matches_its_crd(entry: tuple[str, dict[str, Any]],
                                  validators: dict[tuple[str, str], Draft7Validator]) -> None:
    assert errors(validators, entry[1]) == []


def _first(kind: str) -> dict[str, Any]:
    return copy.deepcopy(next(doc for _, doc in KNATIVE_DOCS if doc["kind"] == kind))


@pytest.mark.parametrize(("kind", "path", "field", "value"), [
    ("KafkaSource", ["spec", "delivery"], "retries", 3),  # the field is `retry`
    ("KafkaSource", ["spec", "net", "sasl"], "mechanism", "SCRAM-SHA-512"),  # `type`, via a secretKeyRef
    ("KafkaSource", ["spec"], "offset", "earliest"),
    ("KafkaSink", ["spec"], "partitions", 3),
    ("KafkaSink", ["spec", "auth", "secret", "ref"], "namespace", "paymesh"),
    ("Service", ["spec", "template", "spec", "containers", 0, "securityContext"], "readOnlyRootFileSystem", True),
    ("Service", ["spec", "template", "spec", "containers", 0, "readinessProbe", "httpGet"], "url", "/ready"),
    ("Service", ["spec", "template", "spec"], "minScale", 0),
])
def test_an_unknown_field_fails_validation(kind: str, path: list[Any], field: str, value: Any,
                                           validators: dict[tuple[str, str], Draft7Validator]) -> None:
    doc = _first(kind)
    node: Any = doc
    for key in path:
        node = node[key]
    node[field] = value
    found = errors(validators, doc)
    assert any(field in message for message in found), found


@pytest.mark.parametrize(("kind", "path", "value"), [
    ("KafkaSource", ["spec", "delivery", "retry"], "six"),
    ("KafkaSource", ["spec", "topics"], "payments.payment-requested"),  # a list, not a string
    ("KafkaSink", ["spec", "contentMode"], "avro"),
    ("Service", ["spec", "template", "spec", "containerConcurrency"], "twenty"),
])
def test_a_wrong_value_fails_validation(kind: str, path: list[Any], value: Any,
                                        validators: dict[tuple[str, str], Draft7Validator]) -> None:
    doc = _first(kind)
    node: Any = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert errors(validators, doc) != []


def test_unknown_fields_are_allowed_only_where_the_crd_preserves_them(
        validators: dict[tuple[str, str], Draft7Validator]) -> None:
    # template.metadata is x-kubernetes-preserve-unknown-fields in the Service CRD: anything goes there.
    doc = _first("Service")
    doc["spec"]["template"]["metadata"]["anything"] = {"at": "all"}
    assert errors(validators, doc) == []
