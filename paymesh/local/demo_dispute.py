"""The demo's last act: a chargeback. The simulated gateway has no webhooks, so the demo plays its part and
produces what the gateway events service would publish for it: payments.gateway-event-received, a dispute opened
on the EUR payment and then lost. Payments marks the payment disputed then charged_back, the ledger holds and then
takes the amount plus the chargeback fee from the merchant."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from rich.console import Console
from rich.markup import escape

from paymesh.local.send import new_event, produce
from paymesh.local.watch import Seen, TopicReader

GATEWAY_EVENT = "payments.gateway-event-received"


@dataclass
class DisputeAct:
    payment_id: str
    dispute_id: str
    complete: bool = False
    seen: list[Seen] = field(default_factory=list)
    payment_status: str | None = None
    problem: str | None = None


def _payment(payments_url: str, payment_id: str, headers: Mapping[str, str] | None) -> dict[str, Any]:
    try:
        answer = httpx.get(f"{payments_url}/payments/{payment_id}", timeout=5, headers=dict(headers or {})).json()
    except (httpx.HTTPError, ValueError) as error:
        return {"error": type(error).__name__}
    return answer if isinstance(answer, dict) else {}


def _done(dispute_id: str, seen: list[Seen]) -> bool:
    closed = any(item.topic == "payments.dispute-closed" and isinstance(item.data, dict)
                 and item.data.get("disputeId") == dispute_id for item in seen)
    booked = any(item.topic == "ledger.balance-updated" and isinstance(item.data, dict)
                 and item.data.get("transactionId") == f"chargeback:{dispute_id}" for item in seen)
    return closed and booked


def run_dispute(bootstrap: str, payments_url: str, reader: TopicReader, run: str, timeout: float, *,
                headers: Mapping[str, str] | None = None) -> DisputeAct:
    """`headers`: a reader's Authorization for GET /payments/{id} when the set runs with authentication."""
    act = DisputeAct(f"pay_eur_{run}", f"dp_demo_{run}")
    payment = _payment(payments_url, act.payment_id, headers)
    reference, amount = payment.get("gatewayReference"), payment.get("amount")
    if not isinstance(reference, str) or not isinstance(amount, str):
        act.problem = f"no captured payment {act.payment_id} to dispute: {payment}"
        return act
    common = {"gateway": "simulated", "reference": reference, "amount": amount, "currency": payment.get("currency"),
              "disputeId": act.dispute_id, "disputeReason": "fraudulent"}
    events = [new_event(GATEWAY_EVENT, {**common, "gatewayEventId": f"evt_open_{run}", "kind": "dispute_opened",
                                        "gatewayEventType": "charge.dispute.created"}, source="/paymesh/demo/gateway"),
              new_event(GATEWAY_EVENT, {**common, "gatewayEventId": f"evt_close_{run}", "kind": "dispute_closed",
                                        "gatewayEventType": "charge.dispute.closed", "disputeOutcome": "lost"},
                        source="/paymesh/demo/gateway")]
    produce(bootstrap, events)  # one partition key (the reference): opened is handled before closed
    act.seen = reader.read_until(lambda seen: _done(act.dispute_id, seen), timeout)
    act.complete = _done(act.dispute_id, act.seen)
    act.payment_status = str(_payment(payments_url, act.payment_id, headers).get("status"))
    return act


def print_dispute(act: DisputeAct | None, console: Console) -> None:
    if act is None:
        return
    if act.problem:
        console.print(f"[red]dispute: {escape(act.problem)}[/]")
        return
    # opened before closed: they travel on different topics, so they may be seen in either order
    steps = [f"{item.topic} {item.data.get('outcome', '')}".strip() for item in
             sorted(act.seen, key=lambda item: item.topic != "payments.dispute-opened")
             if item.topic.startswith("payments.dispute-") and isinstance(item.data, dict)]
    state = "[green]complete[/]" if act.complete else "[red]INCOMPLETE[/]"
    console.print(f"dispute {escape(act.dispute_id)} on {escape(act.payment_id)} ({state}): "
                  f"{escape(' -> '.join(steps))}; payment now {escape(str(act.payment_status))}")
