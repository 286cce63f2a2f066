"""A scripted CloudEvents receiver standing in for a function: its answer depends on the event's data.

data.behaviour: "ok" (default) -> 200, "poison" -> 422 with a JSON error body, "flaky:N" -> 503 for the first
N deliveries of that event id, then 200; "slow:S" -> 200 after S seconds.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from tests.support.http_recorder import QuietHandler, serving


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def ce(self) -> dict[str, str]:
        return {name.lower()[3:]: value for name, value in self.headers.items() if name.lower().startswith("ce-")}


@dataclass
class ScriptedFunction:
    url: str = ""
    deliveries: list[Delivery] = field(default_factory=list)
    seen: Counter[str] = field(default_factory=Counter)

    def processed(self) -> list[Delivery]:
        return [delivery for delivery in self.deliveries if delivery.status == 200]

    def answer(self, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        event_id = headers.get("ce-id", "")
        self.seen[event_id] += 1
        try:
            data = json.loads(body) if body else {}
        except ValueError:
            data = {}
        behaviour = str(data.get("behaviour", "ok")) if isinstance(data, dict) else "ok"
        if behaviour == "poison":
            return 422, b'{"error": "invalid_data", "field": "data.amount"}'
        if behaviour.startswith("slow:"):
            time.sleep(float(behaviour.split(":")[1]))
            return 200, b""
        if behaviour.startswith("flaky:") and self.seen[event_id] <= int(behaviour.split(":")[1]):
            return 503, b'{"error": "unavailable"}'
        return 200, b""


@contextmanager
def scripted_function() -> Iterator[ScriptedFunction]:
    function = ScriptedFunction()
    lock = threading.Lock()

    class Handler(QuietHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = dict(self.headers.items())
            status, reply = function.answer({k.lower(): v for k, v in headers.items()}, body)
            with lock:
                function.deliveries.append(Delivery(headers, body, status))
            self.send_response(status)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

    with serving(Handler) as url:
        function.url = url + "/"
        yield function
