"""Delivery channels. Each turns a rendered Message into an Outcome and never raises for provider errors."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Protocol


@cache
def tls_context() -> ssl.SSLContext:
    """The verifying TLS context every provider client shares: what httpx makes for each client by default
    (certifi's CA bundle), made once; loading the bundle is ~15 ms, and a start made it four times."""
    import httpx

    return httpx.create_ssl_context(trust_env=False)


@dataclass(frozen=True, slots=True)
class Message:
    notification_id: str
    channel: str
    recipient: str
    text: str
    subject: str | None = None
    html: str | None = None
    # What the notification is about (webhook event type), e.g. "payment.succeeded".
    kind: str = "notification"
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Delivered:
    provider_message_id: str | None


@dataclass(frozen=True, slots=True)
class Undelivered:
    """`permanent`: retrying cannot help (4xx, bad address); otherwise retry later."""

    permanent: bool
    reason: str
    error: str


Outcome = Delivered | Undelivered


class Channel(Protocol):
    name: str

    def configured(self) -> str | None:
        """None when ready to send; else what configuration is missing."""

    def send(self, message: Message) -> Outcome: ...


def http_outcome(status: int, detail: str, provider: str) -> Undelivered:
    """Map a non-2xx provider answer: 408/425/429/5xx are worth retrying, other statuses are not."""
    transient = status in {408, 425, 429} or status >= 500
    return Undelivered(permanent=not transient, reason="provider_unavailable" if transient else "provider_rejected",
                       error=f"{provider} answered {status}{': ' + detail if detail else ''}"[:1000])


def response_detail(body: bytes, limit: int = 300) -> str:
    return body[:limit].decode("utf-8", "replace").strip()
