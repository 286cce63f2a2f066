"""PostgreSQL stops for 10 s in the middle of a run: the function answers 503 (never 500) and /ready
turns false; the sender retries as Knative would; afterwards every transaction is applied exactly once.

The database is a private PostgreSQL server started for this test, so stopping it disturbs nothing else.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter

import pytest

from tests.support import private_postgres
from tests.support.served import serve

TRANSACTIONS = 200
OUTAGE_SECONDS = 10


def transaction(n: int) -> bytes:
    return json.dumps({"transactionId": f"t{n}", "postings": [
        {"account": "assets:cash", "direction": "debit", "amount": f"{n + 1}.00", "currency": "EUR"},
        {"account": "equity:owner", "direction": "credit", "amount": f"{n + 1}.00", "currency": "EUR"}]}).encode()


@pytest.mark.slow
@pytest.mark.postgres
def test_database_outage_is_503_then_nothing_is_lost() -> None:
    if not private_postgres.available():
        pytest.skip("PostgreSQL server binaries are not installed")
    with private_postgres.private_postgres() as database, \
            serve("ledger", {"DATABASE_URL": database.url, "PAYMESH_PUBLISHER": "memory"}) as ledger:
        statuses: Counter[int] = Counter()
        progress = threading.Event()
        done = threading.Event()

        def sender() -> None:
            for n in range(TRANSACTIONS):
                headers = {"ce-specversion": "1.0", "ce-id": f"e{n}", "ce-source": "/outage",
                           "ce-type": "ledger.transaction-requested", "Content-Type": "application/json"}
                while True:
                    try:
                        status, _ = ledger.post(transaction(n), headers, timeout=20)
                    except OSError:
                        status = 0  # connection trouble counts as a retry, as for Knative
                    statuses[status] += 1
                    if status == 200:
                        break
                    time.sleep(0.2)
                if n == TRANSACTIONS // 3:
                    progress.set()
            done.set()

        thread = threading.Thread(target=sender, daemon=True)
        thread.start()
        assert progress.wait(60), "the run did not get going"
        database.stop("immediate")
        outage_started = time.time()
        deadline = outage_started + 5
        while ledger.get("/ready")[0] != 503:
            assert time.time() < deadline, "/ready stayed true with the database down"
            time.sleep(0.1)
        ready_body = ledger.get("/ready")[1]
        assert ready_body["checks"]["store"] is False
        time.sleep(max(0.0, OUTAGE_SECONDS - (time.time() - outage_started)))
        answered_during_outage = sum(count for status, count in statuses.items() if status != 200)
        database.start()
        assert done.wait(120), "the run did not complete after the database came back"
        assert answered_during_outage > 0
        assert set(statuses) <= {200, 503}, statuses  # never a 500, never a dropped connection
        assert statuses[503] > 0
        assert ledger.get("/ready")[0] == 200
        _, balances = ledger.get("/accounts/assets:cash/balances")
        expected = sum(n + 1 for n in range(TRANSACTIONS))
        assert balances["balances"][0]["posted"] == f"{expected}.00"
        _, trial = ledger.get("/trial-balance")
        assert trial["balanced"]
        _, entries = ledger.get("/accounts/assets:cash/entries?limit=1000")
        assert len(entries["entries"]) == TRANSACTIONS
