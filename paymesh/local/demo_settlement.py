"""The demo's closing act: a settlement run. It asks the ledger to settle the demo merchant for a period of its
own (as the daily PingSource does for yesterday) and shows the payouts the ledger holds: per currency the
merchant's available balance less the reserve, moved to liabilities:payouts_in_transit until the bank confirms."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.console import Console
from rich.markup import escape

from paymesh.local.send import new_event, produce
from paymesh.local.watch import Seen, TopicReader

REQUESTED = "ledger.settlement-requested"
CREATED = "ledger.payout-created"
QUIET_SECONDS = 2.0


@dataclass
class SettlementAct:
    period: str
    payouts: list[dict[str, object]] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)


def _payouts(period: str, seen: list[Seen]) -> list[dict[str, object]]:
    return [item.data for item in seen if item.topic == CREATED and isinstance(item.data, dict)
            and item.data.get("period") == period]


def run_settlement(bootstrap: str, reader: TopicReader, *, run: str, merchant: str, timeout: float) -> SettlementAct:
    """Settle `merchant` for the period `demo-<run>`: the first payout, then whatever follows within a quiet
    moment (one payout per currency with money available after the reserve; the ledger makes them together)."""
    act = SettlementAct(f"demo-{run}")
    produce(bootstrap, [new_event(REQUESTED, {"period": act.period, "merchantId": merchant},
                                  source="/paymesh/demo/scheduler")])
    act.seen = reader.read_until(lambda seen: bool(_payouts(act.period, seen)), timeout)
    act.seen.extend(reader.read_until(lambda _seen: False, QUIET_SECONDS))
    act.payouts = _payouts(act.period, act.seen)
    return act


def print_settlement(act: SettlementAct | None, console: Console) -> None:
    if act is None:
        return
    if not act.payouts:
        console.print(f"settlement {escape(act.period)}: no payout (nothing available after the reserve)")
        return
    for payout in act.payouts:
        console.print(f"settlement {escape(act.period)}: payout {escape(str(payout.get('payoutId')))} of "
                      f"{escape(str(payout.get('amount')))} {escape(str(payout.get('currency')))} to "
                      f"{escape(str(payout.get('merchantId')))}, held in liabilities:payouts_in_transit")
