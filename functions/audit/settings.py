"""The audit function's settings (PAYMESH_AUDIT_* environment variables)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, PositiveInt, SecretStr

from functions.audit.checkpoints import Signing
from functions.audit.rules import RuleSettings
from shared.config import RuntimeSettings

SEVEN_YEARS_DAYS = 7 * 365 + 2  # leap days included


class AuditSettings(RuntimeSettings):
    audit_retention_days: PositiveInt = Field(default=SEVEN_YEARS_DAYS, description="records kept this long")
    audit_signing_key: SecretStr | None = Field(
        default=None, description="Ed25519 signer key of checkpoints, PRIVATE+KEY+<name>+... (paymesh audit keygen)")
    audit_large_transaction_thresholds: dict[str, str] = Field(
        default_factory=lambda: {"USD": "10000", "EUR": "10000", "GBP": "10000", "CHF": "10000",
                                 "JPY": "1500000"},
        description='per-currency threshold in major units, JSON: {"USD": "10000"}')
    audit_failed_payments_threshold: PositiveInt = 5
    audit_failed_payments_window_minutes: PositiveInt = 60

    def signing(self) -> Signing:
        """The log's checkpoint key; ValueError (without the key text) when the key is malformed."""
        key = self.audit_signing_key.get_secret_value() if self.audit_signing_key is not None else None
        return Signing(key)

    def rule_settings(self) -> RuleSettings:
        return RuleSettings(
            large_thresholds=dict(self.audit_large_transaction_thresholds),
            failed_threshold=self.audit_failed_payments_threshold,
            failed_window=timedelta(minutes=self.audit_failed_payments_window_minutes))
