"""`paymesh audit ...`: verify the chain and purge expired records from the command line."""

from __future__ import annotations

import typer

app = typer.Typer(help="The audit log: verify the hash chain, purge expired records.", no_args_is_help=True)
