from __future__ import annotations

import functools

import pytest

from tests.support import REQUIRE_POSTGRES, postgres_available


@functools.cache
def _postgres_up() -> bool:
    return postgres_available()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    """Run a test once on SQLite and once on the real PostgreSQL server."""
    name: str = request.param
    if name == "postgres" and not _postgres_up():
        if REQUIRE_POSTGRES:
            pytest.fail("PostgreSQL is required (PAYMESH_REQUIRE_POSTGRES=1) but not reachable")
        pytest.skip("PostgreSQL not reachable")
    return name


@pytest.fixture
def postgres() -> None:
    """For tests that only make sense on PostgreSQL (row locks, concurrency)."""
    if not _postgres_up():
        if REQUIRE_POSTGRES:
            pytest.fail("PostgreSQL is required (PAYMESH_REQUIRE_POSTGRES=1) but not reachable")
        pytest.skip("PostgreSQL not reachable")


from tests.support.broker import broker  # noqa: E402, F401  (session fixture for every suite on the embedded broker)
