"""The tracing set-up of the manifests: every function reads the optional paymesh-otel ConfigMap, and that
ConfigMap asks for what shared/tracing.py supports, pointing at the example collector's OTLP/HTTP port."""

from __future__ import annotations

from pathlib import Path

import yaml

from shared import tracing
from tests.deploy.manifests import REPO

OTEL = REPO / "deploy" / "observability" / "otel.yaml"


def _documents(path: Path) -> list[dict[str, object]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if isinstance(doc, dict)]


def test_every_function_reads_the_optional_otel_configmap() -> None:
    services = [(path, doc) for path in sorted((REPO / "knative").glob("*.yaml")) for doc in _documents(path)
                if doc.get("kind") == "Service"]
    assert len(services) == 4
    for path, doc in services:
        for container in doc["spec"]["template"]["spec"]["containers"]:  # type: ignore[index]
            refs = [source["configMapRef"] for source in container.get("envFrom", []) if "configMapRef" in source]
            assert {"name": "paymesh-otel", "optional": True} in refs, path.name


def test_the_otel_configmap_turns_tracing_on_and_points_at_the_collector() -> None:
    docs = {(doc["kind"], doc["metadata"]["name"]): doc for doc in _documents(OTEL)}  # type: ignore[index]
    environment = docs[("ConfigMap", "paymesh-otel")]["data"]
    assert tracing.requested(environment)
    assert "OTEL_SERVICE_NAME" not in environment  # each function names its own spans
    assert environment["OTEL_EXPORTER_OTLP_PROTOCOL"] in tracing.SUPPORTED_PROTOCOLS
    service = docs[("Service", "paymesh-otel-collector")]
    host = f"http://{service['metadata']['name']}.{service['metadata']['namespace']}.svc.cluster.local:4318"
    assert environment["OTEL_EXPORTER_OTLP_ENDPOINT"] == host
    collector = yaml.safe_load(docs[("ConfigMap", "paymesh-otel-collector")]["data"]["config.yaml"])
    assert collector["receivers"]["otlp"]["protocols"]["http"]["endpoint"].endswith(":4318")
    assert collector["service"]["pipelines"]["traces"]["receivers"] == ["otlp"]
