"""All four functions in one process, each output delivered to every function that consumes its type.

The reliability suites use this to drive thousands of flows quickly and deterministically; the
end-to-end suite does the same through the real broker and the local eventing engine.
"""

from __future__ import annotations

import importlib
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from functions.audit.settings import AuditSettings
from functions.ledger.settings import LedgerSettings
from functions.notifications.settings import NotificationsSettings
from functions.payments.settings import PaymentsSettings
from shared.config import RuntimeSettings
from shared.envelope import Envelope
from shared.publish import MemoryPublisher
from shared.runtime import FunctionApp
from tests.support import build_app, flask_client, temporary_store

FUNCTIONS = ("payments", "ledger", "notifications", "audit")


def settings_class(function: str) -> type[RuntimeSettings]:
    """The function's settings class, from its settings.py."""
    classes: dict[str, type[RuntimeSettings]] = {
        "payments": PaymentsSettings, "ledger": LedgerSettings, "notifications": NotificationsSettings,
        "audit": AuditSettings}
    return classes[function]


@dataclass
class Mesh:
    apps: dict[str, FunctionApp]
    clients: dict[str, FlaskClient]
    publishers: dict[str, MemoryPublisher]
    deliveries: int = 1
    statuses: list[tuple[str, str, int]] = field(default_factory=list)
    _read: dict[str, int] = field(default_factory=dict)
    _known: set[tuple[str, str]] = field(default_factory=set)

    def consumers(self, event_type: str) -> list[str]:
        return [name for name, app in self.apps.items() if event_type in app.spec.consumes]

    def deliver(self, function: str, event: Envelope) -> int:
        headers, body = event.http_binary()
        status = 0
        for _ in range(self.deliveries):
            status = self.clients[function].post("/", data=body, headers=headers).status_code
            self.statuses.append((function, event.type, status))
        return status

    def send(self, event: Envelope) -> None:
        """Deliver an input event to its consumers, then everything it causes, until quiet."""
        queue: deque[Envelope] = deque([event])
        while queue:
            current = queue.popleft()
            for function in self.consumers(current.type):
                self.deliver(function, current)
            for name, publisher in self.publishers.items():
                fresh = publisher.events[self._read.get(name, 0):]
                self._read[name] = len(publisher.events)
                for output in fresh:
                    # A redelivery re-publishes the same output (same source and id): the topic then
                    # holds it twice, and `deliveries` already stands for that, so pass it on once.
                    if (output.source, output.id) not in self._known:
                        self._known.add((output.source, output.id))
                        queue.append(output)

    def get(self, function: str, path: str) -> Any:
        response = self.clients[function].get(path)
        assert response.status_code == 200, (path, response.status_code, response.data[:300])
        return response.get_json()


@contextmanager
def mesh(backend: str, tmp_path: Path, environment: Mapping[str, str],
         monkeypatch: pytest.MonkeyPatch) -> Iterator[Mesh]:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    apps: dict[str, FunctionApp] = {}
    publishers: dict[str, MemoryPublisher] = {}
    with ExitStack() as stack:
        for function in FUNCTIONS:
            module = importlib.import_module(f"functions.{function}.app")
            settings = settings_class(function)()
            spec = module.build_spec(settings)
            store = stack.enter_context(temporary_store(backend, function, spec.migrations, tmp_path))
            publishers[function] = MemoryPublisher()
            apps[function] = build_app(spec, store, settings, publishers[function])
        yield Mesh(apps, {name: flask_client(app) for name, app in apps.items()}, publishers)
