"""Alembic environment of the payments function; run through shared.store.Store.migrate()."""

from shared.migrations import run_online

run_online()
