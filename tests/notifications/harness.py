"""The notifications function on a real migrated store, served through the runtime's HTTP path."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

from functions.notifications.app import build_spec
from functions.notifications.settings import NotificationsSettings
from shared.publish import MemoryPublisher
from shared.store import Store
from tests.support import build_app, flask_client, post_event

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
REQUESTED = "notifications.notification-requested"


@dataclass
class Harness:
    client: FlaskClient
    publisher: MemoryPublisher
    store: Store

    def post(self, event_type: str, data: dict[str, Any], *, event_id: str | None = None) -> Any:
        return post_event(self.client, event_type, data, event_id=event_id)

    def request(self, data: dict[str, Any], *, event_id: str | None = None) -> Any:
        return self.post(REQUESTED, data, event_id=event_id)

    def outputs(self, event_type: str) -> list[dict[str, Any]]:
        return [event.data for event in self.publisher.of_type(event_type) if event.data is not None]

    def journal(self, notification_id: str) -> dict[str, Any]:
        response = self.client.get(f"/notifications/{notification_id}")
        assert response.status_code == 200, response.data
        body: dict[str, Any] = response.get_json()
        return body


MakeHarness = Callable[..., Harness]


def harness_factory(backend: str, tmp_path: Path) -> Iterator[MakeHarness]:
    from tests.support import temporary_store

    with ExitStack() as stack:
        count = 0

        def make(**overrides: Any) -> Harness:
            nonlocal count
            count += 1
            values: dict[str, Any] = {"notifications_webhook_secret": SECRET,
                                      "notifications_webhook_allow_hosts": "127.0.0.1", **overrides}
            settings = NotificationsSettings(**values)
            spec = build_spec(settings)
            directory = tmp_path / f"store{count}"
            directory.mkdir()
            store = stack.enter_context(temporary_store(backend, "notifications", spec.migrations, directory))
            publisher = MemoryPublisher()
            return Harness(flask_client(build_app(spec, store, settings, publisher)), publisher, store)

        yield make
