"""Prometheus counters of the audit function (counted when the handler runs; a retried transaction may
count an event twice, which is fine for rates and alerting)."""

from __future__ import annotations

from prometheus_client import Counter

AUDIT_EVENTS = Counter("audit_events_total", "Audit events stored, by service and outcome", ["service", "outcome"])
COMPLIANCE_VIOLATIONS = Counter("compliance_violations_total", "Compliance alerts raised, by rule and severity",
                                ["rule", "severity"])
INTEGRATION_ROUNDS = Counter("audit_integration_rounds_total",
                             "Integration transactions that added records to the tree (this process)")
RECORDS_INTEGRATED = Counter("audit_records_integrated_total", "Records integrated into the tree (this process)")
