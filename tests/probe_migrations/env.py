"""Alembic environment of the runtime probe used by the tests; run through shared.store.Store.migrate()."""

from shared.migrations import run_online

run_online()
