"""Prometheus counters of the audit function (counted when the handler runs; a retried transaction may
count an event twice, which is fine for rates and alerting)."""

from __future__ import annotations

from prometheus_client import Counter

AUDIT_EVENTS = Counter("audit_events_total", "Audit events stored, by service and outcome", ["service", "outcome"])
COMPLIANCE_VIOLATIONS = Counter("compliance_violations_total", "Compliance alerts raised, by rule and severity",
                                ["rule", "severity"])
