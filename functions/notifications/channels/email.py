"""Email over SMTP with smtplib: plain, STARTTLS or implicit TLS, optional AUTH."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Literal

from functions.notifications.channels import Delivered, Message, Outcome, Undelivered

Security = Literal["none", "starttls", "ssl"]


def _by_code(code: int, text: str) -> Undelivered:
    """SMTP 5xx replies are permanent, 4xx are worth retrying."""
    permanent = code >= 500
    return Undelivered(permanent=permanent, reason="provider_rejected" if permanent else "provider_unavailable",
                       error=f"smtp {code}: {text}"[:1000])


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


class EmailChannel:
    name = "email"

    def __init__(self, *, host: str | None, port: int, security: Security, username: str | None,
                 password: str | None, sender: str, timeout: float, verify_tls: bool = True) -> None:
        self.host = host
        self.port = port
        self.security = security
        self.username = username
        self.password = password
        self.sender = sender
        self.timeout = timeout
        self.verify_tls = verify_tls

    def configured(self) -> str | None:
        return None if self.host else "PAYMESH_NOTIFICATIONS_SMTP_HOST is not set"

    def _tls(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if not self.verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def build(self, message: Message) -> EmailMessage:
        email = EmailMessage()
        domain = parseaddr(self.sender)[1].rpartition("@")[2] or "paymesh.local"
        email["From"] = self.sender
        email["To"] = message.recipient
        email["Subject"] = message.subject or ""
        email["Date"] = formatdate(usegmt=True)
        # Deterministic, so a receiving system can recognise the same notification.
        email["Message-ID"] = f"<{message.notification_id}@{domain}>"
        email.set_content(message.text)
        if message.html is not None:
            email.add_alternative(message.html, subtype="html")
        return email

    def send(self, message: Message) -> Outcome:
        assert self.host is not None
        email = self.build(message)
        try:
            smtp: smtplib.SMTP
            if self.security == "ssl":
                smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=self._tls())
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with smtp:
                if self.security == "starttls":
                    smtp.starttls(context=self._tls())
                if self.username:
                    smtp.login(self.username, self.password or "")
                refused = smtp.send_message(email)
        except smtplib.SMTPRecipientsRefused as error:
            code, text = next(iter(error.recipients.values()))
            return _by_code(code, _text(text))
        except smtplib.SMTPResponseException as error:  # sender refused, data refused, auth failed...
            return _by_code(error.smtp_code, _text(error.smtp_error))
        except smtplib.SMTPNotSupportedError as error:
            return Undelivered(permanent=True, reason="provider_rejected", error=f"smtp: {error}")
        except (smtplib.SMTPException, OSError) as error:  # connection refused, timeout, disconnect, TLS
            return Undelivered(permanent=False, reason="unreachable", error=f"smtp: {type(error).__name__}: {error}")
        if refused:
            code, text = next(iter(refused.values()))
            return _by_code(code, _text(text))
        return Delivered(str(email["Message-ID"]))
