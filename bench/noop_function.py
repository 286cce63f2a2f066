"""A no-op handler behind shared.runtime: the runtime's own cost, with idempotency on a SQLite store."""

from pathlib import Path

import flask
import functions_framework
from sqlmodel import SQLModel

from shared.config import RuntimeSettings, load_settings
from shared.contract import Context, Emit, FunctionSpec
from shared.events import PaymentRequested
from shared.idempotency import ProcessedEvent
from shared.publish import LogPublisher
from shared.runtime import FunctionApp
from shared.store import Store


def _noop(ctx: Context, data: PaymentRequested) -> list[Emit]:
    return []


def _build() -> FunctionApp:
    settings = load_settings(RuntimeSettings)
    spec = FunctionSpec("noop", frozenset())
    spec.on(PaymentRequested, _noop)
    store = Store.from_settings(settings, "noop", None)
    SQLModel.metadata.create_all(store.engine, tables=[ProcessedEvent.__table__])  # type: ignore[list-item]
    store.dispose()
    Path(settings.home).mkdir(parents=True, exist_ok=True)
    return FunctionApp(spec, settings, store, LogPublisher())


_function = _build()


@functions_framework.http
def handle(request: flask.Request) -> flask.Response:
    return _function(request)
