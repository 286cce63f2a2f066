"""Real local servers the channels talk to: a scripted JSON HTTP API and an SMTP server (aiosmtpd)."""

from __future__ import annotations

import json
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword

from paymesh.local.ports import free_port
from tests.support.http_recorder import QuietHandler, serving


@dataclass
class Call:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Api:
    """Answers each POST with the next scripted (status, JSON body), else with `default`."""

    url: str = ""
    calls: list[Call] = field(default_factory=list)
    script: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    default: tuple[int, dict[str, Any]] = (200, {})


@contextmanager
def json_api(default: tuple[int, dict[str, Any]] = (200, {})) -> Iterator[Api]:
    api = Api(default=default)
    lock = threading.Lock()

    class Handler(QuietHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                api.calls.append(Call(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                status, document = api.script.pop(0) if api.script else api.default
            payload = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    with serving(Handler) as url:
        api.url = url
        yield api


@dataclass
class Inbox:
    """An SMTP handler: stores accepted messages; `rcpt_replies` scripts answers to RCPT TO."""

    messages: list[Envelope] = field(default_factory=list)
    rcpt_replies: list[str] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    port: int = 0

    async def handle_RCPT(self, server: Any, session: Any, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if self.rcpt_replies:
            return self.rcpt_replies.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        self.messages.append(envelope)
        return "250 Message accepted for delivery"


def self_signed(directory: Path) -> ssl.SSLContext:
    cert, key = directory / "smtp.crt", directory / "smtp.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


@contextmanager
def smtp_server(tls_dir: Path | None = None, credentials: tuple[str, str] | None = None) -> Iterator[Inbox]:
    """aiosmtpd on loopback; with `tls_dir`, STARTTLS is required, and with `credentials`, AUTH too."""
    inbox = Inbox()
    options: dict[str, Any] = {}
    if tls_dir is not None:
        options.update(tls_context=self_signed(tls_dir), require_starttls=True)
    if credentials is not None:
        def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
            ok = isinstance(auth_data, LoginPassword) and \
                (auth_data.login.decode(), auth_data.password.decode()) == credentials
            if ok:
                inbox.logins.append(auth_data.login.decode())
            return AuthResult(success=ok, handled=False)

        options.update(authenticator=authenticate, auth_required=True, auth_require_tls=tls_dir is not None)
    inbox.port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port, **options)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()
