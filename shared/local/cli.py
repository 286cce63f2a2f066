"""`paymesh up`, `paymesh send`, `paymesh demo`: the whole function set on one machine."""

from __future__ import annotations

import typer

app = typer.Typer()
