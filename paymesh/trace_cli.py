"""`paymesh trace ID`: the command; paymesh/trace.py builds and draws the story."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console

from paymesh import dlq
from paymesh.local import journal
from paymesh.local.send import running_state
from paymesh.trace import collect, dead_letter_entries, render
from shared.config import RuntimeSettings, load_settings


def trace_command(
    key: Annotated[str, typer.Argument(metavar="ID", help="a payment id or a correlation id")],
    url: Annotated[str | None, typer.Option(help="the audit function's base URL (a deployed set's query API); "
                                                 "default: the running `paymesh up`")] = None,
    bootstrap: Annotated[str | None, typer.Option(help="with --url: also read dead letters from this Kafka "
                                                       "(default KAFKA_BOOTSTRAP_SERVERS, if set)")] = None,
    home: Annotated[Path, typer.Option(help="the running set's PAYMESH_HOME", envvar="PAYMESH_HOME")]
    = Path(".paymesh"),
    token: Annotated[str | None, typer.Option(help="with --url: a reader's bearer token for the audit query API "
                                                   "(kubectl create token paymesh-reader --audience audit)",
                                              envvar="PAYMESH_TOKEN", show_default=False)] = None,
) -> None:
    """One payment's story as a tree: each event, the function that handled it, when, how long, the outcome,
    retries and dead letters."""
    console = Console(emoji=False, width=None if Console().is_terminal else 160)
    entries: list[dict[str, Any]] = []
    audit_url = url
    if url is None:
        state = running_state(home)
        audit_url = (state.get("functions") or {}).get("audit")
        entries = list(journal.read(home / journal.JOURNAL_FILE))
        if audit_url is None and not entries:
            console.print("[red]paymesh trace: no running set here: start `paymesh up`, or pass --url[/]")
            raise typer.Exit(2)
        if state.get("issuer") and token is None:
            from paymesh.local.cli import issued_token

            token = issued_token(home, "reader", "audit")
    else:
        servers = bootstrap or os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if servers:
            settings = load_settings(RuntimeSettings).model_copy(update={"kafka_bootstrap_servers": servers})
            entries = dead_letter_entries(dlq.read(settings, dlq.topics()))
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with httpx.Client(timeout=10, headers=headers) as client:
            story = collect(key, entries, audit_url, client)
    except httpx.HTTPError as error:
        console.print(f"[red]paymesh trace: the audit query API at {audit_url}: {type(error).__name__}: {error}[/]")
        raise typer.Exit(1) from None
    console.print(render(story))
    if not story.roots:
        raise typer.Exit(1)
