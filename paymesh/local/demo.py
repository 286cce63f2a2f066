"""`paymesh demo`: a scripted scenario against a running set, then what it led to.

Payments in EUR and USD, a declined card, a fraud decline, a manual ledger transaction, one notification
per channel (the webhook goes to a receiver the demo runs; email, SMS and push go to the provider sandbox that
`paymesh up` starts, paymesh/local/sandbox.py, or with --no-sandbox to the providers configured in the environment,
and fail as notification-failed when there are none). Then balances, notifications, what the sandbox received,
the audit chain and compliance alerts. The demo also registers a merchant webhook endpoint (on its receiver) for
the merchant's payment and refund outcomes and prints each message with its attempts. It ends with a chargeback on
the EUR payment (demo_dispute.py).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from paymesh.local.broker import all_topics
from paymesh.local.demo_dispute import DisputeAct, print_dispute, run_dispute
from paymesh.local.demo_settlement import SettlementAct, print_settlement, run_settlement
from paymesh.local.send import new_event, produce
from paymesh.local.watch import Seen, TopicReader
from shared.envelope import Envelope

MERCHANT = "mer_demo"
DEFAULT_URLS = {"payments": "http://127.0.0.1:8081", "ledger": "http://127.0.0.1:8082",
                "notifications": "http://127.0.0.1:8083", "audit": "http://127.0.0.1:8084"}
QUIET_SECONDS = 1.5


@dataclass
class Webhooks:
    url: str
    received: list[dict[str, Any]] = field(default_factory=list)


@contextmanager
def webhook_receiver() -> Iterator[Webhooks]:
    """A local endpoint for the demo's webhooks: answers 200 and keeps what it got."""
    hooks = Webhooks("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            hooks.received.append({"path": self.path, "headers": dict(self.headers.items()), "body": body})
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hooks.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield hooks
    finally:
        server.shutdown()
        server.server_close()


def scenario(run: str, webhook_url: str) -> list[Envelope]:
    def payment(name: str, customer: str, amount: str, currency: str, token: str,
                **metadata: str) -> dict[str, Any]:
        return {"paymentId": f"pay_{name}_{run}", "customerId": f"cus_{customer}_{run}", "merchantId": MERCHANT,
                "amount": amount, "currency": currency, "method": {"type": "card", "token": token},
                "description": f"demo {name}", "metadata": metadata}

    def notification(channel: str, recipient: str) -> dict[str, Any]:
        return {"notificationId": f"ntf_{channel}_{run}", "channel": channel, "recipient": recipient,
                "subject": "paymesh demo", "body": f"Hello from the paymesh demo ({channel})."}

    items: list[tuple[str, dict[str, Any]]] = [
        ("payments.payment-requested", payment("eur", "alice", "49.90", "EUR", "tok_visa",
                                               webhookUrl=f"{webhook_url}/receipts",
                                               customerEmail="alice@example.com")),
        ("payments.payment-requested", payment("usd", "bob", "120.00", "USD", "tok_mastercard",
                                               webhookUrl=f"{webhook_url}/receipts")),
        ("payments.payment-requested", payment("declined", "carol", "20.00", "EUR", "tok_chargeDeclined",
                                               customerPhone="+447700900789")),
        ("payments.payment-requested", payment("fraud", "dave", "25000.00", "EUR", "tok_visa")),
        ("ledger.transaction-requested", {
            "transactionId": f"txn_capital_{run}", "description": "owner capital into the demo bank account",
            "postings": [{"account": "assets:bank:demo", "direction": "debit", "amount": "1000.00", "currency": "EUR"},
                         {"account": "equity:owner", "direction": "credit", "amount": "1000.00", "currency": "EUR"}]}),
        ("notifications.notification-requested", notification("webhook", f"{webhook_url}/hooks")),
        ("notifications.notification-requested", notification("email", "j.doe@example.com")),
        ("notifications.notification-requested", notification("sms", "+447700900789")),
        ("notifications.notification-requested", notification("push", "demo-device-token-0123456789")),
    ]
    return [new_event(event_type, data, source="/paymesh/demo", correlation_id=f"demo-{run}-{n}")
            for n, (event_type, data) in enumerate(items, 1)]


@dataclass
class DemoResult:
    run: str
    sent: int
    seen: list[Seen]
    seconds: float
    complete: bool
    balances: dict[str, Any] = field(default_factory=dict)
    trial_balance: Any = None
    audit_verify: Any = None
    webhooks: int = 0
    # What the provider sandbox received during this run, per channel (None: no sandbox).
    sandbox_url: str | None = None
    sandbox: dict[str, int] | None = None
    dispute: DisputeAct | None = None
    settlement: SettlementAct | None = None
    # The merchant webhook endpoint the demo registered: its id (or the error), and its messages with attempts.
    endpoint: str | None = None
    merchant_webhooks: list[dict[str, Any]] = field(default_factory=list)

    def of(self, topic: str) -> list[Seen]:
        return [item for item in self.seen if item.topic == topic]


def _outcomes_complete(run: str, seen: list[Seen]) -> bool:
    payments = {item.data.get("paymentId") for item in seen if isinstance(item.data, dict)
                and item.topic in {"payments.payment-processed", "payments.payment-failed"}}
    notified = {item.data.get("notificationId") for item in seen if isinstance(item.data, dict)
                and item.topic in {"notifications.notification-sent", "notifications.notification-failed"}}
    posted = any(isinstance(item.data, dict) and item.data.get("transactionId") == f"txn_capital_{run}"
                 for item in seen if item.topic == "ledger.balance-updated")
    want_payments = {f"pay_{name}_{run}" for name in ("eur", "usd", "declined", "fraud")}
    want_notes = {f"ntf_{channel}_{run}" for channel in ("webhook", "email", "sms", "push")}
    return want_payments <= payments and want_notes <= notified and posted


def _get(url: str, headers: Mapping[str, str] | None = None) -> Any:
    try:
        response = httpx.get(url, timeout=5, headers=dict(headers or {}))
    except httpx.HTTPError as error:
        return {"error": f"{type(error).__name__}"}
    try:
        return response.json()
    except ValueError:
        return {"status": response.status_code, "body": response.text[:200]}


def _outbox(sandbox_url: str) -> list[dict[str, Any]]:
    """The sandbox's GET /outbox items (newest last), or [] when it does not answer."""
    answer = _get(f"{sandbox_url.rstrip('/')}/outbox")
    items = answer.get("items") if isinstance(answer, dict) else None
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def run_demo(bootstrap: str, urls: dict[str, str] | None = None, timeout: float = 45.0,
             sandbox_url: str | None = None, headers: Mapping[str, str] | None = None) -> DemoResult:
    """`headers`: for the query routes and the webhook endpoint registry (an admin's `Authorization` when the set
    runs with authentication: registering the demo merchant's endpoint is an administrative route)."""
    urls = {**DEFAULT_URLS, **(urls or {})}
    run = uuid.uuid4().hex[:6]
    reader = TopicReader(bootstrap, all_topics())
    before = len(_outbox(sandbox_url)) if sandbox_url else 0
    with webhook_receiver() as hooks:
        started = time.monotonic()
        endpoint = register_endpoint(urls["notifications"], f"{hooks.url}/merchant", headers)
        events = scenario(run, hooks.url)
        produce(bootstrap, events)
        seen = reader.read_until(lambda items: _outcomes_complete(run, items), timeout)
        complete = _outcomes_complete(run, seen)
        # Then until the set is quiet: receipts, audit records and alerts follow the primary outcomes.
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < QUIET_SECONDS and time.monotonic() - started < timeout:
            fresh = reader.poll(timeout_ms=200)
            if fresh:
                seen.extend(fresh)
                quiet_since = time.monotonic()
        # Last act: a chargeback on the EUR payment (paymesh/local/demo_dispute.py).
        dispute = run_dispute(bootstrap, urls["payments"], reader, run, timeout, headers=headers) if complete else None
        if dispute is not None:
            seen.extend(dispute.seen)
            complete = dispute.complete
        # Closing act: a settlement run for the demo merchant (paymesh/local/demo_settlement.py).
        settlement = run_settlement(bootstrap, reader, run=run, merchant=MERCHANT, timeout=timeout) if complete \
            else None
        if settlement is not None:
            seen.extend(settlement.seen)
        seconds = time.monotonic() - started
        received = len(hooks.received)
    reader.close()
    result = DemoResult(run, len(events), seen, seconds, complete, webhooks=received, sandbox_url=sandbox_url,
                        endpoint=endpoint)
    if endpoint is not None and endpoint.startswith("ep_"):
        result.merchant_webhooks = merchant_messages(urls["notifications"], endpoint, headers)
    result.dispute = dispute
    result.settlement = settlement
    if sandbox_url:
        arrived = [str(item.get("channel")) for item in _outbox(sandbox_url)[before:]]
        result.sandbox = {channel: arrived.count(channel) for channel in ("email", "sms", "push")}
    accounts = [f"merchant:{MERCHANT}", "revenue:fees", "assets:gateway_clearing:simulated", "assets:bank:demo",
                "equity:owner", "liabilities:disputes"]
    result.balances = {account: _get(f"{urls['ledger']}/accounts/{account}/balances", headers)
                       for account in accounts}
    result.trial_balance = _get(f"{urls['ledger']}/trial-balance", headers)
    result.audit_verify = _get(f"{urls['audit']}/verify", headers)
    return result


def register_endpoint(notifications_url: str, url: str, headers: Mapping[str, str] | None = None) -> str:
    """Register the demo merchant's endpoint: its id, or what went wrong."""
    body = {"merchantId": MERCHANT, "url": url, "description": "paymesh demo",
            "eventTypes": ["payments.payment-processed", "payments.payment-failed", "payments.refund-processed",
                           "payments.refund-failed", "payments.dispute-opened", "payments.dispute-closed"]}
    try:
        response = httpx.post(f"{notifications_url}/endpoints", json=body, timeout=5, headers=dict(headers or {}))
    except httpx.HTTPError as error:
        return f"not registered: {type(error).__name__}"
    if response.status_code != 201:
        return f"not registered: {response.status_code} {response.text[:200]}"
    return str(response.json()["id"])


def merchant_messages(notifications_url: str, endpoint: str,
                      headers: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """The endpoint's messages, oldest first, each with its attempts."""
    answer = _get(f"{notifications_url}/endpoints/{endpoint}/messages", headers)
    messages = answer.get("messages") if isinstance(answer, dict) else None
    found = []
    for message in reversed(messages if isinstance(messages, list) else []):
        attempts = _get(f"{notifications_url}/messages/{message.get('id')}/attempts", headers)
        found.append({**message, "attempts": attempts.get("attempts", []) if isinstance(attempts, dict) else []})
    return found


def _attempts(attempts: list[dict[str, Any]]) -> str:
    return escape(", ".join(f"{item.get('status')} {item.get('responseStatus') or ''} in {item.get('durationMs')} ms"
                            .replace("  ", " ") for item in attempts) or "none yet")


def _short(value: Any, width: int = 90) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return escape(text if len(text) <= width else text[: width - 1] + "…")


def normal_side(amount: Any, account_type: Any) -> Any:
    """A ledger balance (debits less credits) as a person reads it: positive on the account's normal side, so
    what we owe a merchant (a liability) or have earned (revenue) shows positive too."""
    if account_type in {"asset", "expense"} or not isinstance(amount, str):
        return amount
    try:
        flipped = -Decimal(amount)
    except ArithmeticError:
        return amount
    return format(flipped, "f") if flipped else amount.lstrip("-")


def _balances(value: Any) -> str:
    """`EUR 48.20` per currency on the normal side (pending shown when it differs), or the raw answer."""
    entries = value.get("balances") if isinstance(value, dict) else None
    if not isinstance(entries, list):
        return _short(value)
    if not entries:
        return "no postings"
    kind = value.get("type")
    parts = []
    for entry in entries:
        posted, pending = normal_side(entry.get("posted"), kind), normal_side(entry.get("pending"), kind)
        text = f"{entry.get('currency')} {posted}"
        if pending not in (None, posted):
            text += f" (pending {pending})"
        parts.append(text)
    return escape(", ".join(parts))


def _trial_balance(value: Any) -> str:
    if not isinstance(value, dict) or "currencies" not in value:
        return _short(value, 200)
    totals = "; ".join(f"{c.get('currency')} debits {c.get('debits')} = credits {c.get('credits')}"
                       for c in value["currencies"])
    return escape(f"{'balanced' if value.get('balanced') else 'NOT BALANCED'}: {totals}")


def _verify(value: Any) -> str:
    if not isinstance(value, dict) or "ok" not in value:
        return _short(value, 200)
    head = value.get("head") or {}
    state = "[green]intact[/]" if value["ok"] else "[red]BROKEN[/]"
    return f"{state}, {value.get('count')} records, head #{head.get('sequence')} {_cell(head.get('hash', ''))[:16]}…"


def _cell(value: Any) -> str:
    return escape(str(value)) if value is not None else ""


def print_result(result: DemoResult, console: Console | None = None) -> None:
    console = console or Console(emoji=False)
    status = "[green]complete[/]" if result.complete else "[red]INCOMPLETE (timed out)[/]"
    console.rule(f"paymesh demo {result.run}: {status}")
    payments = Table("payment", "outcome", "amount", "detail", title="Payments")
    for item in result.of("payments.payment-processed"):
        data = item.data or {}
        payments.add_row(_cell(data.get("paymentId")), "[green]processed[/]",
                         _cell(f"{data.get('amount')} {data.get('currency')}"),
                         _cell(f"fee {data.get('fee', {}).get('amount')} net {data.get('net', {}).get('amount')}"))
    for item in result.of("payments.payment-failed"):
        data = item.data or {}
        payments.add_row(_cell(data.get("paymentId")), "[red]failed[/]",
                         _cell(f"{data.get('amount')} {data.get('currency')}"), _cell(data.get("reason")))
    console.print(payments)
    balances = Table("account", "type", "posted balance (normal side)",
                     title="Ledger balances (GET /accounts/{a}/balances)")
    for account, value in result.balances.items():
        balances.add_row(_cell(account), _cell(value.get("type") if isinstance(value, dict) else None),
                         _balances(value))
    console.print(balances)
    console.print(f"trial balance (GET /trial-balance): {_trial_balance(result.trial_balance)}")
    notes = Table("notification", "channel", "recipient", "outcome", title="Notifications")
    for item in result.of("notifications.notification-sent"):
        data = item.data or {}
        notes.add_row(_cell(data.get("notificationId")), _cell(data.get("channel")), _cell(data.get("recipient")),
                      "[green]sent[/]")
    for item in result.of("notifications.notification-failed"):
        data = item.data or {}
        notes.add_row(_cell(data.get("notificationId")), _cell(data.get("channel")), _cell(data.get("recipient")),
                      f"[yellow]failed[/]: {_cell(data.get('reason'))}")
    console.print(notes)
    console.print(f"webhooks received by the demo's receiver: {result.webhooks}")
    if result.endpoint is not None and result.endpoint.startswith("ep_"):
        hooks = Table("webhook-id", "event type", "status", "attempts",
                      title=f"Merchant webhooks (endpoint {result.endpoint}, GET /messages/{{id}}/attempts)")
        for message in result.merchant_webhooks:
            hooks.add_row(_cell(message.get("id")), _cell(message.get("eventType")), _cell(message.get("status")),
                          _attempts(message.get("attempts") or []))
        console.print(hooks)
    elif result.endpoint is not None:
        console.print(f"merchant webhook endpoint {_cell(result.endpoint)}")
    if result.sandbox is not None:
        counts = ", ".join(f"{channel} {count}" for channel, count in result.sandbox.items())
        console.print(f"provider sandbox received: {counts}  (GET {_cell(result.sandbox_url)}/outbox)")
    else:
        console.print("no provider sandbox (--no-sandbox): email, SMS and push went to the providers configured in "
                      "the environment (not_configured where there are none)")
    print_dispute(result.dispute, console)
    print_settlement(result.settlement, console)
    console.print(f"audit log (GET /verify): {_verify(result.audit_verify)}")
    alerts = result.of("audit.compliance-alerts")
    console.print(f"compliance alerts: {len(alerts)}")
    for item in alerts:
        data = item.data or {}
        console.print(_cell(f"  [{data.get('severity')}] {data.get('ruleId')}: {data.get('message')}"))
    dead = [item for item in result.seen if item.topic.endswith(".dead-letter")]
    if dead:
        console.print(f"[red]dead-lettered: {len(dead)}[/]")
    console.print(f"{result.sent} events sent, {len(result.seen)} events on the topics, "
                  f"{result.seconds:.1f} s wall time")
