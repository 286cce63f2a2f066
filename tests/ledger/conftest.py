from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from functions.ledger.app import build_spec
from functions.ledger.settings import LedgerSettings
from shared.publish import MemoryPublisher
from shared.store import Store
from tests.support import build_app, flask_client, post_event, reply_json, temporary_store


@dataclass
class LedgerService:
    client: FlaskClient
    publisher: MemoryPublisher
    store: Store

    def send(self, event_type: str, data: dict[str, Any], **kwargs: Any) -> Any:
        return post_event(self.client, event_type, data, **kwargs)

    def transfer(self, transaction_id: str, *postings: tuple[str, str, str, str], **extra: Any) -> Any:
        """postings: (account, direction, amount, currency)."""
        data = {"transactionId": transaction_id, "postings": [
            {"account": account, "direction": direction, "amount": amount, "currency": currency}
            for account, direction, amount, currency in postings], **extra}
        return self.send("ledger.transaction-requested", data)

    def get(self, path: str, status: int = 200) -> Any:
        response = self.client.get(path)
        assert response.status_code == status, (path, response.status_code, response.data[:300])
        return reply_json(response)

    def balance(self, account: str, currency: str) -> dict[str, str]:
        body = self.get(f"/accounts/{account}/balances")
        return next(item for item in body["balances"] if item["currency"] == currency)


@pytest.fixture
def ledger(backend: str, tmp_path: Path) -> Iterator[LedgerService]:
    settings = LedgerSettings()
    spec = build_spec(settings)
    with temporary_store(backend, "ledger", spec.migrations, tmp_path) as store:
        publisher = MemoryPublisher()
        yield LedgerService(flask_client(build_app(spec, store, settings, publisher)), publisher, store)
