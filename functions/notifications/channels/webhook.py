"""Webhooks signed per the Standard Webhooks specification (https://www.standardwebhooks.com/)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Collection
from datetime import UTC, datetime

import httpx

from functions.notifications.channels import (
    Delivered,
    Message,
    Outcome,
    Undelivered,
    http_outcome,
    response_detail,
    tls_context,
)
from functions.notifications.destinations import BadDestinationError, UnresolvableError, check_url, pinned_url, resolve
from shared.tracing import span

USER_AGENT = "paymesh-notifications/1"


def decode_secret(secret: str) -> bytes:
    """`whsec_<base64>` -> key bytes; ValueError when malformed."""
    if not secret.startswith("whsec_"):
        raise ValueError("must start with whsec_")
    encoded = secret.removeprefix("whsec_")
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except ValueError:
        raise ValueError("must be base64 after whsec_") from None
    if len(key) < 16:
        raise ValueError("must hold at least 16 bytes of key")
    return key


def message_id(notification_id: str) -> str:
    """Stable across retries, so receivers can drop duplicates (webhook-id)."""
    return f"msg_{notification_id}"


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def payload(message: Message, now: datetime) -> bytes:
    data = {"notificationId": message.notification_id, **message.data, "message": message.text}
    if message.subject is not None:
        data["subject"] = message.subject
    document = {"type": message.kind, "timestamp": now.isoformat().replace("+00:00", "Z"), "data": data}
    return json.dumps(document, separators=(",", ":"), default=str).encode()


class WebhookChannel:
    name = "webhook"

    def __init__(self, secret: str | None, allow_hosts: Collection[str], timeout: float) -> None:
        self._key = decode_secret(secret) if secret else None
        self._allow_hosts = allow_hosts
        self._client = httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False, verify=tls_context(),
                                    headers={"User-Agent": USER_AGENT})

    def configured(self) -> str | None:
        return None if self._key is not None else "PAYMESH_NOTIFICATIONS_WEBHOOK_SECRET is not set"

    def send(self, message: Message) -> Outcome:
        assert self._key is not None
        try:
            target = check_url(message.recipient, self._allow_hosts)
            url, headers, extensions = target.url, {}, {}
            if not target.allow_listed:
                address = resolve(target)
                url = pinned_url(target, address)
                headers["Host"] = target.parts.netloc.rpartition("@")[2]
                extensions["sni_hostname"] = target.host
        except BadDestinationError as error:
            return Undelivered(permanent=True, reason="blocked_destination", error=str(error))
        except UnresolvableError as error:
            return Undelivered(permanent=error.permanent, reason="unresolvable", error=str(error))
        msg_id = message_id(message.notification_id)
        timestamp = int(time.time())
        body = payload(message, datetime.fromtimestamp(timestamp, UTC))
        headers.update({"Content-Type": "application/json", "webhook-id": msg_id,
                        "webhook-timestamp": str(timestamp),
                        "webhook-signature": sign(self._key, msg_id, timestamp, body)})
        try:
            with span("webhook.send", {"paymesh.webhook.id": msg_id}, kind="client"):
                response = self._client.post(url, content=body, headers=headers, extensions=extensions)
        except httpx.HTTPError as error:
            return Undelivered(permanent=False, reason="unreachable", error=f"webhook: {type(error).__name__}: {error}")
        if 200 <= response.status_code < 300:
            return Delivered(msg_id)
        if 300 <= response.status_code < 400:
            return Undelivered(permanent=True, reason="provider_rejected",
                               error=f"webhook answered {response.status_code}: redirects are not followed")
        return http_outcome(response.status_code, response_detail(response.content), "webhook")
