"""Every function's Alembic migrations create exactly the tables its SQLModel models describe."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from tests.support import temporary_store
from tests.support.mesh import settings_class

FUNCTIONS = ["payments", "ledger", "notifications", "audit"]


def _spec(function: str) -> Any:
    app = importlib.import_module(f"functions.{function}.app")
    return app.build_spec(settings_class(function)())


@pytest.mark.parametrize("function", FUNCTIONS)
def test_migrations_match_the_models(function: str, backend: str, tmp_path: Path) -> None:
    spec = _spec(function)
    owned = set(spec.tables) | {"processed_events"}
    assert spec.migrations is not None and spec.migrations.is_dir()
    with temporary_store(backend, function, spec.migrations, tmp_path) as store, store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diffs = compare_metadata(context, SQLModel.metadata)
    # Other functions' models are in the same metadata: they show up as tables to add, and are ignored.
    relevant = [diff for diff in diffs if _table_of(diff) in owned
                or (_kind(diff) == "remove_table" and _table_of(diff) not in SQLModel.metadata.tables)]
    assert relevant == [], f"{function}: migrations and models differ: {relevant}"


def _kind(diff: Any) -> str:
    item = diff[0] if isinstance(diff, list) else diff
    return str(item[0])


def _table_of(diff: Any) -> str | None:
    item = diff[0] if isinstance(diff, list) else diff
    kind = str(item[0])
    if kind in {"add_table", "remove_table"}:
        return str(item[1].name)
    if kind in {"add_column", "remove_column"} or kind.startswith("modify_"):
        return str(item[2])
    table = getattr(item[1], "table", None)
    return str(table.name) if table is not None else None
