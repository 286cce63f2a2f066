from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from paymesh.cli import app as cli
from paymesh.schemas import PUBLISHED_DIR, asyncapi, breaking_changes
from shared.events import CATALOG, SEED_TOPICS, PaymentRequested, TransactionRequested, json_schemas


def payment(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"paymentId": "pay_1", "customerId": "cus_1", "merchantId": "mer_1",
                            "amount": "10.5", "currency": "USD", "method": {"type": "card", "token": "tok_visa"}}
    data.update(overrides)
    return data


def test_catalog_covers_every_seed_topic_and_type_equals_topic() -> None:
    assert set(SEED_TOPICS) <= set(CATALOG)
    for event_type, model in CATALOG.items():
        assert model.type_name == event_type


def test_wire_is_camel_case_and_python_is_snake_case() -> None:
    event = PaymentRequested.model_validate(payment())
    assert event.payment_id == "pay_1"
    wire = event.wire()
    assert wire["paymentId"] == "pay_1"
    assert "payment_id" not in wire
    assert PaymentRequested(**{**event.model_dump(), "amount": "1"}).payment_id == "pay_1"


def test_amount_is_normalised_to_the_currency_exponent_on_output() -> None:
    assert PaymentRequested.model_validate(payment(amount="10.5")).wire()["amount"] == "10.50"
    assert PaymentRequested.model_validate(payment(amount=7, currency="JPY")).wire()["amount"] == "7"


def test_unknown_fields_are_kept_in_metadata_not_rejected() -> None:
    event = PaymentRequested.model_validate(payment(channel="pos", metadata={"orderId": "o-1"}))
    assert event.metadata == {"channel": "pos", "orderId": "o-1"}


@pytest.mark.parametrize(("overrides", "field", "rule"), [
    ({"amount": "0"}, "amount", "positive"),
    ({"amount": "-1"}, "amount", "positive"),
    ({"amount": "1.001"}, "amount", "decimal_places"),
    ({"amount": "NaN"}, "amount", "format"),
    ({"amount": Decimal("NaN")}, "amount", "finite"),
    ({"amount": "1e999999"}, "amount", "format"),
    ({"amount": Decimal("1E+999999")}, "amount", "range"),
    ({"currency": "usd"}, "currency", "iso4217"),
    ({"paymentId": ""}, "paymentId", "string_too_short"),
])
def test_invalid_payment_names_field_and_rule(overrides: dict[str, Any], field: str, rule: str) -> None:
    with pytest.raises(ValidationError) as error:
        PaymentRequested.model_validate(payment(**overrides))
    first = error.value.errors()[0]
    assert (".".join(map(str, first["loc"])), first["type"]) == (field, rule)


def test_unbalanced_shapes_of_a_ledger_transaction_are_rejected() -> None:
    with pytest.raises(ValidationError):
        TransactionRequested.model_validate({"transactionId": "t", "postings": []})
    with pytest.raises(ValidationError):
        TransactionRequested.model_validate({"transactionId": "t", "action": "post", "pending": True})


def test_schema_export_writes_one_valid_json_schema_per_type(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["schemas", "export", str(tmp_path)])
    assert result.exit_code == 0, result.output
    files = sorted(path.name for path in tmp_path.iterdir())
    assert files == sorted(f"{event_type}.json" for event_type in CATALOG)
    schema = json.loads((tmp_path / "payments.payment-requested.json").read_text())
    assert {"paymentId", "amount", "currency"} <= set(schema["properties"])


def test_exported_schema_accepts_what_the_model_accepts() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json_schemas()["payments.payment-requested"]
    jsonschema.validate(payment(amount=10.5, extra="kept"), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(payment(method={"type": "cash", "token": "x"}), schema)


def test_asyncapi_document_has_a_channel_per_topic() -> None:
    document = asyncapi()
    assert document["asyncapi"].startswith("3.")
    assert {channel["address"] for channel in document["channels"].values()} == set(CATALOG)


@pytest.mark.parametrize("event_type", sorted(CATALOG))
def test_published_schemas_stay_backward_compatible(event_type: str) -> None:
    published = PUBLISHED_DIR / f"{event_type}.json"
    assert published.exists(), f"{event_type} has no published schema: run `paymesh schemas export docs/schemas`"
    problems = breaking_changes(json.loads(published.read_text()), json_schemas()[event_type])
    assert problems == [], f"breaking change to a published schema: {problems}"


def test_compatibility_check_catches_removed_retyped_and_newly_required_fields() -> None:
    old = {"properties": {"a": {"type": "string"}, "b": {"type": "integer"}}, "required": ["a"]}
    new = {"properties": {"a": {"type": "integer"}, "c": {"type": "string"}}, "required": ["a", "c"]}
    problems = breaking_changes(old, new)
    assert "b: removed" in problems
    assert "c: newly required" in problems
    assert any(problem.startswith("a: type narrowed") for problem in problems)
    assert breaking_changes(old, {**old, "properties": {**old["properties"], "d": {"type": "string"}}}) == []
