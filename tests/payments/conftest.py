from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.payments.harness import Harness, harness


@pytest.fixture
def payments(backend: str, tmp_path: Path) -> Iterator[Harness]:
    """The payments function with default settings and the simulated gateway, on SQLite and PostgreSQL."""
    with harness(backend, tmp_path) as built:
        yield built
