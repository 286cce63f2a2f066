from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.notifications.harness import MakeHarness, harness_factory


@pytest.fixture
def make_harness(backend: str, tmp_path: Path) -> Iterator[MakeHarness]:
    yield from harness_factory(backend, tmp_path)
