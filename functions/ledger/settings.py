"""The ledger's settings (PAYMESH_LEDGER_* environment variables on top of the runtime's)."""

from __future__ import annotations

from pydantic import Field

from functions.ledger.accounts import DEFAULT_RULES, AccountDefinition, AccountRule
from shared.config import RuntimeSettings


class LedgerSettings(RuntimeSettings):
    ledger_account_rules: tuple[AccountRule, ...] = Field(
        default=DEFAULT_RULES,
        description="JSON list of {pattern, type, flags...}; first match gives a new account its type and flags")
    ledger_accounts: tuple[AccountDefinition, ...] = Field(
        default=(), description="JSON list of {name, type, flags..., metadata}: accounts created at start-up")
    ledger_payout_reserve_bps: int = Field(
        default=0, ge=0, le=10_000,
        description="Share of a merchant's available balance kept back at each settlement, in basis points")
