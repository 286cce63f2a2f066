"""Processing fees in integer minor units.

fee = round_half_up(amount * percent_bps / 10000) + fixed[currency], capped at the amount, so that
net = amount - fee is never negative. Rounding is half-up on the percent part only, in minor units
(1.005 cents -> 1 cent, 1.5 cents -> 2 cents); the fixed part is already whole minor units.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from shared.money import Money


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    percent_bps: int
    fixed: dict[str, Decimal]

    def fee(self, amount: Money) -> Money:
        percent_part = (amount.minor * self.percent_bps * 2 + 10_000) // 20_000  # half-up, exact integers
        fixed = Money.parse(self.fixed.get(amount.currency, Decimal(0)), amount.currency).minor
        return Money(amount.currency, min(percent_part + fixed, amount.minor))
