"""Random sequences of transactions, redeliveries and two-phase steps keep every ledger invariant.

A small model of the rules (balance per currency, account flags counting pending amounts) runs
beside the service: each step's outcome must match the model, and after each step the stored
balances must equal both the model and a from-scratch recomputation of the postings.

Transactions and their post/void steps may be backdated to hours on a grid in the past, and random
point-in-time balance queries (on the grid, between grid points, or after everything) must answer what
the model's movements effective at or before that instant add up to.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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
# Effective times: hour h of a grid well in the past, or NOW (the service's clock, after the whole grid).
GRID_START = datetime(2020, 1, 1, tzinfo=UTC)
NOW = 10**6
AFTER_ALL = 10**7


def grid_time(hours: float) -> str:
    return (GRID_START + timedelta(hours=hours)).isoformat().replace("+00:00", "Z")

counter = itertools.count()


@dataclass
class Model:
    balances: dict[tuple[str, str], list[int]] = field(default_factory=dict)  # [pdr, pcr, hdr, hcr]
    resolved: set[str] = field(default_factory=set)
    # (effective hour, account, currency, slot, signed minor): what point-in-time balances add up.
    moves: list[tuple[float, str, str, int, int]] = field(default_factory=list)

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

    def apply(self, legs: list[tuple[str, str, str, int]], slot_base: int, sign: int = 1, at: float = NOW) -> None:
        for account, currency, direction, minor in legs:
            slot = self.balances.setdefault((account, currency), [0, 0, 0, 0])
            slot[slot_base + (direction == "credit")] += sign * minor
            self.moves.append((at, account, currency, slot_base + (direction == "credit"), sign * minor))

    def balances_at(self, account: str, at: float) -> list[dict[str, str]]:
        """The balances route's answer at `at`, from the movements alone."""
        totals: dict[str, list[int]] = {}
        for when, name, currency, slot, minor in self.moves:
            if name == account and when <= at:
                totals.setdefault(currency, [0, 0, 0, 0])[slot] += minor
        answer = []
        for currency, (pdr, pcr, hdr, hcr) in sorted(totals.items()):
            posted = pdr - pcr
            # RULES: wallets are liabilities (credit-normal), caps and the rest assets (debit-normal).
            available = posted + hdr if ":wallet" in account else posted - hcr
            answer.append({"currency": currency, "posted": format_minor(posted, currency),
                           "pending": format_minor(posted + hdr - hcr, currency),
                           "available": format_minor(available, currency)})
        return answer


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


when = st.one_of(st.none(), st.integers(0, 9))  # None: not given, so effective when handled
step = st.one_of(
    st.tuples(st.just("create"), balanced_legs(), st.booleans(), when),
    st.tuples(st.just("post"), st.integers(0, 20), when),
    st.tuples(st.just("void"), st.integers(0, 20), when),
    st.tuples(st.just("redeliver"), st.integers(0, 20)),
    st.tuples(st.just("unbalanced"), balanced_legs()),
    st.tuples(st.just("query"), st.integers(0, len(ACCOUNTS) - 1),
              st.one_of(st.integers(0, 9), st.integers(0, 9).map(lambda hour: hour + 0.5), st.just(AFTER_ALL))),
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


def check_point_in_time(client: Any, model: Model, account: str, at: float) -> None:
    instant = "2100-01-01T00:00:00Z" if at == AFTER_ALL else grid_time(at)
    response = client.get(f"/accounts/{account}/balances?at={instant}")
    assert response.status_code == 200
    assert reply_json(response)["balances"] == model.balances_at(account, at), (account, at)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=30))
def test_random_sequences_keep_the_invariants(service: tuple[Any, Store], steps: list[tuple[Any, ...]]) -> None:
    client, store = service
    run = next(counter)
    model = Model()
    created: list[tuple[str, list[tuple[str, str, str, int]], bool, float]] = []
    sent: list[tuple[dict[str, Any], str, int]] = []
    for index, item in enumerate(steps):
        kind = item[0]
        event_id = f"r{run}-e{index}"
        if kind in {"create", "unbalanced"}:
            legs = [(f"r{run}:{ACCOUNTS[a]}", currency, direction, minor) for a, currency, direction, minor in item[1]]
            if kind == "unbalanced":
                legs[0] = (*legs[0][:3], legs[0][3] + 1)
            held = kind == "create" and item[2]
            effective = NOW if kind == "unbalanced" or item[3] is None else item[3]
            transaction_id = f"r{run}-t{index}"
            data = {"transactionId": transaction_id, "pending": held, "postings": [
                {"account": account, "currency": currency, "direction": direction,
                 "amount": format_minor(minor, currency)} for account, currency, direction, minor in legs]}
            if effective != NOW:
                data["effectiveAt"] = grid_time(effective)
            response = post_event(client, "ledger.transaction-requested", data, event_id=event_id)
            if kind == "unbalanced":
                assert response.status_code == 400
                continue
            expected = model.allowed(legs, held)
            body = reply_json(response)
            assert response.status_code == 200
            assert (body.get("action") != "transaction.rejected") == expected, (legs, body)
            if expected:
                model.apply(legs, 2 if held else 0, at=effective)
                created.append((transaction_id, legs, held, effective))
            sent.append((data, event_id, response.status_code))
        elif kind in {"post", "void"}:
            if not created:
                continue
            transaction_id, legs, held, since = created[item[1] % len(created)]
            data = {"transactionId": transaction_id, "action": kind}
            if item[2] is not None:
                data["effectiveAt"] = grid_time(item[2])
            # A post or void takes effect when asked (default: when handled), never before the hold did.
            resolved_at = max(NOW if item[2] is None else item[2], since)
            response = post_event(client, "ledger.transaction-requested", data, event_id=event_id)
            assert response.status_code == 200
            body = reply_json(response)
            if held and transaction_id not in model.resolved:
                assert body.get("action") != "transaction.rejected", body
                model.resolved.add(transaction_id)
                model.apply(legs, 2, -1, at=resolved_at)
                if kind == "post":
                    model.apply(legs, 0, at=resolved_at)
            else:
                assert body["action"] == "transaction.rejected"
            sent.append((data, event_id, 200))
        elif kind == "query":
            touched = sorted({move[1] for move in model.moves if move[1].startswith(f"r{run}:")})
            if touched:
                check_point_in_time(client, model, touched[item[1] % len(touched)], item[2])
        elif sent:
            data, original_id, status = sent[item[1] % len(sent)]
            again = post_event(client, "ledger.transaction-requested", data, event_id=original_id)
            assert again.status_code == status
        stored = check(store)
        mine = {key: list(value) for key, value in stored.items() if key[0].startswith(f"r{run}:")}
        assert mine == {key: value for key, value in model.balances.items() if key[0].startswith(f"r{run}:")}
    # Every instant where an answer changes, and just before it, for every account of this run.
    for account in sorted({move[1] for move in model.moves if move[1].startswith(f"r{run}:")}):
        for at in sorted({move[0] for move in model.moves if move[1] == account} - {NOW}):
            check_point_in_time(client, model, account, at - 0.5)
            check_point_in_time(client, model, account, at)
        check_point_in_time(client, model, account, AFTER_ALL)
