"""A small pool of keep-alive HTTP/1.1 connections on the standard library, for posting events.

httpx costs a quarter of a second to import (it pulls in rich and click for its command line) and
several hundred microseconds per request; publishing needs neither its features nor its cost.
"""

from __future__ import annotations

import http.client
import ssl
import threading
from urllib.parse import urlsplit

_Origin = tuple[str, str, int]
IDLE_PER_ORIGIN_MAX = 16


class HttpRequestError(Exception):
    """The request could not be completed (connect, send or read failed, or timed out)."""


class KeepAlivePool:
    def __init__(self, timeout_seconds: float) -> None:
        self.timeout_seconds = timeout_seconds
        self._idle: dict[_Origin, list[http.client.HTTPConnection]] = {}
        self._targets: dict[str, tuple[_Origin, str]] = {}
        self._lock = threading.Lock()
        self._tls: ssl.SSLContext | None = None

    def post(self, url: str, headers: dict[str, str], body: bytes) -> int:
        """POST and read the whole answer; the status code. A reused connection the server has closed
        meanwhile is retried once on a new one (what is posted here is safe to post twice)."""
        origin, path = self._target(url)
        connection = self._take(origin)
        reused = connection is not None
        for _ in range(2):
            if connection is None:
                connection = self._connect(origin)
            try:
                connection.request("POST", path, body, headers)
                response = connection.getresponse()
                response.read()
            except (OSError, http.client.HTTPException) as error:
                connection.close()
                connection = None
                if reused and not isinstance(error, TimeoutError):
                    reused = False
                    continue
                raise HttpRequestError(type(error).__name__) from error
            if response.will_close:
                connection.close()
            else:
                self._give_back(origin, connection)
            return response.status
        raise AssertionError("unreachable")

    def _target(self, url: str) -> tuple[_Origin, str]:
        target = self._targets.get(url)
        if target is None:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            target = ((parts.scheme, parts.hostname or "", port), path)
            self._targets[url] = target
        return target

    def _connect(self, origin: _Origin) -> http.client.HTTPConnection:
        scheme, host, port = origin
        if scheme == "https":
            if self._tls is None:
                self._tls = ssl.create_default_context()
            return http.client.HTTPSConnection(host, port, timeout=self.timeout_seconds, context=self._tls)
        return http.client.HTTPConnection(host, port, timeout=self.timeout_seconds)

    def _take(self, origin: _Origin) -> http.client.HTTPConnection | None:
        with self._lock:
            idle = self._idle.get(origin)
            return idle.pop() if idle else None

    def _give_back(self, origin: _Origin, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(origin, [])
            if len(idle) < IDLE_PER_ORIGIN_MAX:
                idle.append(connection)
                return
        connection.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()
