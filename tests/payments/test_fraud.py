"""Every fraud rule, the decisions they lead to, and velocity read from the payments store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from functions.payments import reasons
from functions.payments.gateways.simulated import SimulatedGateway
from functions.payments.models import Payment
from functions.payments.settings import PaymentsSettings
from tests.payments.harness import Harness, harness, payment

PROCESSED = "payments.payment-processed"
FAILED = "payments.payment-failed"
AUDIT = "audit.payment-events"


@pytest.fixture
def strict(backend: str, tmp_path: Path) -> Iterator[Harness]:
    settings = PaymentsSettings(payments_fraud_velocity_max_count=2,
                                payments_fraud_velocity_max_amount={"EUR": Decimal("300.00")},
                                payments_fraud_velocity_window_seconds=600)
    with harness(backend, tmp_path, settings) as built:
        yield built


def actions(payments: Harness) -> list[str]:
    return [audit["action"] for audit in payments.audits()]


def stored_rules(payments: Harness, payment_id: str = "pay_1") -> tuple[str, int, str]:
    stored = payments.payment(payment_id)
    assert stored is not None
    return stored.fraud_rules, stored.fraud_score, stored.fraud_decision


def seed(payments: Harness, count: int, *, amount_minor: int = 1000, age: timedelta = timedelta(minutes=1),
         customer: str = "cus_1") -> None:
    created = datetime.now(UTC) - age
    with payments.store.session() as session:
        for index in range(count):
            session.add(Payment(payment_id=f"old_{customer}_{index}_{age.total_seconds()}", customer_id=customer,
                                merchant_id="mer_1", amount_minor=amount_minor, currency="EUR", status="captured",
                                method_type="card", gateway="simulated", created_at=created, updated_at=created))
        session.commit()


def test_nothing_fires_for_an_ordinary_payment(payments: Harness) -> None:
    assert payments.pay(payment()).headers["ce-type"] == PROCESSED
    assert stored_rules(payments) == ("", 0, "approve")
    assert actions(payments) == ["payment.captured"]


def test_amount_high_fires_but_alone_approves(payments: Harness) -> None:
    assert payments.pay(payment(amount="5000.00")).headers["ce-type"] == PROCESSED
    assert stored_rules(payments) == ("amount_high", 40, "approve")
    assert payments.audits()[0]["details"]["fraudRules"] == ["amount_high"]


def test_amount_very_high_declines_without_calling_the_gateway(payments: Harness) -> None:
    response = payments.pay(payment(amount="20000.00"))
    assert response.status_code == 200 and response.headers["ce-type"] == FAILED
    [failed] = payments.of_type(FAILED)
    assert failed["reason"] == reasons.FRAUD_DECLINED
    assert stored_rules(payments) == ("amount_very_high", 90, "decline")
    [audit] = payments.audits()
    assert audit["action"] == "fraud.declined" and audit["outcome"] == "rejected"
    assert audit["details"]["reason"] == reasons.FRAUD_DECLINED
    assert audit["details"]["fraudScore"] == 90 and audit["details"]["fraudDecision"] == "decline"
    assert isinstance(payments.gateway, SimulatedGateway) and not payments.gateway.effects


@pytest.mark.parametrize("where", [{"method": {"type": "card", "token": "tok_visa", "country": "KP"},
                                    "billingCountry": "KP"},
                                   {"billingCountry": "IR", "method": {"type": "card", "token": "tok_visa"}}])
def test_blocked_country_declines(payments: Harness, where: dict[str, Any]) -> None:
    response = payments.pay(payment(**where))
    assert response.headers["ce-type"] == FAILED
    assert payments.of_type(FAILED)[0]["reason"] == reasons.FRAUD_DECLINED
    assert stored_rules(payments)[0] == "blocked_country"


def test_blocked_bin_declines(backend: str, tmp_path: Path) -> None:
    settings = PaymentsSettings(payments_fraud_blocked_bins=frozenset({"411111", "5555"}))
    with harness(backend, tmp_path, settings) as payments:
        blocked = payments.pay(payment("pay_1", method={"type": "card", "token": "tok_visa", "bin": "41111122"}))
        assert blocked.headers["ce-type"] == FAILED
        assert stored_rules(payments, "pay_1") == ("blocked_bin", 100, "decline")
        other = payments.pay(payment("pay_2", customerId="cus_2",
                                     method={"type": "card", "token": "tok_visa", "bin": "424242"}))
        assert other.headers["ce-type"] == PROCESSED


def test_country_mismatch_sends_the_payment_to_review_and_still_captures(payments: Harness) -> None:
    response = payments.pay(payment(billingCountry="FR"))
    assert response.headers["ce-type"] == PROCESSED
    assert stored_rules(payments) == ("country_mismatch", 50, "review")
    assert actions(payments) == ["fraud.review", "payment.captured"]
    review = payments.audits()[0]
    assert review["outcome"] == "info" and review["details"]["fraudRules"] == ["country_mismatch"]


def test_review_with_a_declining_card_audits_both(payments: Harness) -> None:
    payments.pay(payment(billingCountry="FR", method={"type": "card", "token": "tok_chargeDeclined",
                                                      "country": "DE"}))
    assert actions(payments) == ["fraud.review", "payment.failed"]


def test_review_with_a_declining_card_replies_with_the_outcome_not_the_audit(payments: Harness) -> None:
    response = payments.pay(payment(billingCountry="FR", method={"type": "card", "token": "tok_chargeDeclined",
                                                                 "country": "DE"}))
    assert response.status_code == 200 and response.headers["ce-type"] == FAILED
    assert [event.type for event in payments.publisher.events] == [FAILED, AUDIT, AUDIT]


def test_scores_add_up_to_a_decline(payments: Harness) -> None:
    payments.pay(payment(amount="5000.00", billingCountry="FR"))
    assert stored_rules(payments) == ("amount_high,country_mismatch", 90, "decline")
    assert payments.of_type(FAILED)[0]["reason"] == reasons.FRAUD_DECLINED


def test_velocity_count_counts_attempts_in_the_window(strict: Harness) -> None:
    assert strict.pay(payment("pay_1", amount="1.00")).headers["ce-type"] == PROCESSED
    # A declined attempt counts too.
    strict.pay(payment("pay_2", amount="1.00", method={"type": "card", "token": "tok_chargeDeclined"}))
    assert strict.pay(payment("pay_3", amount="1.00")).headers["ce-type"] == PROCESSED
    assert stored_rules(strict, "pay_3") == ("velocity_count", 60, "review")
    assert stored_rules(strict, "pay_2")[0] == ""
    # Another customer is not affected.
    strict.pay(payment("pay_4", amount="1.00", customerId="cus_2"))
    assert stored_rules(strict, "pay_4")[0] == ""


def test_velocity_ignores_attempts_outside_the_window(strict: Harness) -> None:
    seed(strict, 5, amount_minor=100_000, age=timedelta(minutes=11))
    strict.pay(payment("pay_1", amount="1.00"))
    assert stored_rules(strict, "pay_1")[0] == ""


def test_velocity_amount_sums_the_window_per_currency(strict: Harness) -> None:
    seed(strict, 1, amount_minor=25_000)
    strict.pay(payment("pay_1", amount="50.00"))       # 250 + 50 = 300: at the limit, not above
    assert stored_rules(strict, "pay_1")[0] == ""
    strict.pay(payment("pay_2", amount="0.50"))        # 300.50 > 300 and a third attempt
    assert stored_rules(strict, "pay_2") == ("velocity_count,velocity_amount", 120, "decline")
    assert strict.of_type(FAILED)[0]["reason"] == reasons.FRAUD_DECLINED


def test_velocity_amount_alone(backend: str, tmp_path: Path) -> None:
    settings = PaymentsSettings(payments_fraud_velocity_max_amount={"EUR": Decimal("150.00")})
    with harness(backend, tmp_path, settings) as payments:
        payments.pay(payment("pay_1"))
        payments.pay(payment("pay_2"))
        assert stored_rules(payments, "pay_2") == ("velocity_amount", 60, "review")
        assert payments.of_type(PROCESSED)[-1]["paymentId"] == "pay_2"


def test_rules_and_thresholds_come_from_settings(backend: str, tmp_path: Path) -> None:
    settings = PaymentsSettings(
        payments_fraud_rule_scores={"country_mismatch": 0, "amount_high": 10},
        payments_fraud_amount_high={"EUR": Decimal("50.00")},
        payments_fraud_blocked_countries=frozenset({"FR"}),
        payments_fraud_review_score=5, payments_fraud_decline_score=100)
    with harness(backend, tmp_path, settings) as payments:
        payments.pay(payment("pay_1", billingCountry="ES"))
        assert stored_rules(payments, "pay_1") == ("amount_high,country_mismatch", 10, "review")
        payments.pay(payment("pay_2", amount="1.00", billingCountry="FR"))
        assert stored_rules(payments, "pay_2") == ("blocked_country,country_mismatch", 0, "approve")


def test_inconsistent_fraud_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="review_score"):
        PaymentsSettings(payments_fraud_review_score=95, payments_fraud_decline_score=90)
    with pytest.raises(ValueError, match="decimal places"):
        PaymentsSettings(payments_fee_fixed={"JPY": Decimal("0.5")})
