"""Strimzi KafkaTopic and KafkaUser resources: a structural check (the Strimzi CRDs are not available
here), written from the kafka.strimzi.io/v1beta2 API reference for the fields paymesh uses, with
unknown fields rejected; plus the topic and ACL facts the deployment depends on."""

from __future__ import annotations

import re
from typing import Any

import pytest
from jsonschema import Draft7Validator  # type: ignore[import-untyped]

from paymesh.local.partitions import FLOW_TOPICS, MINIMUM, partitions_for
from tests.deploy.manifests import all_documents, doc_id, of_kind

NAME = {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63}
METADATA = {
    "type": "object", "additionalProperties": False, "required": ["name", "namespace", "labels"],
    "properties": {"name": NAME, "namespace": NAME,
                   "labels": {"type": "object", "required": ["strimzi.io/cluster"],
                              "additionalProperties": {"type": "string"}}},
}
TOPIC_SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "kafka.strimzi.io/v1beta2"}, "kind": {"const": "KafkaTopic"}, "metadata": METADATA,
        "spec": {"type": "object", "additionalProperties": False, "required": ["topicName", "partitions", "replicas"],
                 "properties": {"topicName": {"type": "string", "pattern": r"^[a-zA-Z0-9._-]{1,249}$"},
                                "partitions": {"type": "integer", "minimum": 1},
                                "replicas": {"type": "integer", "minimum": 1, "maximum": 32767},
                                "config": {"type": "object"}}},
    },
}
OPERATIONS = ["Read", "Write", "Create", "Delete", "Alter", "Describe", "ClusterAction", "AlterConfigs",
              "DescribeConfigs", "IdempotentWrite", "All"]
ACL = {
    "type": "object", "additionalProperties": False, "required": ["resource", "operations"],
    "properties": {
        "type": {"enum": ["allow", "deny"]}, "host": {"type": "string"},
        "operations": {"type": "array", "minItems": 1, "items": {"enum": OPERATIONS}},
        "resource": {"type": "object", "additionalProperties": False, "required": ["type"],
                     "properties": {"type": {"enum": ["topic", "group", "cluster", "transactionalId"]},
                                    "name": {"type": "string"}, "patternType": {"enum": ["literal", "prefix"]}}},
    },
}
USER_SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "kafka.strimzi.io/v1beta2"}, "kind": {"const": "KafkaUser"}, "metadata": METADATA,
        "spec": {"type": "object", "additionalProperties": False, "required": ["authentication", "authorization"],
                 "properties": {
                     "authentication": {"type": "object", "additionalProperties": False, "required": ["type"],
                                        "properties": {"type": {"enum": ["tls", "tls-external", "scram-sha-512"]}}},
                     "authorization": {"type": "object", "additionalProperties": False, "required": ["type", "acls"],
                                       "properties": {"type": {"const": "simple"},
                                                      "acls": {"type": "array", "items": ACL}}}}},
    },
}
STRIMZI = [entry for entry in all_documents() if entry[1]["apiVersion"].startswith("kafka.strimzi.io/")]


@pytest.mark.parametrize("entry", STRIMZI, ids=doc_id)
def test_strimzi_resource_is_well_formed(entry: tuple[str, dict[str, Any]]) -> None:
    schema = {"KafkaTopic": TOPIC_SCHEMA, "KafkaUser": USER_SCHEMA}[entry[1]["kind"]]
    assert [e.message for e in Draft7Validator(schema).iter_errors(entry[1])] == []


def test_the_structural_check_rejects_unknown_fields() -> None:
    topic = {**of_kind("KafkaTopic")[0]}
    topic["spec"] = {**topic["spec"], "replicationFactor": 3}  # Strimzi calls it `replicas`
    assert list(Draft7Validator(TOPIC_SCHEMA).iter_errors(topic))


def test_topics_are_replicated_like_the_seed_cluster() -> None:
    for topic in of_kind("KafkaTopic"):
        spec = topic["spec"]
        assert (spec["replicas"], int(spec["config"]["min.insync.replicas"])) == (3, 2)


def test_partitions_follow_the_plan_the_local_broker_uses() -> None:
    partitions = {topic["spec"]["topicName"]: topic["spec"]["partitions"] for topic in of_kind("KafkaTopic")}
    assert partitions == {name: partitions_for(name) for name in partitions}
    assert {name for name, count in partitions.items() if count > MINIMUM} == FLOW_TOPICS


def test_every_topic_used_by_a_source_or_sink_is_declared() -> None:
    declared = {topic["spec"]["topicName"] for topic in of_kind("KafkaTopic")}
    used = {t for source in of_kind("KafkaSource") for t in source["spec"]["topics"]}
    used |= {sink["spec"]["topic"] for sink in of_kind("KafkaSink")}
    assert used == declared


def test_bootstrap_servers_point_at_the_strimzi_cluster() -> None:
    clusters = {doc["metadata"]["labels"]["strimzi.io/cluster"] for _, doc in STRIMZI}
    namespaces = {doc["metadata"]["namespace"] for _, doc in STRIMZI}
    assert len(clusters) == 1 and len(namespaces) == 1
    (cluster,), (namespace,) = clusters, namespaces
    servers = {s for kind in ("KafkaSource", "KafkaSink") for doc in of_kind(kind) for s in doc["spec"]["bootstrapServers"]}
    assert servers and all(re.fullmatch(rf"{cluster}-kafka-bootstrap\.{namespace}\.svc(\.cluster\.local)?:\d+", s)
                           for s in servers), servers


def _acl_names(user: dict[str, Any], resource: str, operation: str) -> set[str]:
    return {acl["resource"]["name"] for acl in user["spec"]["authorization"]["acls"]
            if acl["resource"]["type"] == resource and operation in acl["operations"]}


def test_each_function_user_reads_exactly_its_sources_and_writes_exactly_its_sinks() -> None:
    users = {user["metadata"]["name"]: user for user in of_kind("KafkaUser")}
    for source in of_kind("KafkaSource"):
        function = source["spec"]["sink"]["ref"]["name"]
        credentials = {ref["secretKeyRef"]["name"] for ref in source["spec"]["net"]["sasl"].values()
                       if isinstance(ref, dict)}
        assert credentials == {f"paymesh-{function}-kafka"}
        user = users[f"paymesh-{function}"]
        assert user["spec"]["authentication"]["type"] == "scram-sha-512"
        assert _acl_names(user, "topic", "Read") == set(source["spec"]["topics"])
        assert _acl_names(user, "group", "Read") == {source["spec"]["consumerGroup"]}
        sinks = {sink["spec"]["topic"] for sink in of_kind("KafkaSink")
                 if sink["spec"]["auth"]["secret"]["ref"]["name"] == f"paymesh-{function}-kafka"}
        assert _acl_names(user, "topic", "Write") == sinks
