"""A local provider sandbox, as Mailpit/MailHog are for email: email, SMS and push really deliver on one machine.

- SMTP (aiosmtpd, installed with the dev extras): accepts every message and keeps it.
- One HTTP server that speaks the two provider APIs the notifications function uses:
  a Twilio-shaped Messages API (`POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, form body, HTTP Basic
  auth with the account SID and auth token, 201 with the message resource) and an FCM HTTP v1-shaped send API
  (`POST /v1/projects/{project}/messages:send`, JSON body, Bearer token, 200 with
  `{"name": "projects/<p>/messages/<id>"}`). Errors are answered in each provider's error shape.
- `GET /outbox` on the HTTP server lists everything received (`?channel=email|sms|push` narrows it), newest last;
  each message is also appended to `<home>/outbox.jsonl` (emptied when the sandbox starts).

`Sandbox.environment()` is what points the notifications function at it (the PAYMESH_NOTIFICATIONS_* settings).
"""

from __future__ import annotations

import base64
import email
import json
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from paymesh.local.broker import free_port

OUTBOX_FILE = "outbox.jsonl"
CHANNELS = ("email", "sms", "push")
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
DEVICE_TOKEN = re.compile(r"^[A-Za-z0-9_:.\-]{8,4096}$")
SMS_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages\.json$")
PUSH_PATH = re.compile(r"^/v1/projects/(?P<project>[^/]+)/messages:send$")
# Twilio's test number that is never a valid destination (error 21211), kept so a demo can show a rejection.
TWILIO_INVALID_NUMBER = "+15005550001"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Outbox:
    """Every message the sandbox accepted, in arrival order, mirrored to a JSON-lines file."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._items: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("")

    def add(self, channel: str, record: dict[str, Any]) -> dict[str, Any]:
        item = {"channel": channel, "receivedAt": _now(), **record}
        line = json.dumps(item, default=str)
        with self._lock:
            self._items.append(item)
            if self.path is not None:
                with self.path.open("a") as file:
                    file.write(line + "\n")
        return item

    def items(self, channel: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [item for item in self._items if channel is None or item["channel"] == channel]

    def counts(self) -> dict[str, int]:
        counted = Counter(item["channel"] for item in self.items())
        return {channel: counted.get(channel, 0) for channel in CHANNELS}


def parse_email(raw: bytes, mail_from: str, rcpt_tos: list[str]) -> dict[str, Any]:
    """The parts of a received message a person looks at: from/to/subject and the text (and HTML) body."""
    message = email.message_from_bytes(raw, policy=default_policy)
    text = html = None
    if isinstance(message, EmailMessage):
        plain, rich = message.get_body(("plain",)), message.get_body(("html",))
        text = plain.get_content() if isinstance(plain, EmailMessage) else None
        html = rich.get_content() if isinstance(rich, EmailMessage) else None
    def tidy(value: str | None) -> str | None:
        return value.replace("\r\n", "\n").rstrip("\n") if value is not None else None

    text, html = tidy(text), tidy(html)
    return {"id": str(message.get("Message-ID") or f"<{secrets.token_hex(12)}@sandbox>"),
            "from": str(message.get("From") or mail_from), "to": list(rcpt_tos),
            "subject": str(message.get("Subject") or ""), "body": text if text is not None else "",
            "html": html, "envelopeFrom": mail_from, "size": len(raw)}


class _Inbox:
    """The aiosmtpd handler: accepts every recipient and keeps every message in the outbox."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's hook)
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode()
        item = self.outbox.add("email", parse_email(raw, str(envelope.mail_from), list(envelope.rcpt_tos)))
        return f"250 Message accepted for delivery ({item['id']})"


def _twilio_error(status: int, code: int, message: str) -> tuple[int, dict[str, Any]]:
    return status, {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
                    "status": status}


def _fcm_error(status: int, state: str, message: str, error_code: str | None = None) -> tuple[int, dict[str, Any]]:
    error: dict[str, Any] = {"code": status, "message": message, "status": state}
    if error_code:
        error["details"] = [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": error_code}]
    return status, {"error": error}


@dataclass
class Sandbox:
    """SMTP plus the Twilio- and FCM-shaped HTTP APIs on loopback. Ports 0 pick free ones."""

    home: Path | None = None
    smtp_port: int = 0
    http_port: int = 0
    host: str = "127.0.0.1"
    account_sid: str = "AC" + "5a" * 16
    auth_token: str = field(default_factory=lambda: secrets.token_hex(16))
    sms_from: str = "+15005550006"
    project_id: str = "paymesh-sandbox"
    access_token: str = field(default_factory=lambda: "ya29.sandbox-" + secrets.token_urlsafe(24))
    email_sender: str = "paymesh <no-reply@paymesh.local>"
    outbox: Outbox = field(init=False)
    email_skipped: str | None = field(default=None, init=False)
    _http: ThreadingHTTPServer | None = field(default=None, init=False, repr=False)
    _smtp: Any = field(default=None, init=False, repr=False)
    _stopped: bool = field(default=False, init=False, repr=False)

    @property
    def url(self) -> str:
        assert self._http is not None, "the sandbox is not started"
        return f"http://{self.host}:{self._http.server_address[1]}"

    @property
    def outbox_url(self) -> str:
        return f"{self.url}/outbox"

    @property
    def email_enabled(self) -> bool:
        return self._smtp is not None

    def start(self) -> Sandbox:
        self.outbox = Outbox(self.home / OUTBOX_FILE if self.home is not None else None)
        self._http = ThreadingHTTPServer((self.host, self.http_port), self._handler())
        self._http.daemon_threads = True
        threading.Thread(target=self._http.serve_forever, name="sandbox-http", daemon=True).start()
        try:
            self._start_smtp()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_smtp(self) -> None:
        try:
            from aiosmtpd.controller import Controller
        except ImportError as error:
            self.email_skipped = f"aiosmtpd is not installed ({error}); install the dev extras: pip install -e '.[dev]'"
            return
        self.smtp_port = self.smtp_port or free_port()
        # server_hostname: no getfqdn() (a DNS look-up) for the greeting.
        controller = Controller(_Inbox(self.outbox), hostname=self.host, port=self.smtp_port,
                                server_hostname="paymesh-sandbox", ready_timeout=10.0)
        controller.start()
        self._smtp = controller

    def stop(self) -> None:
        if self._smtp is not None:
            self._smtp.stop()
            self._smtp = None
        if self._http is not None and not self._stopped:
            self._stopped = True
            self._http.shutdown()
            self._http.server_close()

    def environment(self) -> dict[str, str]:
        """The notifications function's settings that send every channel here."""
        env = {"PAYMESH_NOTIFICATIONS_TWILIO_BASE_URL": self.url,
               "PAYMESH_NOTIFICATIONS_TWILIO_ACCOUNT_SID": self.account_sid,
               "PAYMESH_NOTIFICATIONS_TWILIO_AUTH_TOKEN": self.auth_token,
               "PAYMESH_NOTIFICATIONS_TWILIO_FROM": self.sms_from,
               "PAYMESH_NOTIFICATIONS_TWILIO_MESSAGING_SERVICE_SID": "",
               "PAYMESH_NOTIFICATIONS_FCM_BASE_URL": self.url,
               "PAYMESH_NOTIFICATIONS_FCM_PROJECT_ID": self.project_id,
               "PAYMESH_NOTIFICATIONS_FCM_ACCESS_TOKEN": self.access_token}
        if self.email_enabled:
            env.update({"PAYMESH_NOTIFICATIONS_SMTP_HOST": self.host,
                        "PAYMESH_NOTIFICATIONS_SMTP_PORT": str(self.smtp_port),
                        "PAYMESH_NOTIFICATIONS_SMTP_SECURITY": "none",
                        "PAYMESH_NOTIFICATIONS_SMTP_USERNAME": "",
                        "PAYMESH_NOTIFICATIONS_SMTP_PASSWORD": "",
                        "PAYMESH_NOTIFICATIONS_SMTP_FROM": self.email_sender})
        return env

    def describe(self) -> str:
        """The start-up line."""
        smtp = f"SMTP {self.host}:{self.smtp_port}" if self.email_enabled else "no SMTP"
        where = f", also {self.outbox.path}" if self.outbox.path is not None else ""
        return f"sandbox       {self.outbox_url}  ({smtp}, SMS and push APIs{where})"

    # -- the provider APIs ------------------------------------------------------------------------------------

    def sms(self, account: str, authorization: str | None, form: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        """Twilio `Create a Message`: Basic auth with the account SID, form fields To, From or
        MessagingServiceSid, Body."""
        if _basic(authorization) != (self.account_sid, self.auth_token) or account != self.account_sid:
            return _twilio_error(401, 20003, "Authenticate")

        def one(name: str) -> str:
            return (form.get(name) or [""])[0]

        to, sender, service, body = one("To"), one("From"), one("MessagingServiceSid"), one("Body")
        if not to:
            return _twilio_error(400, 21604, "A 'To' phone number is required.")
        if not (sender or service):
            return _twilio_error(400, 21603, "A 'From' phone number is required.")
        if not (body or form.get("MediaUrl")):
            return _twilio_error(400, 21602, "Message body is required.")
        if not E164.match(to) or to == TWILIO_INVALID_NUMBER:
            return _twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if len(body) > 1600:
            return _twilio_error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        sid = "SM" + secrets.token_hex(16)
        self.outbox.add("sms", {"id": sid, "accountSid": account, "from": sender or None,
                                "messagingServiceSid": service or None, "to": to, "body": body})
        stamp = formatdate(usegmt=True)
        return 201, {"sid": sid, "account_sid": account, "api_version": "2010-04-01", "body": body,
                     "date_created": stamp, "date_updated": stamp, "date_sent": None, "direction": "outbound-api",
                     "error_code": None, "error_message": None, "from": sender or None,
                     "messaging_service_sid": service or None, "num_media": "0",
                     "num_segments": str(1 if len(body) <= 160 else -(-len(body) // 153)), "price": None,
                     "price_unit": "USD", "status": "accepted" if service and not sender else "queued", "to": to,
                     "uri": f"/2010-04-01/Accounts/{account}/Messages/{sid}.json",
                     "subresource_uris": {"media": f"/2010-04-01/Accounts/{account}/Messages/{sid}/Media.json"}}

    def push(self, project: str, authorization: str | None, document: Any) -> tuple[int, dict[str, Any]]:
        """FCM HTTP v1 `projects.messages.send`: Bearer token, {"message": {token|topic|condition, ...}}."""
        if authorization != f"Bearer {self.access_token}":
            return _fcm_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected "
                              "OAuth 2 access token, login cookie or other valid authentication credential.")
        if project != self.project_id:
            return _fcm_error(403, "PERMISSION_DENIED", f"Permission 'cloudmessaging.messages.create' denied on "
                              f"resource '//cloudresourcemanager.googleapis.com/projects/{project}' (or it may not "
                              "exist).")
        message = document.get("message") if isinstance(document, dict) else None
        if not isinstance(message, dict):
            return _fcm_error(400, "INVALID_ARGUMENT", "Request contains an invalid argument.", "INVALID_ARGUMENT")
        targets = [key for key in ("token", "topic", "condition") if message.get(key)]
        if len(targets) != 1:
            return _fcm_error(400, "INVALID_ARGUMENT", "Exactly one of message.token, message.topic or "
                              "message.condition must be set.", "INVALID_ARGUMENT")
        token = message.get("token")
        if token is not None and not (isinstance(token, str) and DEVICE_TOKEN.match(token)):
            return _fcm_error(400, "INVALID_ARGUMENT", "The registration token is not a valid FCM registration "
                              "token", "INVALID_ARGUMENT")
        data = message.get("data") or {}
        if not isinstance(data, dict) or not all(isinstance(value, str) for value in data.values()):
            return _fcm_error(400, "INVALID_ARGUMENT", "Invalid value at 'message.data': values must be strings.",
                              "INVALID_ARGUMENT")
        if document.get("validate_only"):
            return 200, {"name": f"projects/{project}/messages/fake_message_id"}
        name = f"projects/{project}/messages/0:{time.time_ns() // 1000}%{secrets.token_hex(8)}"
        shown = message.get("notification")
        notification: dict[str, Any] = shown if isinstance(shown, dict) else {}
        self.outbox.add("push", {"id": name, "project": project, "token": token, "topic": message.get("topic"),
                                 "condition": message.get("condition"), "title": notification.get("title"),
                                 "body": notification.get("body"), "data": data})
        return 200, {"name": name}

    def listing(self, query: str) -> tuple[int, dict[str, Any]]:
        wanted = parse_qs(query).get("channel")
        channel = wanted[0] if wanted else None
        if channel is not None and channel not in CHANNELS:
            return 400, {"error": f"channel must be one of {', '.join(CHANNELS)}"}
        items = self.outbox.items(channel)
        return 200, {"count": len(items), "counts": self.outbox.counts(), "items": items}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        sandbox = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "paymesh-sandbox"

            def _answer(self, answer: tuple[int, dict[str, Any]]) -> None:
                status, document = answer
                payload = json.dumps(document, default=str).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                if url.path in ("/outbox", "/outbox/"):
                    self._answer(sandbox.listing(url.query))
                elif url.path == "/":
                    self._answer((200, {"outbox": "/outbox", "sms": "/2010-04-01/Accounts/{sid}/Messages.json",
                                        "push": "/v1/projects/{project}/messages:send",
                                        "smtp": None if not sandbox.email_enabled else sandbox.smtp_port}))
                else:
                    self._answer((404, {"error": "not found"}))

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path = urlsplit(self.path).path
                authorization = self.headers.get("Authorization")
                if match := SMS_PATH.match(path):
                    form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
                    self._answer(sandbox.sms(match["account"], authorization, form))
                elif match := PUSH_PATH.match(path):
                    try:
                        document = json.loads(body or b"null")
                    except ValueError:
                        self._answer(_fcm_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received."))
                        return
                    self._answer(sandbox.push(match["project"], authorization, document))
                else:
                    self._answer((404, {"error": "not found"}))

            def log_message(self, format: str, *args: object) -> None:
                return None

        return Handler


def _basic(authorization: str | None) -> tuple[str, str] | None:
    if not authorization or not authorization.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(authorization[6:], validate=True).decode().partition(":")
    except ValueError:
        return None
    return user, password


def start_sandbox(home: Path | None, say: Callable[[str], None], *, smtp_port: int = 0,
                  http_port: int = 0) -> Sandbox:
    """Start it and say so (and say when email is skipped)."""
    sandbox = Sandbox(home, smtp_port=smtp_port, http_port=http_port).start()
    say(sandbox.describe())
    if sandbox.email_skipped:
        say(f"sandbox       email skipped: {sandbox.email_skipped}")
    return sandbox
