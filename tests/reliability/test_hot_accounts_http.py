"""The ledger's hot-account test over the whole HTTP path: functions-framework, the runtime and the
real PostgreSQL server, 16 clients posting concurrently between three hot accounts.
"""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections import Counter

import pytest
from sqlalchemy import create_engine, text

from tests.support import PG_URL
from tests.support.served import serve

THREADS = 16
PER_THREAD = 100
HOT = ("customer:hot_wallet", "assets:hot_cash", "merchant:hot_shop")


def transfer(transaction_id: str, debit: str, credit: str, minor: int) -> bytes:
    amount = f"{minor // 100}.{minor % 100:02d}"
    return json.dumps({"transactionId": transaction_id, "postings": [
        {"account": debit, "direction": "debit", "amount": amount, "currency": "EUR"},
        {"account": credit, "direction": "credit", "amount": amount, "currency": "EUR"}]}).encode()


def headers(event_id: str) -> dict[str, str]:
    return {"ce-specversion": "1.0", "ce-id": event_id, "ce-source": "/hot", "ce-type": "ledger.transaction-requested",
            "Content-Type": "application/json"}


@pytest.mark.slow
def test_hot_accounts_over_http(postgres: None) -> None:
    schema = f"t_hot_{uuid.uuid4().hex[:10]}"
    try:
        with serve("ledger", {"DATABASE_URL": PG_URL, "PAYMESH_DB_SCHEMA": schema,
                              "PAYMESH_PUBLISHER": "memory"}) as ledger:
            funding = transfer("fund", "assets:hot_cash", "customer:hot_wallet", 2000)
            assert ledger.post(funding, headers("fund"))[0] == 200
            expected = {"assets:hot_cash": 2000, "customer:hot_wallet": -2000, "merchant:hot_shop": 0}
            statuses: Counter[int] = Counter()
            rejected = 0
            lock = threading.Lock()

            def writer(number: int) -> None:
                nonlocal rejected
                rng = random.Random(number)
                for n in range(PER_THREAD):
                    debit, credit = rng.sample(HOT, 2)
                    minor = rng.randint(1, 2000)
                    event = f"w{number}-{n}"
                    status, body = ledger.post(transfer(event, debit, credit, minor), headers(event))
                    with lock:
                        statuses[status] += 1
                        if status == 200 and json.loads(body).get("action") == "transaction.rejected":
                            rejected += 1
                        elif status == 200:
                            expected[debit] += minor
                            expected[credit] -= minor

            threads = [threading.Thread(target=writer, args=(number,)) for number in range(THREADS)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=300)
            assert statuses == Counter({200: THREADS * PER_THREAD}), statuses
            assert rejected > 0
            for account, minor in expected.items():
                _, body = ledger.get(f"/accounts/{account}/balances")
                sign = "-" if minor < 0 else ""
                assert body["balances"][0]["posted"] == f"{sign}{abs(minor) // 100}.{abs(minor) % 100:02d}"
            _, wallet = ledger.get("/accounts/customer:hot_wallet/balances")
            wallet_posted = wallet["balances"][0]["posted"]
            assert wallet_posted.startswith("-") or wallet_posted == "0.00"  # the wallet never went negative
            assert ledger.get("/trial-balance")[1]["balanced"]
    finally:
        engine = create_engine(PG_URL)
        with engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()
