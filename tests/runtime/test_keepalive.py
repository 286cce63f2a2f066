"""The publisher's keep-alive pool against a real HTTP/1.1 server on 127.0.0.1."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from shared.keepalive import HttpRequestError, KeepAlivePool


@contextmanager
def _server(close_after_each: bool = False) -> Iterator[tuple[str, list[int], list[bytes]]]:
    peers: list[int] = []
    bodies: list[bytes] = []

    class Sink(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            peers.append(self.client_address[1])
            bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(202)
            self.send_header("Content-Length", "0")
            if close_after_each:
                self.send_header("Connection", "close")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/topic", peers, bodies
    finally:
        server.shutdown()
        server.server_close()


def test_posts_reuse_one_connection() -> None:
    with _server() as (url, peers, bodies):
        pool = KeepAlivePool(5.0)
        assert [pool.post(url, {"ce-id": str(n)}, b"%d" % n) for n in range(5)] == [202] * 5
        pool.close()
    assert bodies == [b"0", b"1", b"2", b"3", b"4"]
    assert len(set(peers)) == 1


def test_a_connection_the_server_closes_is_replaced() -> None:
    with _server(close_after_each=True) as (url, peers, _):
        pool = KeepAlivePool(5.0)
        assert [pool.post(url, {}, b"x") for _ in range(3)] == [202] * 3
    assert len(set(peers)) == 3


def test_an_unreachable_sink_is_an_http_request_error() -> None:
    with _server() as (url, _, _):
        pass  # closed: nothing listens on its port any more
    with pytest.raises(HttpRequestError):
        KeepAlivePool(2.0).post(url, {}, b"x")
