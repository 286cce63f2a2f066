"""The `paymesh` command. Each group lives beside the code it drives."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from paymesh.audit import app as audit_app
from paymesh.deploy import app as deploy_app
from paymesh.dlq_cli import app as dlq_app
from paymesh.local.cli import app as local_app
from paymesh.trace_cli import trace_command

app = typer.Typer(help="paymesh: an event-driven payments backbone for Knative.", no_args_is_help=True)
schemas_app = typer.Typer(help="The event catalog's published schemas.", no_args_is_help=True)


@schemas_app.command("export")
def export_schemas(directory: Annotated[Path, typer.Argument(help="where to write one JSON Schema per type")]) -> None:
    """Write one JSON Schema file per CloudEvent type."""
    from paymesh.schemas import export

    for path in export(directory):
        typer.echo(str(path))


@schemas_app.command("asyncapi")
def asyncapi_document() -> None:
    """Print the AsyncAPI 3.0 document of every topic."""
    from paymesh.schemas import asyncapi

    typer.echo(json.dumps(asyncapi(), indent=2))


app.add_typer(schemas_app, name="schemas")
app.add_typer(audit_app, name="audit")
app.add_typer(deploy_app)
app.add_typer(local_app)
app.add_typer(dlq_app, name="dlq")
app.command("trace")(trace_command)
