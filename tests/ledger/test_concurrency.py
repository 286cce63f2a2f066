"""Many writers on three hot accounts on the real PostgreSQL server: exact balances, flags kept, no 5xx."""

from __future__ import annotations

import random
import threading
from collections import Counter
from pathlib import Path

import pytest

from functions.ledger.app import build_spec
from functions.ledger.settings import LedgerSettings
from shared.publish import MemoryPublisher
from tests.ledger.invariants import check
from tests.support import build_app, flask_client, post_event, reply_json, temporary_store

THREADS = 16
PER_THREAD = 200
HOT = ("customer:hot_wallet", "assets:hot_cash", "merchant:hot_shop")


@pytest.mark.slow
def test_sixteen_writers_on_three_hot_accounts(postgres: None, tmp_path: Path) -> None:
    settings = LedgerSettings()
    spec = build_spec(settings)
    with temporary_store("postgres", "ledger", spec.migrations, tmp_path) as store:
        app = build_app(spec, store, settings, MemoryPublisher())
        seed = flask_client(app)
        funding = {"transactionId": "fund", "postings": [
            {"account": "assets:hot_cash", "direction": "debit", "amount": "20.00", "currency": "EUR"},
            {"account": "customer:hot_wallet", "direction": "credit", "amount": "20.00", "currency": "EUR"}]}
        assert post_event(seed, "ledger.transaction-requested", funding).status_code == 200
        statuses: Counter[int] = Counter()
        accepted: dict[str, int] = {name: 0 for name in HOT}
        accepted["assets:hot_cash"] = 2000
        accepted["customer:hot_wallet"] = -2000
        rejected = 0
        lock = threading.Lock()
        failures: list[BaseException] = []

        def writer(number: int) -> None:
            nonlocal rejected
            client = flask_client(app)
            rng = random.Random(number)
            try:
                for n in range(PER_THREAD):
                    debit, credit = rng.sample(HOT, 2)
                    minor = rng.randint(1, 2000)
                    amount = f"{minor // 100}.{minor % 100:02d}"
                    data = {"transactionId": f"w{number}-{n}", "postings": [
                        {"account": debit, "direction": "debit", "amount": amount, "currency": "EUR"},
                        {"account": credit, "direction": "credit", "amount": amount, "currency": "EUR"}]}
                    response = post_event(client, "ledger.transaction-requested", data)
                    with lock:
                        statuses[response.status_code] += 1
                        if response.status_code == 200 and reply_json(response).get("action") == "transaction.rejected":
                            rejected += 1
                        elif response.status_code == 200:
                            accepted[debit] += minor
                            accepted[credit] -= minor
            except BaseException as error:  # surfaced in the main thread
                failures.append(error)

        threads = [threading.Thread(target=writer, args=(number,)) for number in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not failures, failures[0]
        assert statuses == Counter({200: THREADS * PER_THREAD}), statuses
        stored = check(store)  # trial balance zero, flags hold, balances equal the postings
        assert {account: stored[(account, "EUR")][0] - stored[(account, "EUR")][1] for account in HOT} == accepted
        assert rejected > 0, "the wallet never hit its flag: the test is not exercising the limit"
