"""The event catalog: one pydantic model per CloudEvent type. The type equals the Kafka topic.

Wire fields are camelCase, attributes snake_case. Fields a model does not know are kept in
`metadata` rather than rejected, so newer producers do not break older consumers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import InitErrorDetails, PydanticCustomError

from shared.limits import (
    CODE_MAX_CHARS,
    COUNT_MAX,
    INTEGER_MAX,
    MESSAGE_MAX_CHARS,
    REFERENCE_MAX_CHARS,
    SUBJECT_MAX_CHARS,
    bounded_json,
)
from shared.money import AMOUNT_TEXT_MAX_CHARS, MAX_MINOR_UNITS, Money, MoneyError, plain, to_decimal, validate_currency
from shared.times import TIME_TEXT_MAX_CHARS, TimeRangeError, bounded_utc

MAX_METADATA_KEYS = 50


def _as_pydantic_error(error: MoneyError) -> PydanticCustomError:
    return PydanticCustomError(error.rule, str(error))


def _amount_text(value: object) -> str:
    try:
        return plain(to_decimal(value))
    except MoneyError as error:
        raise _as_pydantic_error(error) from None


def _currency(value: object) -> str:
    try:
        return validate_currency(value)
    except MoneyError as error:
        raise _as_pydantic_error(error) from None


def _utc(value: datetime) -> datetime:
    try:
        return bounded_utc(value)
    except TimeRangeError as error:
        raise PydanticCustomError(error.rule, str(error)) from None


# A decimal amount in major units: a string on output, a string or a JSON number on input.
Amount = Annotated[
    str,
    BeforeValidator(_amount_text),
    WithJsonSchema(
        {
            "anyOf": [{"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$", "maxLength": AMOUNT_TEXT_MAX_CHARS},
                      {"type": "number", "minimum": -MAX_MINOR_UNITS, "maximum": MAX_MINOR_UNITS}],
            "description": "Decimal amount in major units, e.g. \"99.99\": a plain decimal (no exponent) within "
                           f"{MAX_MINOR_UNITS} minor units and the currency's decimal places",
        }
    ),
]
Currency = Annotated[
    str, BeforeValidator(_currency), WithJsonSchema({"type": "string", "pattern": "^[A-Z]{3}$", "maxLength": 3})
]
# Colons only between non-empty parts: an id becomes part of a ledger account name (merchant:<id>).
Identifier = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.\-]+(:[A-Za-z0-9_.\-]+)*$")]
UtcTime = Annotated[datetime, AfterValidator(_utc),
                    WithJsonSchema({"type": "string", "format": "date-time", "maxLength": TIME_TEXT_MAX_CHARS,
                                    "description": "RFC 3339 time with an offset, from 1970 up to 9000"})]
# Free-form JSON (metadata, details, variables): bounded in keys, depth, string and number size.
JsonObject = Annotated[dict[str, Any], AfterValidator(bounded_json),
                       WithJsonSchema({"type": "object", "maxProperties": MAX_METADATA_KEYS,
                                       "description": "free-form JSON, bounded in size and depth"})]
GatewayName = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[a-z0-9][a-z0-9_\-]*$")]
Reference = Annotated[str, Field(min_length=1, max_length=REFERENCE_MAX_CHARS, pattern=r"^[\x21-\x7e]+$")]
Code = Annotated[str, Field(min_length=1, max_length=CODE_MAX_CHARS, pattern=r"^[A-Za-z0-9_.:\-]+$")]
Message = Annotated[str, Field(max_length=MESSAGE_MAX_CHARS)]
Count = Annotated[int, Field(ge=0, le=COUNT_MAX)]


def utcnow() -> datetime:
    return datetime.now(UTC)


class WireModel(BaseModel):
    """camelCase on the wire, snake_case in Python, strict about types it knows."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        str_strip_whitespace=False,
        ser_json_timedelta="iso8601",
    )

    def wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class EventData(WireModel):
    """Base of every event's data. Unknown top-level fields move into `metadata`."""

    type_name: ClassVar[str] = ""
    # Attribute whose value is the CloudEvent subject and the partition key of this event.
    key_field: ClassVar[str] = ""

    metadata: JsonObject = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _keep_unknown_in_metadata(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        known: set[str] = set()
        for name, field in cls.model_fields.items():
            known.add(name)
            if field.alias:
                known.add(field.alias)
        unknown = {key: value for key, value in data.items() if key not in known}
        if not unknown:
            return data
        kept = {key: value for key, value in data.items() if key in known}
        metadata = kept.get("metadata", {})
        if not isinstance(metadata, dict):
            return data  # let field validation report the bad metadata
        kept["metadata"] = {**unknown, **metadata}
        return kept

    @model_validator(mode="after")
    def _bounded_metadata(self) -> Self:
        if len(self.metadata) > MAX_METADATA_KEYS:
            raise PydanticCustomError("max_keys", f"metadata allows at most {MAX_METADATA_KEYS} keys")
        return self

    @property
    def key(self) -> str:
        return str(getattr(self, self.key_field))


class MoneyFields(WireModel):
    """Mixin for models with a `currency` and `amount` pair; checks decimals against the currency.

    `currency` is declared first so that the amount's validator can see it and report `amount`.
    """

    currency: Currency
    amount: Amount

    # Set False on models whose amounts may be zero or negative (balances).
    positive_amount: ClassVar[bool] = True

    @field_validator("amount")
    @classmethod
    def _amount_fits_currency(cls, amount: str, info: ValidationInfo) -> str:
        currency = info.data.get("currency")
        if currency is None:
            return amount  # the currency's own error is reported
        try:
            money = Money.parse(amount, currency)
        except MoneyError as error:
            raise _as_pydantic_error(error) from None
        if cls.positive_amount and money.minor <= 0:
            raise PydanticCustomError("positive", "amount must be greater than zero")
        return money.amount

    @property
    def money(self) -> Money:
        return Money.parse(self.amount, self.currency)


class MoneyValue(MoneyFields):
    positive_amount: ClassVar[bool] = False


# ---- payments -------------------------------------------------------------------------------------


class PaymentMethod(WireModel):
    type: Literal["card", "bank_transfer", "wallet"]
    token: str = Field(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")
    # The issuer identification number (first 6-8 digits): with last4 still far from a full card number.
    bin: str | None = Field(default=None, max_length=8, pattern=r"^[0-9]{6,8}$")
    last4: str | None = Field(default=None, max_length=4, pattern=r"^[0-9]{4}$")
    brand: str | None = Field(default=None, max_length=32)
    country: str | None = Field(default=None, max_length=2, pattern=r"^[A-Z]{2}$")


class PaymentRequested(EventData, MoneyFields):
    type_name: ClassVar[str] = "payments.payment-requested"
    key_field: ClassVar[str] = "payment_id"

    payment_id: Identifier
    customer_id: Identifier
    merchant_id: Identifier
    method: PaymentMethod
    billing_country: str | None = Field(default=None, max_length=2, pattern=r"^[A-Z]{2}$")
    customer_email: str | None = Field(default=None, max_length=254)
    description: str | None = Field(default=None, max_length=1000)


class PaymentProcessed(EventData, MoneyFields):
    type_name: ClassVar[str] = "payments.payment-processed"
    key_field: ClassVar[str] = "payment_id"

    payment_id: Identifier
    customer_id: Identifier
    merchant_id: Identifier
    status: Literal["captured"] = "captured"
    fee: MoneyValue
    net: MoneyValue
    gateway: GatewayName
    gateway_reference: Reference
    processed_at: UtcTime = Field(default_factory=utcnow)


class PaymentFailed(EventData, MoneyFields):
    type_name: ClassVar[str] = "payments.payment-failed"
    key_field: ClassVar[str] = "payment_id"

    payment_id: Identifier
    customer_id: Identifier
    merchant_id: Identifier
    reason: Code = Field(description="Reason code from the documented list (functions/payments/reasons.py)")
    message: Message = ""
    failed_at: UtcTime = Field(default_factory=utcnow)


class RefundRequested(EventData, MoneyFields):
    type_name: ClassVar[str] = "payments.refund-requested"
    key_field: ClassVar[str] = "payment_id"

    refund_id: Identifier
    payment_id: Identifier
    reason: str | None = Field(default=None, max_length=200)


class RefundProcessed(EventData, MoneyFields):
    type_name: ClassVar[str] = "payments.refund-processed"
    key_field: ClassVar[str] = "payment_id"

    refund_id: Identifier
    payment_id: Identifier
    customer_id: Identifier
    merchant_id: Identifier
    refunded_total: Amount
    gateway: GatewayName = "simulated"
    gateway_reference: Reference
    processed_at: UtcTime = Field(default_factory=utcnow)


class RefundFailed(EventData, MoneyFields):
    type_name: ClassVar[str] = "payments.refund-failed"
    key_field: ClassVar[str] = "payment_id"

    refund_id: Identifier
    payment_id: Identifier
    reason: Code
    message: Message = ""
    failed_at: UtcTime = Field(default_factory=utcnow)
    # whose payment it was, for merchant webhooks (optional: older producers do not send it)
    merchant_id: Identifier | None = None


# ---- ledger ---------------------------------------------------------------------------------------

AccountName = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_\-]+(:[A-Za-z0-9_.\-]+)*$")]


class Posting(MoneyFields):
    account: AccountName
    direction: Literal["debit", "credit"]


class TransactionRequested(EventData):
    type_name: ClassVar[str] = "ledger.transaction-requested"
    key_field: ClassVar[str] = "transaction_id"

    transaction_id: Identifier
    action: Literal["create", "post", "void"] = "create"
    postings: list[Posting] = Field(default_factory=list, max_length=64)
    description: str | None = Field(default=None, max_length=1000)
    pending: bool = False
    effective_at: UtcTime | None = None

    @model_validator(mode="after")
    def _postings_match_action(self) -> Self:
        if self.action == "create" and len(self.postings) < 2:
            raise PydanticCustomError("min_postings", "a transaction needs at least two postings")
        if self.action != "create" and self.postings:
            raise PydanticCustomError("no_postings", f"action {self.action!r} takes no postings")
        if self.action != "create" and self.pending:
            raise PydanticCustomError("pending", "only action 'create' can be pending")
        return self


class BalanceUpdated(EventData):
    type_name: ClassVar[str] = "ledger.balance-updated"
    key_field: ClassVar[str] = "account"

    account: AccountName
    currency: Currency
    posted: Amount
    pending: Amount
    available: Amount
    transaction_id: Identifier
    updated_at: UtcTime = Field(default_factory=utcnow)


# ---- notifications --------------------------------------------------------------------------------

Channel = Literal["email", "sms", "push", "webhook"]


class NotificationRequested(EventData):
    type_name: ClassVar[str] = "notifications.notification-requested"
    key_field: ClassVar[str] = "notification_id"

    notification_id: Identifier
    channel: Channel
    recipient: str = Field(min_length=1, max_length=2048)
    template: str | None = Field(default=None, max_length=100, pattern=r"^[a-z0-9_\-]+$")
    locale: str = Field(default="en", max_length=5, pattern=r"^[a-z]{2}(-[A-Z]{2})?$")
    variables: JsonObject = Field(default_factory=dict)
    subject: str | None = Field(default=None, max_length=998)
    body: str | None = Field(default=None, max_length=100_000)

    @model_validator(mode="after")
    def _template_or_body(self) -> Self:
        if self.template is None and self.body is None:
            raise PydanticCustomError("template_or_body", "give a template or a body")
        return self


class NotificationSent(EventData):
    type_name: ClassVar[str] = "notifications.notification-sent"
    key_field: ClassVar[str] = "notification_id"

    notification_id: Identifier
    channel: Channel
    recipient: str = Field(max_length=2048, description="masked")
    provider_message_id: str | None = Field(default=None, max_length=256)
    attempts: Count = 1
    sent_at: UtcTime = Field(default_factory=utcnow)


class NotificationFailed(EventData):
    type_name: ClassVar[str] = "notifications.notification-failed"
    key_field: ClassVar[str] = "notification_id"

    notification_id: Identifier
    channel: Channel
    recipient: str = Field(max_length=2048, description="masked")
    reason: Code
    error: Message = ""
    attempts: Count = 1
    failed_at: UtcTime = Field(default_factory=utcnow)


# ---- audit ----------------------------------------------------------------------------------------


class AuditEvent(EventData):
    """What a service records about a decision it made. Shared shape of the three audit topics."""

    key_field: ClassVar[str] = "subject"

    service: Literal["payments", "ledger", "notifications", "audit"]
    action: str = Field(min_length=1, max_length=100)
    outcome: Literal["success", "failure", "rejected", "info"] = "success"
    actor: str = Field(default="system", max_length=200)
    subject: str = Field(min_length=1, max_length=200)
    correlation_id: str | None = Field(default=None, max_length=200)
    occurred_at: UtcTime = Field(default_factory=utcnow)
    details: JsonObject = Field(default_factory=dict)

    @field_validator("details")
    @classmethod
    def _details_amount(cls, details: dict[str, Any]) -> dict[str, Any]:
        # An amount the compliance rules cannot read would slip past the large-transaction rule.
        if "amount" in details and "currency" in details:
            try:
                Money.parse(details["amount"], str(details["currency"]))
            except MoneyError as error:
                raise PydanticCustomError(error.rule, f"details.amount/currency: {error}") from None
        return details


class PaymentAuditEvent(AuditEvent):
    type_name: ClassVar[str] = "audit.payment-events"


class LedgerAuditEvent(AuditEvent):
    type_name: ClassVar[str] = "audit.ledger-events"


class NotificationAuditEvent(AuditEvent):
    type_name: ClassVar[str] = "audit.notification-events"


class ComplianceAlert(EventData):
    type_name: ClassVar[str] = "audit.compliance-alerts"
    key_field: ClassVar[str] = "alert_id"

    alert_id: Identifier
    rule_id: Code
    severity: Literal["low", "medium", "high", "critical"]
    message: Message
    subject: str | None = Field(default=None, max_length=SUBJECT_MAX_CHARS)
    triggering_event_ids: list[Annotated[str, Field(max_length=512)]] = Field(default_factory=list, max_length=1000)
    raised_at: UtcTime = Field(default_factory=utcnow)


CATALOG: dict[str, type[EventData]] = {
    model.type_name: model
    for model in (
        PaymentRequested,
        PaymentProcessed,
        PaymentFailed,
        RefundRequested,
        RefundProcessed,
        RefundFailed,
        TransactionRequested,
        BalanceUpdated,
        NotificationRequested,
        NotificationSent,
        NotificationFailed,
        PaymentAuditEvent,
        LedgerAuditEvent,
        NotificationAuditEvent,
        ComplianceAlert,
    )
}

# The twelve topics of the seed, plus the refund flow added for the payments function.
SEED_TOPICS = (
    "payments.payment-requested",
    "payments.payment-processed",
    "payments.payment-failed",
    "ledger.transaction-requested",
    "ledger.balance-updated",
    "notifications.notification-requested",
    "notifications.notification-sent",
    "notifications.notification-failed",
    "audit.payment-events",
    "audit.ledger-events",
    "audit.notification-events",
    "audit.compliance-alerts",
)


def dead_letter_topic(function: str) -> str:
    return f"{function}.dead-letter"


def model_for(event_type: str) -> type[EventData]:
    return CATALOG[event_type]


def json_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schema (draft 2020-12) of every type's data, as it appears on the wire."""
    schemas: dict[str, dict[str, Any]] = {}
    for event_type, model in sorted(CATALOG.items()):
        schema = model.model_json_schema(by_alias=True, mode="validation")
        # Unknown top-level fields are accepted (kept in metadata), so the top level stays open.
        schema.pop("additionalProperties", None)
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"urn:paymesh:event:{event_type}"
        schema["title"] = event_type
        schemas[event_type] = schema
    return schemas


# ---- ledger settlement (payouts) ------------------------------------------------------------------

SettlementPeriod = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.:\-]+$")]


class SettlementRequested(EventData):
    """Run a settlement for `period` (e.g. "2026-11-28"): every merchant, or one merchant and/or currency."""

    type_name: ClassVar[str] = "ledger.settlement-requested"
    key_field: ClassVar[str] = "period"

    period: SettlementPeriod
    merchant_id: Identifier | None = None
    currency: Currency | None = None
    requested_at: UtcTime = Field(default_factory=utcnow)


class PayoutCreated(EventData, MoneyFields):
    """A payout is held in the ledger (merchant -> liabilities:payouts_in_transit) and ready to be sent."""

    type_name: ClassVar[str] = "ledger.payout-created"
    key_field: ClassVar[str] = "payout_id"

    payout_id: Identifier
    merchant_id: Identifier
    period: SettlementPeriod
    created_at: UtcTime = Field(default_factory=utcnow)


class PayoutPaid(EventData):
    """The payout reached the merchant: the ledger posts its transfer."""

    type_name: ClassVar[str] = "ledger.payout-paid"
    key_field: ClassVar[str] = "payout_id"

    payout_id: Identifier
    reference: str | None = Field(default=None, max_length=200)
    paid_at: UtcTime = Field(default_factory=utcnow)


class PayoutFailed(EventData):
    """The payout could not be made: the ledger voids its transfer and the money is the merchant's again."""

    type_name: ClassVar[str] = "ledger.payout-failed"
    key_field: ClassVar[str] = "payout_id"

    payout_id: Identifier
    reason: str = Field(min_length=1, max_length=200)
    failed_at: UtcTime = Field(default_factory=utcnow)


CATALOG.update({model.type_name: model for model in (SettlementRequested, PayoutCreated, PayoutPaid, PayoutFailed)})
# Reported by the payout provider, outside paymesh: consumed here, never produced by a paymesh function.
PROVIDER_REPORTED_TYPES = frozenset({PayoutPaid.type_name, PayoutFailed.type_name})
# ---- gateway events, disputes, settlement reports (issue 18) ---------------------------------------

GatewayEventKind = Literal["payment_succeeded", "dispute_opened", "dispute_closed", "payout_paid"]


class GatewayEventReceived(EventData, MoneyFields):
    """What a gateway reported asynchronously (a verified Stripe webhook), normalised. `reference` is the
    payment's gateway reference (what payment-processed carried as gatewayReference), or the payout id."""

    type_name: ClassVar[str] = "payments.gateway-event-received"
    key_field: ClassVar[str] = "reference"

    gateway: Identifier
    gateway_event_id: Identifier
    gateway_event_type: str = Field(min_length=1, max_length=100)
    kind: GatewayEventKind
    reference: Identifier
    dispute_id: Identifier | None = None
    dispute_reason: str | None = Field(default=None, max_length=100)
    dispute_outcome: Literal["won", "lost"] | None = None
    occurred_at: UtcTime = Field(default_factory=utcnow)

    @model_validator(mode="after")
    def _fields_the_kind_needs(self) -> Self:
        needed = {"disputeId": self.dispute_id} if self.kind.startswith("dispute_") else {}
        if self.kind == "dispute_closed":
            needed["disputeOutcome"] = self.dispute_outcome
        missing = [InitErrorDetails(type=PydanticCustomError("required_by_kind", f"kind {self.kind!r} needs {name}"),
                                    loc=(name,), input=None) for name, value in needed.items() if value is None]
        if missing:
            # raised as a ValidationError so each problem names its wire field, not the model as a whole
            raise ValidationError.from_exception_data(type(self).__name__, missing)
        return self


class DisputeOpened(EventData, MoneyFields):
    type_name: ClassVar[str] = "payments.dispute-opened"
    key_field: ClassVar[str] = "payment_id"

    dispute_id: Identifier
    payment_id: Identifier
    customer_id: Identifier
    merchant_id: Identifier
    reason: str = Field(default="general", max_length=100)
    gateway: Identifier
    gateway_reference: Reference
    opened_at: UtcTime = Field(default_factory=utcnow)


class DisputeClosed(EventData, MoneyFields):
    """`fee` is the chargeback fee the merchant bears: zero when the dispute was won."""

    type_name: ClassVar[str] = "payments.dispute-closed"
    key_field: ClassVar[str] = "payment_id"

    dispute_id: Identifier
    payment_id: Identifier
    customer_id: Identifier
    merchant_id: Identifier
    outcome: Literal["won", "lost"]
    fee: MoneyValue
    gateway: Identifier
    closed_at: UtcTime = Field(default_factory=utcnow)


CATALOG.update({model.type_name: model for model in (GatewayEventReceived, DisputeOpened, DisputeClosed)})


class SettlementLine(WireModel):
    """One line of a gateway's settlement report: a charge it settled, gross less its fee is the net paid out.
    Amounts in major units of the report's currency."""

    gateway_reference: Identifier
    gross: Amount
    fee: Amount
    net: Amount
    category: str | None = Field(default=None, max_length=50)
    balance_transaction_id: str | None = Field(default=None, max_length=128)


class SettlementReported(EventData):
    """A gateway's settlement batch (e.g. a Stripe payout with its balance transactions), to reconcile with the
    ledger's gateway clearing account. `settledThrough`: payments captured up to then should be in the batch."""

    type_name: ClassVar[str] = "ledger.settlement-reported"
    key_field: ClassVar[str] = "batch_id"

    gateway: Identifier
    batch_id: Identifier
    currency: Currency
    lines: list[SettlementLine] = Field(min_length=1, max_length=10_000)
    settled_through: UtcTime | None = None
    reported_at: UtcTime = Field(default_factory=utcnow)


CATALOG.update({SettlementReported.type_name: SettlementReported})


# ---- Knative source events (not Kafka topics, so not in CATALOG) -----------------------------------

WEBHOOK_EVENT_TYPES = ("payments.payment-processed", "payments.payment-failed", "payments.refund-processed",
                       "payments.refund-failed", "payments.dispute-opened", "payments.dispute-closed")


class PingTick(EventData):
    """A Knative PingSource's scheduled event; its data is whatever the PingSource's spec.data holds."""

    type_name: ClassVar[str] = "dev.knative.sources.ping"


# ---- the audit log's signed checkpoints --------------------------------------------------------------

class AuditCheckpointEvent(EventData):
    """A signed checkpoint of the audit transparency log: `checkpoint` is the C2SP tlog-checkpoint signed
    note (origin, tree size, base64 root, then Ed25519 signature lines), verifiable with the log's key."""

    type_name: ClassVar[str] = "audit.checkpoints"
    key_field: ClassVar[str] = "origin"

    origin: str = Field(min_length=1, max_length=256)
    tree_size: int = Field(ge=0, le=INTEGER_MAX)
    root_hash: str = Field(min_length=44, max_length=44)  # base64 of the 32-byte root
    checkpoint: str = Field(min_length=1, max_length=4096)
    signed_at: UtcTime = Field(default_factory=utcnow)


CATALOG[AuditCheckpointEvent.type_name] = AuditCheckpointEvent
