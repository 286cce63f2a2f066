"""Local ports and readiness probes for processes the tools start on this machine."""

from __future__ import annotations

import socket
import urllib.request


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ready(url: str) -> bool:
    """True when GET `url` answers 200 within half a second."""
    try:
        with urllib.request.urlopen(url, timeout=0.5) as response:  # noqa: S310 - local probe URLs only
            return bool(response.status == 200)
    except OSError:
        return False
