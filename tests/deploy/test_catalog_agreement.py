"""The manifests and the functions agree: what each FunctionSpec consumes is exactly its KafkaSource's
topics, and every type it emits has a KafkaSink and the Service env var that addresses it."""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

import pytest

from paymesh.deploy import FUNCTIONS, SINK_INGRESS
from shared.config import RuntimeSettings, sink_env_name
from shared.contract import FunctionSpec
from shared.events import CATALOG, dead_letter_topic
from tests.deploy.manifests import of_kind


def build_spec(function: str) -> FunctionSpec:
    module = importlib.import_module(f"functions.{function}.app")  # an import error fails the test
    settings_cls = getattr(module, f"{function.capitalize()}Settings")
    assert issubclass(settings_cls, RuntimeSettings)
    spec = module.build_spec(settings_cls())
    assert isinstance(spec, FunctionSpec) and spec.name == function
    return spec


def _by_name(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in of_kind(kind)}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_source_topics_are_exactly_the_consumed_types(function: str) -> None:
    spec = build_spec(function)
    source = _by_name("KafkaSource")[f"{function}-source"]["spec"]
    assert set(source["topics"]) == set(spec.consumed_topics)
    assert len(source["topics"]) == len(set(source["topics"]))
    assert source["consumerGroup"] == f"paymesh-{function}"
    assert source["sink"]["ref"] == {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": function}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_emitted_type_has_its_sink_and_env_var(function: str) -> None:
    spec = build_spec(function)
    sinks = _by_name("KafkaSink")
    service = _by_name("Service")[function]
    env = {item["name"]: item.get("value") for item in service["spec"]["template"]["spec"]["containers"][0]["env"]}
    for topic in spec.outputs:
        assert topic in CATALOG, f"{function} emits {topic}, which is not in the catalog"
        sink_name = topic.replace(".", "-")
        assert sinks[sink_name]["spec"]["topic"] == topic
        assert env[sink_env_name(topic)] == f"{SINK_INGRESS}/paymesh/{sink_name}"
    # and nothing more: a sink env var for a type the function never emits is a wiring mistake
    assert {name for name in env if name.startswith("PAYMESH_SINK_")} == {sink_env_name(t) for t in spec.outputs}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_dead_letters_go_to_the_function_dead_letter_topic(function: str) -> None:
    source = _by_name("KafkaSource")[f"{function}-source"]["spec"]
    sink = _by_name("KafkaSink")[source["delivery"]["deadLetterSink"]["ref"]["name"]]
    assert sink["metadata"]["name"] == f"{function}-dead-letter"
    assert sink["spec"]["topic"] == dead_letter_topic(function)


def test_every_sink_is_an_output_or_a_dead_letter_topic() -> None:
    outputs = {t for function in FUNCTIONS for t in build_spec(function).outputs}
    expected = outputs | {dead_letter_topic(function) for function in FUNCTIONS}
    assert {sink["spec"]["topic"] for sink in of_kind("KafkaSink")} == expected


def test_every_consumed_topic_is_a_catalog_type() -> None:
    consumed = {t for source in of_kind("KafkaSource") for t in source["spec"]["topics"]}
    assert consumed <= set(CATALOG)
