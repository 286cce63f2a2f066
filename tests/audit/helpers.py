"""Builders for audit tests: a served audit function on a temporary store, and audit events."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import text

from functions.audit.app import AuditSettings, build_spec
from functions.audit.checkpoints import Signing
from functions.audit.note import generate_key
from shared.publish import MemoryPublisher
from shared.store import Store
from tests.support import build_app, flask_client, post_event, temporary_store

SIGNER_KEY, VERIFIER_KEY = generate_key("audit.test")
TOPIC = {"payments": "audit.payment-events", "ledger": "audit.ledger-events",
         "notifications": "audit.notification-events"}


@dataclass
class Audit:
    store: Store
    client: FlaskClient
    publisher: MemoryPublisher
    settings: AuditSettings

    def post(self, service: str = "payments", *, event_id: str | None = None, source: str | None = None,
             **data: Any) -> Any:
        body = event(service, **data)
        return post_event(self.client, TOPIC[service], body, event_id=event_id or str(uuid.uuid4()),
                          source=source or f"/paymesh/{service}")

    def get(self, path: str, **args: Any) -> Any:
        return self.client.get(path, query_string=args)

    def execute(self, sql: str, **params: Any) -> Any:
        with self.store.engine.begin() as connection:
            return connection.execute(text(sql), params)

    @property
    def signing(self) -> Signing:
        return self.settings.signing()

    def alerts(self) -> list[dict[str, Any]]:
        return [dict(item.data or {}) for item in self.publisher.of_type("audit.compliance-alerts")]


def event(service: str = "payments", **data: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"service": service, "action": "payment.captured", "outcome": "success",
                            "subject": "pay_1", "details": {"customerId": "cus_1", "merchantId": "mer_1",
                                                            "amount": "12.34", "currency": "EUR"}}
    body.update(data)
    return body


@contextmanager
def audit_function(backend: str, tmp_path: Path, **settings: Any) -> Iterator[Audit]:
    config = AuditSettings(audit_signing_key=SIGNER_KEY, **settings)
    spec = build_spec(config)
    with temporary_store(backend, "audit", spec.migrations, tmp_path) as store:
        publisher = MemoryPublisher()
        app = build_app(spec, store, config, publisher)
        yield Audit(store, flask_client(app), publisher, config)
