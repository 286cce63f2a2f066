"""`paymesh trace <paymentId | correlationId>`: one payment's story as a tree of events.

Each event (by causationid under the event that caused it), the function that handled it, when, how long, the
outcome, retries and dead letters. From the audit log's query API (any deployed set, --url) and, for `paymesh up`,
the local engine's delivery journal.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
from rich.markup import escape
from rich.tree import Tree

PAGES_MAX = 20


@dataclass
class Step:
    """One event of the story."""

    id: str
    type: str
    source: str
    time: str
    causation: str | None = None
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)
    children: list[Step] = field(default_factory=list)


@dataclass
class Story:
    key: str
    correlation_ids: set[str]
    roots: list[Step]

    def steps(self) -> list[Step]:
        found: list[Step] = []
        pending = list(self.roots)
        while pending:
            step = pending.pop(0)
            found.append(step)
            pending.extend(step.children)
        return found


def audit_records(client: httpx.Client, audit_url: str, **filters: str) -> list[dict[str, Any]]:
    """Every audit record matching `filters` (subject, correlationId), following the cursor."""
    records: list[dict[str, Any]] = []
    params: dict[str, str] = {**filters, "limit": "1000"}
    for _ in range(PAGES_MAX):
        response = client.get(f"{audit_url.rstrip('/')}/events", params=params)
        response.raise_for_status()
        page = response.json()
        records.extend(page.get("items", []))
        if not page.get("nextCursor"):
            break
        params["cursor"] = page["nextCursor"]
    return records


def _about(entry: dict[str, Any], key: str) -> bool:
    event = entry.get("event", {})
    return key in (event.get("correlationid"), event.get("subject"), event.get("partitionkey"))


def collect(key: str, journal: Iterable[dict[str, Any]], audit_url: str | None,
            client: httpx.Client | None = None) -> Story:
    """Find the correlation ids `key` belongs to (it may be one), then every delivery and audit record of them."""
    entries = list(journal)
    correlation_ids = {key} | {entry["event"]["correlationid"] for entry in entries
                               if _about(entry, key) and entry["event"].get("correlationid")}
    records: dict[str, dict[str, Any]] = {}
    if audit_url is not None:
        http = client or httpx.Client(timeout=10)
        for record in audit_records(http, audit_url, subject=key):
            records[record["id"]] = record
            if record.get("correlationId"):
                correlation_ids.add(record["correlationId"])
        for correlation_id in sorted(correlation_ids):
            for record in audit_records(http, audit_url, correlationId=correlation_id):
                records[record["id"]] = record
    steps: dict[str, Step] = {}
    for entry in entries:
        event = entry.get("event", {})
        if event.get("correlationid") not in correlation_ids or not event.get("id"):
            continue
        step = steps.setdefault(event["id"], Step(event["id"], event.get("type", ""), event.get("source", ""),
                                                  event.get("time") or entry.get("at", ""), event.get("causationid")))
        step.deliveries.append(entry)
    for record in records.values():
        event_id = record.get("eventId") or record["id"]
        step = steps.setdefault(event_id, Step(event_id, record.get("eventType", ""), record.get("source", ""),
                                               record.get("occurredAt", "")))
        step.audit.append(record)
    roots: list[Step] = []
    for step in sorted(steps.values(), key=lambda item: (item.time, item.type)):
        parent = steps.get(step.causation or "")
        (parent.children if parent is not None and parent is not step else roots).append(step)
    return Story(key, correlation_ids, roots)


def _function(source: str) -> str:
    return source.rsplit("/", 1)[-1] if source.startswith("/paymesh/") else source


def _delivery(entry: dict[str, Any]) -> str:
    attempts = int(entry.get("attempts", 1))
    retries = f", {attempts - 1} retr{'y' if attempts == 2 else 'ies'}" if attempts > 1 else ""
    head = f"-> [bold]{escape(entry.get('function', '?'))}[/] at {escape(entry.get('at', ''))}"
    outcome = entry.get("outcome")
    status = entry.get("status")
    took = f"{entry.get('durationMs', 0)} ms"
    if outcome == "delivered":
        return f"{head}: [green]{status}[/] in {took}{retries}"
    reason = escape(str(entry.get("error", ""))[:160])
    label = "[red]dead-lettered[/]" if outcome == "dead_lettered" else "[red]lost[/]"
    return f"{head}: {label} ({status or 'no answer'}) after {took}{retries}: {reason}"


def _audit(record: dict[str, Any]) -> str:
    colour = "green" if record.get("outcome") == "success" else "yellow"
    return (f"audit #{record.get('sequence')}: {escape(str(record.get('service')))} {escape(str(record.get('action')))}"
            f" [{colour}]{escape(str(record.get('outcome')))}[/] ({escape(str(record.get('occurredAt')))})")


def _add(tree: Tree, step: Step) -> None:
    origin = _function(step.source)
    node = tree.add(f"[cyan]{escape(step.type)}[/] from {escape(origin)} at {escape(step.time)} "
                    f"[dim]id={escape(step.id)}[/]")
    for entry in step.deliveries:
        node.add(_delivery(entry))
    for record in sorted(step.audit, key=lambda item: int(item.get("sequence", 0))):
        node.add(_audit(record))
    for child in step.children:
        _add(node, child)


def render(story: Story) -> Tree:
    ids = ", ".join(sorted(story.correlation_ids - {story.key})) or story.key
    tree = Tree(f"[bold]{escape(story.key)}[/] (correlation {escape(ids)})")
    if not story.roots:
        tree.add("[yellow]nothing found: no delivery or audit record with this payment or correlation id[/]")
    for step in story.roots:
        _add(tree, step)
    return tree


def dead_letter_entries(letters: Iterable[Any]) -> list[dict[str, Any]]:
    """Dead letters (paymesh.dlq.DeadLetter) as journal entries, for a deployed set without the local journal."""
    from paymesh.local.journal import KEPT_ATTRIBUTES

    return [{"at": letter.time.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
             "function": letter.function, "topic": letter.topic, "outcome": "dead_lettered",
             "status": int(letter.error_code) if letter.error_code.isdigit() else None, "attempts": 1,
             "durationMs": 0, "error": letter.reason,
             "event": {name: letter.attributes[name] for name in KEPT_ATTRIBUTES if name in letter.attributes}}
            for letter in letters]
