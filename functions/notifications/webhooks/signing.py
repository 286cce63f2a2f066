"""Endpoint secrets and Standard Webhooks signatures (one v1 signature per secret in use)."""

from __future__ import annotations

import base64
import hashlib
import secrets

from functions.notifications.channels.webhook import decode_secret, sign

SECRET_BYTES = 24


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def new_endpoint_id() -> str:
    return "ep_" + secrets.token_hex(12)


def message_id(endpoint_id: str, event_source: str, event_id: str) -> str:
    """The webhook-id: the same for every delivery of one event to one endpoint."""
    digest = hashlib.sha256(f"{endpoint_id}\x1f{event_source}\x1f{event_id}".encode()).hexdigest()
    return f"msg_{digest[:32]}"


def signature_header(secrets_in_use: list[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """Space-separated v1 signatures, one per secret (the new one first during a rotation)."""
    return " ".join(sign(decode_secret(secret), msg_id, timestamp, body) for secret in secrets_in_use)
