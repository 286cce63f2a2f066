"""The Grafana dashboard and the Prometheus alert rules: valid PromQL, about metrics that exist."""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml
from prometheus_client import REGISTRY

from paymesh.deploy import FUNCTIONS
from tests.deploy.manifests import REPO

MONITORING = REPO / "deploy" / "monitoring"
SEED_METRICS = {
    "payments_processed_total", "payments_failed_total", "payment_processing_duration_seconds",
    "ledger_entries_total", "ledger_balance_total", "notifications_sent_total", "notifications_failed_total",
    "audit_events_total", "compliance_violations_total",
}
RUNTIME_METRICS = {"paymesh_events_handled_total", "paymesh_handler_duration_seconds", "kafka_messages_total",
                   "paymesh_dead_lettered_total"}
# Exported by Strimzi's Kafka Exporter, not by paymesh.
KAFKA_EXPORTER = {"kafka_consumergroup_lag", "kafka_topic_partition_current_offset"}
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$namespace": ".*"}


def _dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((MONITORING / "grafana" / "paymesh.json").read_text(encoding="utf-8"))
    return data


def _rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load((MONITORING / "prometheus" / "alerts.yaml").read_text(encoding="utf-8"))
    return [rule for group in doc["spec"]["groups"] for rule in group["rules"]]


def _dashboard_exprs() -> list[str]:
    exprs = [t["expr"] for p in _dashboard()["panels"] for t in p.get("targets", [])]
    for name, value in GRAFANA_VARIABLES.items():
        exprs = [e.replace(name, value) for e in exprs]
    return exprs


def _selectors(node: Any) -> set[str]:
    """Metric names of every vector selector in a parsed PromQL expression."""
    found = {node.name} if isinstance(node, promql_parser.VectorSelector) and node.name else set()
    for attribute in ("expr", "lhs", "rhs", "args", "vector_selector", "param"):
        child = getattr(node, attribute, None)
        for item in child if isinstance(child, list) else [child]:
            if item is not None:
                found |= _selectors(item)
    return found


def _base(name: str) -> str:
    return re.sub(r"_(bucket|count|sum)$", "", name)


ALL_EXPRS = [*_dashboard_exprs(), *(rule["expr"] for rule in _rules())]


@pytest.mark.parametrize("expr", ALL_EXPRS)
def test_every_query_is_valid_promql(expr: str) -> None:
    assert _selectors(promql_parser.parse(expr))


def test_promql_parsing_is_strict_enough_to_catch_a_broken_query() -> None:
    with pytest.raises(ValueError):
        promql_parser.parse("sum by (function (rate(paymesh_events_handled_total[5m]))")


def test_dashboard_covers_every_seed_and_runtime_metric() -> None:
    used = {_base(name) for expr in _dashboard_exprs() for name in _selectors(promql_parser.parse(expr))}
    assert used >= SEED_METRICS | RUNTIME_METRICS
    assert used <= SEED_METRICS | RUNTIME_METRICS | KAFKA_EXPORTER


def test_dashboard_shows_rates_error_rates_and_latency_histograms() -> None:
    exprs = _dashboard_exprs()
    assert any("rate(paymesh_events_handled_total" in e and 'outcome=~"rejected|transient"' in e and " / " in e
               for e in exprs)
    for histogram in ("paymesh_handler_duration_seconds", "payment_processing_duration_seconds"):
        assert any(e.startswith("histogram_quantile(0.95") and f"{histogram}_bucket" in e for e in exprs)
    heatmaps = [p for p in _dashboard()["panels"] if p["type"] == "heatmap"]
    assert {t["format"] for p in heatmaps for t in p["targets"]} == {"heatmap"}


def test_dashboard_layout_is_sound() -> None:
    panels = _dashboard()["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24
        if panel["type"] != "row":
            assert panel["targets"] and all(t["datasource"]["uid"] == "${datasource}" for t in panel["targets"])


def test_alert_rules_are_complete() -> None:
    rules = _rules()
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names))
    for rule in rules:
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_alerts_cover_error_rate_dead_letters_and_compliance() -> None:
    by_metric: dict[str, set[str]] = {}
    for rule in _rules():
        for name in _selectors(promql_parser.parse(rule["expr"])):
            by_metric.setdefault(_base(name), set()).add(rule["alert"])
    assert "PaymeshEventErrorRateHigh" in by_metric["paymesh_events_handled_total"]
    assert {"PaymeshDeadLetterGrowing", "PaymeshDeadLetterBurst"} <= by_metric["kafka_topic_partition_current_offset"]
    assert any("dead-letter" in rule["expr"] for rule in _rules() if rule["alert"] == "PaymeshDeadLetterGrowing")
    assert {"PaymeshComplianceViolation", "PaymeshComplianceViolationCritical"} <= by_metric["compliance_violations_total"]


def test_monitored_metrics_are_the_ones_the_code_registers() -> None:
    importlib.import_module("shared.observability")
    for function in FUNCTIONS:
        importlib.import_module(f"functions.{function}.app")
    registered = set(REGISTRY._names_to_collectors)
    referenced = {name for expr in ALL_EXPRS for name in _selectors(promql_parser.parse(expr))}
    assert referenced - KAFKA_EXPORTER <= registered, sorted(referenced - KAFKA_EXPORTER - registered)


def test_pod_monitor_selects_the_function_pods() -> None:
    monitor = yaml.safe_load((MONITORING / "prometheus" / "podmonitor.yaml").read_text(encoding="utf-8"))
    selector = monitor["spec"]["selector"]["matchLabels"]
    services = [doc for p in sorted(Path(REPO / "knative").glob("*.yaml")) for doc in yaml.safe_load_all(p.read_text())
                if doc and doc["kind"] == "Service"]
    assert len(services) == 4
    for service in services:
        labels = service["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items()
    assert monitor["spec"]["podMetricsEndpoints"][0]["path"] == "/metrics"


def test_dashboard_has_dead_letter_panels_and_trace_exemplars() -> None:
    panels = _dashboard()["panels"]
    dead = [p for p in panels if "paymesh_dead_lettered_total" in json.dumps(p.get("targets", []))]
    assert any("by (function)" in t["expr"] for p in dead for t in p["targets"])
    latency = next(p for p in panels if p["title"].startswith("Handler latency (p50"))
    assert all(t.get("exemplar") is True for t in latency["targets"])
    traffic = [t["expr"] for p in panels for t in p.get("targets", []) if "kafka_messages_total" in t["expr"]]
    assert any('direction="in"' in e for e in traffic) and any('direction="out"' in e for e in traffic)
