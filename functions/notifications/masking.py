"""Recipients as they may appear in events, logs and audit: j***@example.com, +44******789."""

from __future__ import annotations

from urllib.parse import urlsplit


def mask_email(address: str) -> str:
    local, _, domain = address.rpartition("@")
    if not local:
        return "***"
    return f"{local[0]}***@{domain}"


def mask_phone(number: str) -> str:
    if len(number) <= 6:
        return "*" * len(number)
    return number[:3] + "*" * (len(number) - 6) + number[-3:]


def mask_token(token: str) -> str:
    if len(token) <= 10:
        return "***"
    return f"{token[:4]}***{token[-4:]}"


def mask_url(url: str) -> str:
    """Scheme and host only: paths and queries of webhook URLs often carry secrets."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "***"
    if not parts.scheme or not host:
        return "***"
    shown = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{shown}{f':{port}' if port else ''}/***"


def mask(channel: str, recipient: str) -> str:
    if channel == "email":
        return mask_email(recipient)
    if channel == "sms":
        return mask_phone(recipient)
    if channel == "push":
        return mask_token(recipient)
    return mask_url(recipient)


def scrub(text: str, recipient: str, masked: str) -> str:
    """Provider error messages may quote the recipient: replace it with its masked form."""
    return text.replace(recipient, masked) if recipient else text
