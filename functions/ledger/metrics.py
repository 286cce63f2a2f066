"""Ledger metrics.

`ledger_balance_total` is labelled by currency and account type, not by account: one series per
account would grow without bound with customers and merchants. It is read from the balances table
at scrape time, so every replica reports the same committed truth rather than its own share of it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

from prometheus_client import REGISTRY, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlmodel import Session

from functions.ledger import repository
from shared.money import currency_exponent
from shared.store import Store

ENTRIES_WRITTEN = Counter("ledger_entries_total", "Posted ledger entries (statement lines), by currency",
                          ["currency"])


class BalanceCollector(Collector):
    def __init__(self) -> None:
        self.open_session: Callable[[], AbstractContextManager[Session]] | None = None

    def attach(self, store: Store) -> None:
        self.open_session = store.session

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("ledger_balance_total",
                                   "Sum of posted balances (debits positive) in major units, by currency and "
                                   "account type", labels=["currency", "account_type"])
        if self.open_session is not None:
            try:
                with self.open_session() as session:
                    rows = repository.posted_by_currency_and_type(session)
            except Exception:
                rows = []  # an unreachable store must not break /metrics; /ready reports it
            for currency, account_type, total in rows:
                family.add_metric([currency, account_type], total / 10 ** currency_exponent(currency))
        yield family


BALANCES = BalanceCollector()
REGISTRY.register(BALANCES)
