"""`paymesh audit ...`: verify the hash chain, sign checkpoints, manage legal holds, export and purge."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(help="The audit log: verify the hash chain, purge expired records.", no_args_is_help=True)
hold_app = typer.Typer(help="Legal holds: held records are never purged.", no_args_is_help=True)
app.add_typer(hold_app, name="hold")


def _open() -> tuple[Any, Any]:
    import functions.audit
    from functions.audit.settings import AuditSettings
    from shared.config import load_settings
    from shared.store import Store

    settings = load_settings(AuditSettings)
    store = Store.from_settings(settings, "audit", Path(functions.audit.__file__).parent / "migrations")
    if settings.auto_migrate:
        store.migrate()
    return settings, store


def _print(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, sort_keys=True))


@app.command()
def verify(checkpoint: Annotated[int | None, typer.Option(help="start from this checkpoint id")] = None) -> None:
    """Recompute the hash chain; exit 1 if it is broken."""
    from functions.audit import checkpoints
    from functions.audit.repository import Repository

    settings, store = _open()
    try:
        with store.session() as session:
            result = checkpoints.verify_log(Repository(session), settings.checkpoint_key(), checkpoint)
    except checkpoints.CheckpointError as error:
        typer.echo(f"paymesh: {error}", err=True)
        raise typer.Exit(2) from None
    _print(result.to_json())
    if not result.ok:
        raise typer.Exit(1)


@app.command()
def checkpoint(note: Annotated[str, typer.Option(help="why this checkpoint was taken")] = "manual") -> None:
    """Sign the current head with PAYMESH_AUDIT_CHECKPOINT_KEY and store the checkpoint."""
    from functions.audit import checkpoints
    from functions.audit.repository import Repository

    settings, store = _open()
    try:
        with store.session() as session:
            made = checkpoints.create(Repository(session), settings.checkpoint_key(), datetime.now(UTC), note=note)
            body = checkpoints.checkpoint_json(made)
    except checkpoints.CheckpointError as error:
        typer.echo(f"paymesh: {error}", err=True)
        raise typer.Exit(2) from None
    _print(body)


@app.command("checkpoints")
def list_checkpoints() -> None:
    """List the stored checkpoints."""
    from functions.audit import checkpoints
    from functions.audit.repository import Repository

    _, store = _open()
    with store.session() as session:
        _print([checkpoints.checkpoint_json(row) for row in Repository(session).checkpoints()])


@app.command()
def purge(dry_run: Annotated[bool, typer.Option("--dry-run", help="count only, change nothing")] = False,
          actor: Annotated[str, typer.Option(help="who runs the purge (recorded)")] = "cli") -> None:
    """Remove records older than PAYMESH_AUDIT_RETENTION_DAYS that no legal hold covers."""
    from functions.audit import checkpoints, retention
    from functions.audit.repository import Repository

    settings, store = _open()
    try:
        with store.session() as session:
            report = retention.purge(Repository(session), key=settings.checkpoint_key(), now=datetime.now(UTC),
                                     retention_days=settings.audit_retention_days, dry_run=dry_run, actor=actor)
    except checkpoints.CheckpointError as error:
        typer.echo(f"paymesh: {error}", err=True)
        raise typer.Exit(2) from None
    _print(report.to_json())


@app.command()
def export(start: Annotated[str | None, typer.Option("--from", help="ISO time, inclusive")] = None,
           end: Annotated[str | None, typer.Option("--to", help="ISO time, exclusive")] = None) -> None:
    """Write records as JSON lines to stdout."""
    from functions.audit import records
    from functions.audit.repository import export_batched
    from shared.contract import parse_time
    from shared.errors import EventError

    _, store = _open()
    try:
        chosen = records.Filters({}, parse_time("from", start) if start else None,
                                 parse_time("to", end) if end else None)
    except EventError as error:
        typer.echo(f"paymesh: {error}", err=True)
        raise typer.Exit(2) from None
    for row in export_batched(store.session, chosen):
        sys.stdout.write(records.json_line(records.record_json(row)))


@hold_app.command("add")
def hold_add(reason: Annotated[str, typer.Option(help="case reference or reason")],
             subject: Annotated[str | None, typer.Option(help="hold records with this subject")] = None,
             correlation_id: Annotated[str | None, typer.Option(help="hold records with this correlation id")] = None,
             actor: Annotated[str, typer.Option(help="who places the hold (recorded)")] = "cli") -> None:
    """Place a legal hold on a subject or a correlation id."""
    from functions.audit import retention
    from functions.audit.repository import Repository

    if (subject is None) == (correlation_id is None):
        typer.echo("paymesh: give exactly one of --subject or --correlation-id", err=True)
        raise typer.Exit(2)
    _, store = _open()
    with store.session() as session:
        repository = Repository(session)
        hold = (retention.place_hold(repository, "subject", subject, reason=reason, actor=actor,
                                     now=datetime.now(UTC))
                if subject is not None else
                retention.place_hold(repository, "correlation", correlation_id or "", reason=reason, actor=actor,
                                     now=datetime.now(UTC)))
        _print(retention.hold_json(hold))


@hold_app.command("release")
def hold_release(hold_id: Annotated[int, typer.Argument(help="the hold's id")],
                 actor: Annotated[str, typer.Option(help="who releases the hold (recorded)")] = "cli") -> None:
    """Release a legal hold."""
    from functions.audit import retention
    from functions.audit.repository import Repository

    _, store = _open()
    with store.session() as session:
        released = retention.release_hold(Repository(session), hold_id, actor, datetime.now(UTC))
    if not released:
        typer.echo(f"paymesh: no active hold {hold_id}", err=True)
        raise typer.Exit(1)
    typer.echo(f"released hold {hold_id}")


@hold_app.command("list")
def hold_list(active: Annotated[bool, typer.Option(help="only holds not released")] = False) -> None:
    """List legal holds."""
    from functions.audit import retention
    from functions.audit.repository import Repository

    _, store = _open()
    with store.session() as session:
        _print(retention.list_holds(Repository(session), active_only=active))
