"""`paymesh ledger reconcile FILE`: a gateway's settlement export sent as ledger.settlement-reported."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="The ledger: reconcile gateway settlement reports.", no_args_is_help=True)

Home = Annotated[Path, typer.Option(help="where `paymesh up` keeps up.json", envvar="PAYMESH_HOME")]


@app.command()
def reconcile(
    file: Annotated[Path, typer.Argument(help="a Stripe itemized payout reconciliation export (CSV)")],
    *,
    gateway: Annotated[str, typer.Option(help="the gateway that settled the batch")] = "stripe",
    batch_id: Annotated[str | None, typer.Option(help="the batch id (default: the file's automatic_payout_id)")] = None,
    through: Annotated[str | None, typer.Option(
        help="RFC 3339: booked payments up to then must be in the batch (default: the latest charge's created_utc)")
    ] = None,
    bootstrap: Annotated[str | None, typer.Option(help="Kafka bootstrap servers (default: the running set)")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the event data instead of sending it")] = False,
    home: Home = Path(".paymesh"),
) -> None:
    """Turn the export into ledger.settlement-reported and produce it to its topic (like `paymesh send`)."""
    from paymesh.local.send import new_event, produce, resolve_bootstrap
    from paymesh.settlement_csv import ReportError, convert
    from shared.events import SettlementReported

    try:
        settled_through = datetime.fromisoformat(through.replace("Z", "+00:00")) if through else None
        if settled_through is not None and settled_through.tzinfo is None:
            raise ValueError("--through must carry a timezone offset")
        conversion = convert(file.read_text(encoding="utf-8"), gateway=gateway, batch_id=batch_id,
                             settled_through=settled_through)
        SettlementReported.model_validate(conversion.data)  # refuse here what the ledger would refuse
        event = new_event(SettlementReported.type_name, conversion.data, source="/paymesh/cli/reconcile")
        servers = None if dry_run else resolve_bootstrap(bootstrap, home)
    except (ReportError, ValueError, OSError) as error:
        typer.echo(f"paymesh ledger reconcile: {error}", err=True)
        raise typer.Exit(2) from None
    skipped = ", ".join(f"{count} {category}" for category, count in sorted(conversion.skipped.items()))
    summary = f"{len(conversion.data['lines'])} charge lines of batch {conversion.data['batchId']}"
    if dry_run or servers is None:
        typer.echo(json.dumps(conversion.data, indent=2))
        typer.echo(f"{summary}; skipped: {skipped or 'nothing'}", err=True)
        return
    produce(servers, [event])
    typer.echo(f"sent {event.type} id={event.id} key={event.partition_key} ({summary}; skipped: "
               f"{skipped or 'nothing'}) to {servers}")
