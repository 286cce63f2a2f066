"""Random sequences of transactions, redeliveries and two-phase steps keep every ledger invariant.

A small model of the rules (balance per currency, account flags counting pending amounts) runs
beside the service: each step's outcome must match the model, and after each step the stored
balances must equal both the model and a from-scratch recomputation of the postings.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.ledger.accounts import AccountRule
from functions.ledger.app import build_spec
from functions.ledger.settings import LedgerSettings
from shared.money import format_minor
from shared.publish import MemoryPublisher
from shared.store import Store
from tests.ledger.invariants import check
from tests.support import build_app, flask_client, post_event, reply_json

RULES = (
    AccountRule(pattern="*:wallet*", type="liability", debits_must_not_exceed_credits=True),
    AccountRule(pattern="*:cap*", type="asset", credits_must_not_exceed_debits=True),
    AccountRule(pattern="*", type="asset"),
)
ACCOUNTS = ("wallet1", "wallet2", "cap1", "free1", "free2")
CURRENCIES = ("EUR", "JPY")
FLAGS = {"wallet": "debits", "cap": "credits"}

counter = itertools.count()


@dataclass
class Model:
    balances: dict[tuple[str, str], list[int]] = field(default_factory=dict)  # [pdr, pcr, hdr, hcr]
    resolved: set[str] = field(default_factory=set)

    def allowed(self, legs: list[tuple[str, str, str, int]], held: bool) -> bool:
        trial = {key: list(value) for key, value in self.balances.items()}
        for account, currency, direction, minor in legs:
            slot = trial.setdefault((account, currency), [0, 0, 0, 0])
            slot[(2 if held else 0) + (direction == "credit")] += minor
        for (account, _), (pdr, pcr, hdr, hcr) in trial.items():
            kind = account.split(":")[1].rstrip("0123456789")
            if FLAGS.get(kind) == "debits" and pdr + hdr > pcr:
                return False
            if FLAGS.get(kind) == "credits" and pcr + hcr > pdr:
                return False
        return True

    def apply(self, legs: list[tuple[str, str, str, int]], slot_base: int, sign: int = 1) -> None:
        for account, currency, direction, minor in legs:
            slot = self.balances.setdefault((account, currency), [0, 0, 0, 0])
            slot[slot_base + (direction == "credit")] += sign * minor


@st.composite
def balanced_legs(draw: st.DrawFn) -> list[tuple[int, str, str, int]]:
    currency = draw(st.sampled_from(CURRENCIES))
    debits = draw(st.lists(st.integers(1, 5000), min_size=1, max_size=3))
    total = sum(debits)
    cuts = sorted(draw(st.lists(st.integers(1, max(total - 1, 1)), max_size=2, unique=True))) if total > 1 else []
    credits = [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]
    accounts = st.integers(0, len(ACCOUNTS) - 1)
    return ([(draw(accounts), currency, "debit", amount) for amount in debits]
            + [(draw(accounts), currency, "credit", amount) for amount in credits])


step = st.one_of(
    st.tuples(st.just("create"), balanced_legs(), st.booleans()),
    st.tuples(st.just("post"), st.integers(0, 20)),
    st.tuples(st.just("void"), st.integers(0, 20)),
    st.tuples(st.just("redeliver"), st.integers(0, 20)),
    st.tuples(st.just("unbalanced"), balanced_legs()),
)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Store]]:
    settings_ = LedgerSettings(ledger_account_rules=RULES)
    spec = build_spec(settings_)
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('ledger') / 'ledger.db'}", function="ledger",
                  migrations=spec.migrations)
    store.migrate()
    yield flask_client(build_app(spec, store, settings_, MemoryPublisher())), store
    store.dispose()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=30))
def test_random_sequences_keep_the_invariants(service: tuple[Any, Store], steps: list[tuple[Any, ...]]) -> None:
    client, store = service
    run = next(counter)
    model = Model()
    created: list[tuple[str, list[tuple[str, str, str, int]], bool]] = []
    sent: list[tuple[dict[str, Any], str, int]] = []
    for index, item in enumerate(steps):
        kind = item[0]
        event_id = f"r{run}-e{index}"
        if kind in {"create", "unbalanced"}:
            legs = [(f"r{run}:{ACCOUNTS[a]}", currency, direction, minor) for a, currency, direction, minor in item[1]]
            if kind == "unbalanced":
                legs[0] = (*legs[0][:3], legs[0][3] + 1)
            held = kind == "create" and item[2]
            transaction_id = f"r{run}-t{index}"
            data = {"transactionId": transaction_id, "pending": held, "postings": [
                {"account": account, "currency": currency, "direction": direction,
                 "amount": format_minor(minor, currency)} for account, currency, direction, minor in legs]}
            response = post_event(client, "ledger.transaction-requested", data, event_id=event_id)
            if kind == "unbalanced":
                assert response.status_code == 400
                continue
            expected = model.allowed(legs, held)
            body = reply_json(response)
            assert response.status_code == 200
            assert (body.get("action") != "transaction.rejected") == expected, (legs, body)
            if expected:
                model.apply(legs, 2 if held else 0)
                created.append((transaction_id, legs, held))
            sent.append((data, event_id, response.status_code))
        elif kind in {"post", "void"}:
            if not created:
                continue
            transaction_id, legs, held = created[item[1] % len(created)]
            data = {"transactionId": transaction_id, "action": kind}
            response = post_event(client, "ledger.transaction-requested", data, event_id=event_id)
            assert response.status_code == 200
            body = reply_json(response)
            if held and transaction_id not in model.resolved:
                assert body.get("action") != "transaction.rejected", body
                model.resolved.add(transaction_id)
                model.apply(legs, 2, -1)
                if kind == "post":
                    model.apply(legs, 0)
            else:
                assert body["action"] == "transaction.rejected"
            sent.append((data, event_id, 200))
        elif sent:
            data, original_id, status = sent[item[1] % len(sent)]
            again = post_event(client, "ledger.transaction-requested", data, event_id=original_id)
            assert again.status_code == status
        stored = check(store)
        mine = {key: list(value) for key, value in stored.items() if key[0].startswith(f"r{run}:")}
        assert mine == {key: value for key, value in model.balances.items() if key[0].startswith(f"r{run}:")}
