"""`paymesh audit ...`: keys, checkpoints and verification of the transparency log, legal holds, export, purge."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(help="The audit log: keys, checkpoints, verification, legal holds, export and purge.",
                  no_args_is_help=True)
hold_app = typer.Typer(help="Legal holds: held records are never purged.", no_args_is_help=True)
app.add_typer(hold_app, name="hold")

HomeOption = Annotated[Path | None, typer.Option("--home", help="where the SQLite store lives (PAYMESH_HOME)")]


def _settings(home: Path | None = None) -> Any:
    from functions.audit.settings import AuditSettings
    from shared.config import load_settings

    settings = load_settings(AuditSettings)
    return settings.model_copy(update={"home": home}) if home is not None else settings


def _open(home: Path | None = None, *, must_exist: bool = False) -> tuple[Any, Any]:
    import functions.audit
    from shared.store import Store

    settings = _settings(home)
    if must_exist:
        _refuse_missing(settings)
    store = Store.from_settings(settings, "audit", Path(functions.audit.__file__).parent / "migrations")
    if must_exist:
        _refuse_unmigrated(store)
    elif settings.auto_migrate:
        store.migrate()
    return settings, store


def _refuse_missing(settings: Any) -> None:
    from sqlalchemy.engine import make_url

    if settings.database_url:
        url = make_url(settings.database_url)
        if url.get_backend_name() == "sqlite" and not (url.database and Path(url.database).is_file()):
            typer.echo(f"paymesh: no audit store at {url.database}", err=True)
            raise typer.Exit(2)
        return
    path = settings.home / "audit.db"
    if not path.is_file():
        typer.echo(f"paymesh: no audit store at {path}", err=True)
        raise typer.Exit(2)


def _refuse_unmigrated(store: Any) -> None:
    from sqlalchemy import inspect

    with store.engine.connect() as connection:
        if not inspect(connection).has_table("audit_tree_head", schema=store.schema):
            typer.echo("paymesh: that database holds no audit log", err=True)
            raise typer.Exit(2)


def _print(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, sort_keys=True))


@app.command()
def keygen(name: Annotated[str, typer.Argument(help="the log's name: the origin of its checkpoints")]) -> None:
    """Make an Ed25519 key pair: set the signer key as PAYMESH_AUDIT_SIGNING_KEY, give out the verifier key."""
    from functions.audit import note

    try:
        signer, verifier = note.generate_key(name)
    except ValueError as error:
        typer.echo(f"paymesh: {error}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"signer key (secret): {signer}")
    typer.echo(f"verifier key: {verifier}")


@app.command()
def verify(checkpoint: Annotated[Path | None, typer.Option(help="a checkpoint you hold (signed note file)")] = None,
           url: Annotated[str | None, typer.Option(help="the audit function's URL instead of its store")] = None,
           key: Annotated[str | None, typer.Option(help="the log's verifier key (default: from the signing key)")]
           = None,
           records: Annotated[bool, typer.Option("--records", help="also prove every record's inclusion")] = False,
           home: HomeOption = None) -> None:
    """Without --checkpoint: recompute the whole log from its leaves. With it: check the held checkpoint's
    signature and that the log still extends it (and, with --records, every record's inclusion). Exit 1 if not."""
    from paymesh import audit_holder

    if checkpoint is None:
        if url is not None:
            typer.echo("paymesh: --url needs --checkpoint", err=True)
            raise typer.Exit(2)
        _verify_store(home)
        return
    try:
        held = checkpoint.read_bytes()
    except OSError as error:
        typer.echo(f"paymesh: cannot read {checkpoint}: {error.strerror}", err=True)
        raise typer.Exit(2) from None
    verifier_key = key or os.environ.get("PAYMESH_AUDIT_VERIFIER_KEY") or _verifier_from_settings(home)
    log: audit_holder.LogReader
    if url is not None:
        log = audit_holder.HttpLog(url)
    else:
        _, store = _open(home, must_exist=True)
        log = audit_holder.StoreLog(store)
    result = audit_holder.check(log, verifier_key, held, records=records)
    _print(result.to_json())
    if not result.ok:
        raise typer.Exit(1)


def _verifier_from_settings(home: Path | None) -> str:
    from functions.audit import note

    settings = _settings(home)
    if settings.audit_signing_key is None:
        typer.echo("paymesh: give --key (or PAYMESH_AUDIT_VERIFIER_KEY): the log's verifier key", err=True)
        raise typer.Exit(2)
    return note.verifier_of(settings.audit_signing_key.get_secret_value())


def _verify_store(home: Path | None) -> None:
    from functions.audit import verification
    from functions.audit.repository import Repository

    settings, store = _open(home, must_exist=True)
    with store.session() as session:
        result = verification.verify(Repository(session), settings.signing())
    _print(result.to_json())
    if not result.ok:
        raise typer.Exit(1)


@app.command()
def checkpoint(home: HomeOption = None) -> None:
    """Print the log's newest signed checkpoint (keep it: `verify --checkpoint` checks the log against it)."""
    from functions.audit.repository import Repository

    _, store = _open(home, must_exist=True)
    with store.session() as session:
        note = Repository(session).read_head().checkpoint
    if not note:
        typer.echo("paymesh: the log has signed no checkpoint yet", err=True)
        raise typer.Exit(1)
    sys.stdout.write(note)


@app.command("checkpoints")
def list_checkpoints(limit: Annotated[int, typer.Option(help="newest first, at most this many")] = 100) -> None:
    """List the kept checkpoints, newest first."""
    from functions.audit import checkpoints
    from functions.audit.repository import Repository

    _, store = _open()
    with store.session() as session:
        _print([checkpoints.checkpoint_json(row) for row in Repository(session).checkpoints(limit)])


@app.command()
def purge(dry_run: Annotated[bool, typer.Option("--dry-run", help="count only, change nothing")] = False,
          actor: Annotated[str, typer.Option(help="who runs the purge (recorded)")] = "cli") -> None:
    """Remove the content of records older than PAYMESH_AUDIT_RETENTION_DAYS that no legal hold covers."""
    from functions.audit import retention
    from functions.audit.repository import Repository

    settings, store = _open()
    with store.session() as session:
        report = retention.purge(Repository(session), settings.signing(), now=datetime.now(UTC),
                                 retention_days=settings.audit_retention_days, dry_run=dry_run, actor=actor)
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
    settings, store = _open()
    now = datetime.now(UTC)
    with store.session() as session:
        repository = Repository(session)
        if subject is not None:
            hold = retention.place_hold(repository, settings.signing(), "subject", subject, reason=reason,
                                        actor=actor, now=now)
        else:
            hold = retention.place_hold(repository, settings.signing(), "correlation", correlation_id or "",
                                        reason=reason, actor=actor, now=now)
        _print(retention.hold_json(hold))


@hold_app.command("release")
def hold_release(hold_id: Annotated[int, typer.Argument(help="the hold's id")],
                 actor: Annotated[str, typer.Option(help="who releases the hold (recorded)")] = "cli") -> None:
    """Release a legal hold."""
    from functions.audit import retention
    from functions.audit.repository import Repository

    settings, store = _open()
    with store.session() as session:
        released = retention.release_hold(Repository(session), settings.signing(), hold_id, actor,
                                          datetime.now(UTC))
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
