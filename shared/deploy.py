"""`paymesh deploy`: apply the manifests in knative/ and eventing/ with kn and kubectl."""

from __future__ import annotations

import typer

app = typer.Typer()
