"""`paymesh dlq list|show|replay`: dead letters of the running set or of any Kafka cluster."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from paymesh import dlq
from paymesh.local.broker import FUNCTIONS
from paymesh.local.send import resolve_bootstrap
from shared.config import RuntimeSettings, load_settings
from shared.contract import parse_time
from shared.errors import EventError

app = typer.Typer(help="Dead letters: list, show and replay events the functions refused.", no_args_is_help=True)
console = Console(emoji=False, width=None if Console().is_terminal else 160)

Bootstrap = Annotated[str | None, typer.Option(
    help="Kafka bootstrap servers (default: KAFKA_BOOTSTRAP_SERVERS, else the running `paymesh up`); SASL/TLS "
         "from the PAYMESH_KAFKA_* variables")]
Home = Annotated[Path, typer.Option(help="the running set's PAYMESH_HOME", envvar="PAYMESH_HOME")]
Function = Annotated[str | None, typer.Option("--function", help="only this function's dead letters")]


def _settings(bootstrap: str | None, home: Path) -> RuntimeSettings:
    try:
        servers = resolve_bootstrap(bootstrap, home)
    except ValueError as error:
        console.print(f"[red]paymesh dlq: {escape(str(error))}[/]")
        raise typer.Exit(2) from None
    return load_settings(RuntimeSettings).model_copy(update={"kafka_bootstrap_servers": servers})


def _since(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_time("since", text)
    except EventError as error:
        console.print(f"[red]paymesh dlq: --since: {escape(error.message)}[/]")
        raise typer.Exit(2) from None


def _function(name: str | None) -> str | None:
    if name is not None and name not in FUNCTIONS:
        console.print(f"[red]paymesh dlq: --function must be one of {', '.join(FUNCTIONS)}[/]")
        raise typer.Exit(2)
    return name


def _read(bootstrap: str | None, home: Path, function: str | None = None,
          since: datetime | None = None) -> tuple[RuntimeSettings, list[dlq.DeadLetter]]:
    settings = _settings(bootstrap, home)
    return settings, dlq.read(settings, dlq.topics(function), since)


@app.command("list")
def list_letters(function: Function = None,
                 since: Annotated[str | None, typer.Option(help="RFC 3339 time, e.g. 2026-11-29T10:00:00Z")] = None,
                 as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
                 bootstrap: Bootstrap = None, home: Home = Path(".paymesh")) -> None:
    """Every dead letter (oldest first): id, time, function, type, event id, status and reason."""
    _, letters = _read(bootstrap, home, _function(function), _since(since))
    if as_json:
        for letter in letters:
            typer.echo(json.dumps({"id": letter.id, "time": letter.time.isoformat(), "function": letter.function,
                                   "type": letter.type, "eventId": letter.event_id, "status": letter.error_code,
                                   "reason": letter.reason}))
        return
    table = Table("id", "time", "function", "type", "event id", "status", "reason")
    for letter in letters:
        table.add_row(letter.id, letter.time.strftime("%Y-%m-%d %H:%M:%S"), letter.function, letter.type,
                      letter.event_id, letter.error_code, escape(letter.reason))
    console.print(table)
    console.print(f"{len(letters)} dead letter(s)")


@app.command()
def show(letter_id: Annotated[str, typer.Argument(metavar="ID", help="topic/partition/offset, or the event id")],
         bootstrap: Bootstrap = None, home: Home = Path(".paymesh")) -> None:
    """The dead-lettered event, the status that refused it (knativeerrorcode) and the answer (knativeerrordata)."""
    _, letters = _read(bootstrap, home)
    letter = dlq.find(letters, letter_id)
    if letter is None:
        console.print(f"[red]paymesh dlq: no dead letter {escape(letter_id)}[/]")
        raise typer.Exit(1)
    try:
        error: object = json.loads(letter.error_data)
    except ValueError:
        error = letter.error_data
    typer.echo(json.dumps({"id": letter.id, "time": letter.time.isoformat(), "function": letter.function,
                           "originalTopic": letter.original_topic, "knativeerrorcode": letter.error_code,
                           "knativeerrordest": letter.attributes.get("knativeerrordest"),
                           "knativeerrordata": error, "event": letter.event()}, indent=2, default=str))


@app.command()
def replay(letter_id: Annotated[str | None, typer.Argument(metavar="ID", help="topic/partition/offset or event id")]
           = None, *,
           replay_all: Annotated[bool, typer.Option("--all", help="every dead letter (of --function)")] = False,
           function: Function = None,
           dry_run: Annotated[bool, typer.Option("--dry-run", help="say what would be replayed")] = False,
           bootstrap: Bootstrap = None, home: Home = Path(".paymesh")) -> None:
    """Produce dead-lettered events back to their original topics (same source and id: safe to repeat)."""
    if (letter_id is None) == (not replay_all):
        console.print("[red]paymesh dlq replay: give one ID or --all[/]")
        raise typer.Exit(2)
    settings, letters = _read(bootstrap, home, _function(function))
    if letter_id is not None:
        found = dlq.find(letters, letter_id)
        if found is None:
            console.print(f"[red]paymesh dlq: no dead letter {escape(letter_id)}[/]")
            raise typer.Exit(1)
        letters = [found]
    for letter in letters:
        verb = "would replay" if dry_run else "replaying"
        console.print(f"{verb} {letter.id} ({letter.type} id={escape(letter.event_id)}) -> {letter.original_topic}")
    if not dry_run:
        try:
            dlq.replay(settings, letters)
        except ValueError as error:
            console.print(f"[red]paymesh dlq: {escape(str(error))}[/]")
            raise typer.Exit(1) from None
    console.print(f"{len(letters)} event(s) {'would be ' if dry_run else ''}replayed")
