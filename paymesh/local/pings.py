"""Knative PingSources run locally: read from eventing/, each sends its CloudEvent to its Service on its
cron schedule (checked once a minute, like Knative's adapter), with the same attributes Knative sets.

Like Knative's PingSource, a tick that cannot be delivered is not retried: the next one comes a minute later.
"""

from __future__ import annotations

import base64
import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import yaml

log = logging.getLogger("paymesh.local.pings")
PING_TYPE = "dev.knative.sources.ping"
# minute, hour, day of month, month, day of week (0 or 7 = Sunday)
_FIELDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))


def _field(text: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        spec, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if spec == "*":
            start, end = low, high
        elif "-" in spec:
            first, _, last = spec.partition("-")
            start, end = int(first), int(last)
        else:
            start = end = int(spec)
            if step_text:
                end = high
        if step < 1 or not low <= start <= end <= high:
            raise ValueError(f"cron field {text!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class Cron:
    """A five-field cron schedule (numbers, *, ranges, lists and steps; as PingSource's `schedule`)."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    any_day: bool
    any_weekday: bool

    @classmethod
    def parse(cls, text: str) -> Cron:
        parts = text.split()
        if len(parts) != 5:
            raise ValueError(f"cron schedule {text!r} must have five fields")
        minutes, hours, days, months, weekdays = (_field(part, low, high)
                                                  for part, (low, high) in zip(parts, _FIELDS, strict=True))
        weekdays = frozenset(day % 7 for day in weekdays)
        return cls(minutes, hours, days, months, weekdays, parts[2] == "*", parts[4] == "*")

    def matches(self, moment: datetime) -> bool:
        if moment.minute not in self.minutes or moment.hour not in self.hours or moment.month not in self.months:
            return False
        day_ok = moment.day in self.days
        weekday_ok = (moment.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:  # cron: both restricted means either may match
            return day_ok and weekday_ok
        return day_ok or weekday_ok


@dataclass(frozen=True)
class PingSource:
    name: str
    namespace: str
    cron_text: str
    cron: Cron
    timezone: str
    content_type: str
    data: bytes
    sink: str  # the Knative Service's name (or a URI)
    audience: str | None = None  # spec.sink.audience: with authentication-oidc, the tick carries a token for it

    @property
    def source(self) -> str:
        return f"/apis/v1/namespaces/{self.namespace}/pingsources/{self.name}"

    def due(self, moment: datetime) -> bool:
        return self.cron.matches(moment.astimezone(ZoneInfo(self.timezone)))


def _ping(document: dict[str, Any]) -> PingSource:
    meta, spec = document["metadata"], document["spec"]
    sink = spec.get("sink") or {}
    target = (sink.get("ref") or {}).get("name") or sink.get("uri")
    if not target:
        raise ValueError(f"PingSource {meta['name']}: spec.sink is required")
    data = base64.b64decode(spec["dataBase64"]) if spec.get("dataBase64") else str(spec.get("data", "")).encode()
    schedule = str(spec["schedule"])
    return PingSource(name=str(meta["name"]), namespace=str(meta.get("namespace", "default")), cron_text=schedule,
                      cron=Cron.parse(schedule), timezone=str(spec.get("timezone") or "UTC"),
                      content_type=str(spec.get("contentType") or "text/plain"), data=data, sink=str(target),
                      audience=str(sink["audience"]) if sink.get("audience") else None)


def load_pings(directory: Path) -> list[PingSource]:
    """Every PingSource in directory/*/*.yaml."""
    found = []
    for path in sorted(directory.glob("*/*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if isinstance(document, dict) and document.get("kind") == "PingSource":
                found.append(_ping(document))
    return found


def ping_request(source: PingSource, moment: datetime) -> tuple[dict[str, str], bytes]:
    """One event of `source` as Knative's PingSource adapter sends it: binary mode, its data as the body."""
    headers = {"ce-specversion": "1.0", "ce-id": str(uuid.uuid4()), "ce-source": source.source,
               "ce-type": PING_TYPE, "ce-time": moment.astimezone(UTC).isoformat().replace("+00:00", "Z"),
               "Content-Type": source.content_type}
    return headers, source.data


class PingRunner:
    """A thread sending each PingSource's event at every minute its schedule matches."""

    def __init__(self, sources: list[PingSource], targets: Mapping[str, str], timeout_seconds: float = 30.0,
                 tokens: Callable[[PingSource], Callable[[], str] | None] | None = None) -> None:
        self.sources = sources
        self.targets = targets
        self.tokens = tokens  # each source's token supply, as for KafkaSources (None: authentication off)
        self.sent: list[tuple[str, int | None]] = []  # (source name, answer status or None)
        self._client = httpx.Client(timeout=timeout_seconds)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pingsources", daemon=True)

    def url(self, source: PingSource) -> str:
        return self.targets.get(source.sink, source.sink)

    def fire(self, source: PingSource, moment: datetime) -> int | None:
        """Send one event of `source`."""
        headers, body = ping_request(source, moment)
        token = self.tokens(source) if self.tokens is not None else None
        if token is not None:
            headers["Authorization"] = f"Bearer {token()}"
        try:
            status: int | None = self._client.post(self.url(source), content=body, headers=headers).status_code
        except httpx.HTTPError as error:
            log.warning("ping not delivered", extra={"source": source.name, "error": str(error)})
            status = None
        self.sent.append((source.name, status))
        return status

    def tick(self, moment: datetime) -> None:
        for source in self.sources:
            if source.due(moment):
                self.fire(source, moment)

    def _run(self) -> None:
        while not self._stopping.is_set():
            now = datetime.now(UTC)
            next_minute = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
            if self._stopping.wait((next_minute - now).total_seconds()):
                return
            self.tick(next_minute)

    def start(self) -> PingRunner:
        if self.sources:
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=35)
        self._client.close()
