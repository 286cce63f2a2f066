"""The payments store: payment records (with their state) and refunds. Money in integer minor units."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


class Payment(SQLModel, table=True):
    __tablename__ = "payments_payments"
    # Velocity rules read a customer's recent payments.
    __table_args__ = (sa.Index("ix_payments_payments_customer_created", "customer_id", "created_at"),)

    payment_id: str = Field(sa_type=sa.String(128), primary_key=True)
    customer_id: str = Field(sa_type=sa.String(128))
    merchant_id: str = Field(sa_type=sa.String(128))
    amount_minor: int = Field(sa_type=sa.BigInteger())
    currency: str = Field(sa_type=sa.String(3))
    status: str = Field(sa_type=sa.String(32))
    method_type: str = Field(sa_type=sa.String(16))
    card_brand: str | None = Field(default=None, sa_type=sa.String(32))
    card_last4: str | None = Field(default=None, sa_type=sa.String(4))
    card_country: str | None = Field(default=None, sa_type=sa.String(2))
    card_bin: str | None = Field(default=None, sa_type=sa.String(8))
    # SHA-256 of the payment method token, to tell a reused paymentId with another token; NULL on rows
    # recorded before migration 0002.
    method_token_sha256: str | None = Field(default=None, sa_type=sa.String(64))
    billing_country: str | None = Field(default=None, sa_type=sa.String(2))
    fee_minor: int = Field(default=0, sa_type=sa.BigInteger())
    net_minor: int = Field(default=0, sa_type=sa.BigInteger())
    refunded_minor: int = Field(default=0, sa_type=sa.BigInteger())
    gateway: str = Field(sa_type=sa.String(32))
    gateway_reference: str | None = Field(default=None, sa_type=sa.String(255))
    failure_reason: str | None = Field(default=None, sa_type=sa.String(64))
    fraud_score: int = Field(default=0)
    fraud_decision: str = Field(default="approve", sa_type=sa.String(16))
    fraud_rules: str = Field(default="", sa_type=sa.String(500))
    created_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    updated_at: datetime = Field(sa_type=sa.DateTime(timezone=True))


class Refund(SQLModel, table=True):
    __tablename__ = "payments_refunds"
    __table_args__ = (sa.Index("ix_payments_refunds_payment_id", "payment_id"),)

    refund_id: str = Field(sa_type=sa.String(128), primary_key=True)
    payment_id: str = Field(sa_type=sa.String(128))
    amount_minor: int = Field(sa_type=sa.BigInteger())
    currency: str = Field(sa_type=sa.String(3))
    status: str = Field(sa_type=sa.String(16))  # processed | failed
    reason: str | None = Field(default=None, sa_type=sa.String(200))
    failure_reason: str | None = Field(default=None, sa_type=sa.String(64))
    gateway: str = Field(sa_type=sa.String(32))
    gateway_reference: str | None = Field(default=None, sa_type=sa.String(255))
    created_at: datetime = Field(sa_type=sa.DateTime(timezone=True))


TABLES = frozenset({Payment.__tablename__, Refund.__tablename__})
