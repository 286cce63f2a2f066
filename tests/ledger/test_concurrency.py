"""Many writers on three hot accounts on the real PostgreSQL server: exact balances, flags kept, no 5xx."""

from __future__ import annotations

import random
import threading
from collections import Counter
from pathlib import Path

import pytest

from functions.ledger.app import build_spec
from functions.ledger.settings import LedgerSettings
from shared.money import format_minor
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


@pytest.mark.slow
def test_concurrent_backdated_writers_keep_point_in_time_balances(postgres: None, tmp_path: Path) -> None:
    """Writers post out of effective order on the same accounts: every instant's balance is still the sum of
    the entries effective by then."""
    settings = LedgerSettings()
    spec = build_spec(settings)
    accounts = ("assets:late_a", "equity:late_b", "merchant:late_c")
    minutes = 40
    with temporary_store("postgres", "ledger", spec.migrations, tmp_path) as store:
        app = build_app(spec, store, settings, MemoryPublisher())
        failures: list[BaseException] = []
        expected: dict[str, Counter[int]] = {name: Counter() for name in accounts}  # minute -> signed minor
        lock = threading.Lock()

        def writer(number: int) -> None:
            client = flask_client(app)
            rng = random.Random(1000 + number)
            try:
                for n in range(60):
                    debit, credit = rng.sample(accounts, 2)
                    minute, minor = rng.randrange(minutes), rng.randint(1, 999)
                    data = {"transactionId": f"late{number}-{n}", "effectiveAt": f"2026-05-01T00:{minute:02d}:00Z",
                            "postings": [
                                {"account": debit, "direction": "debit", "amount": format_minor(minor, "EUR"),
                                 "currency": "EUR"},
                                {"account": credit, "direction": "credit", "amount": format_minor(minor, "EUR"),
                                 "currency": "EUR"}]}
                    assert post_event(client, "ledger.transaction-requested", data).status_code == 200
                    with lock:
                        expected[debit][minute] += minor
                        expected[credit][minute] -= minor
            except BaseException as error:  # surfaced in the main thread
                failures.append(error)

        threads = [threading.Thread(target=writer, args=(number,)) for number in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not failures, failures[0]
        check(store)
        client = flask_client(app)
        for name in accounts:
            running = 0
            for minute in range(minutes):
                running += expected[name][minute]
                body = reply_json(client.get(f"/accounts/{name}/balances?at=2026-05-01T00:{minute:02d}:30Z"))
                posted = [item["posted"] for item in body["balances"]]
                assert posted in ([format_minor(running, "EUR")], []), (name, minute, posted)
                assert posted or running == 0


@pytest.mark.slow
def test_concurrent_settlements_of_one_period_pay_each_merchant_once(postgres: None, tmp_path: Path) -> None:
    """Four runs of the same period race each other and a stream of payments: one payout per merchant."""
    settings = LedgerSettings()
    spec = build_spec(settings)
    merchants = [f"mer_{number}" for number in range(6)]
    with temporary_store("postgres", "ledger", spec.migrations, tmp_path) as store:
        publisher = MemoryPublisher()
        app = build_app(spec, store, settings, publisher)
        seed = flask_client(app)
        for merchant in merchants:
            funding = {"transactionId": f"seed-{merchant}", "postings": [
                {"account": "assets:clearing", "direction": "debit", "amount": "10.00", "currency": "EUR"},
                {"account": f"merchant:{merchant}", "direction": "credit", "amount": "10.00", "currency": "EUR"}]}
            assert post_event(seed, "ledger.transaction-requested", funding).status_code == 200
        failures: list[BaseException] = []
        statuses: Counter[int] = Counter()
        lock = threading.Lock()

        def settle() -> None:
            try:
                status = post_event(flask_client(app), "ledger.settlement-requested", {"period": "p1"}).status_code
                with lock:
                    statuses[status] += 1
            except BaseException as error:  # surfaced in the main thread
                failures.append(error)

        def payments(number: int) -> None:
            client = flask_client(app)
            try:
                for n in range(30):
                    data = {"transactionId": f"pay{number}-{n}", "postings": [
                        {"account": "assets:clearing", "direction": "debit", "amount": "0.01", "currency": "EUR"},
                        {"account": f"merchant:{merchants[n % len(merchants)]}", "direction": "credit",
                         "amount": "0.01", "currency": "EUR"}]}
                    assert post_event(client, "ledger.transaction-requested", data).status_code == 200
            except BaseException as error:
                failures.append(error)

        threads = [threading.Thread(target=settle) for _ in range(4)] + \
            [threading.Thread(target=payments, args=(number,)) for number in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not failures, failures[0]
        assert statuses[200] == 1 and statuses[204] == 3, statuses
        created = [event.data["merchantId"] for event in publisher.events if event.type == "ledger.payout-created"]
        assert sorted(created) == merchants
        check(store)
