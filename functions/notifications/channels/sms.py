"""SMS through an HTTP API with the shape of Twilio's Messages API (base URL configurable)."""

from __future__ import annotations

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


class SmsChannel:
    name = "sms"

    def __init__(self, *, base_url: str, account_sid: str | None, auth_token: str | None, sender: str | None,
                 messaging_service_sid: str | None, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.sender = sender
        self.messaging_service_sid = messaging_service_sid
        self._client = httpx.Client(timeout=timeout, trust_env=False, verify=tls_context(), follow_redirects=False)

    def configured(self) -> str | None:
        if not (self.account_sid and self.auth_token):
            return "PAYMESH_NOTIFICATIONS_TWILIO_ACCOUNT_SID and _AUTH_TOKEN are not set"
        if not (self.sender or self.messaging_service_sid):
            return "PAYMESH_NOTIFICATIONS_TWILIO_FROM (or _MESSAGING_SERVICE_SID) is not set"
        return None

    def send(self, message: Message) -> Outcome:
        assert self.account_sid is not None and self.auth_token is not None
        url = f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        form = {"To": message.recipient, "Body": message.text}
        if self.messaging_service_sid:
            form["MessagingServiceSid"] = self.messaging_service_sid
        else:
            form["From"] = self.sender or ""
        try:
            response = self._client.post(url, data=form, auth=(self.account_sid, self.auth_token))
        except httpx.HTTPError as error:
            return Undelivered(permanent=False, reason="unreachable", error=f"sms: {type(error).__name__}: {error}")
        if 200 <= response.status_code < 300:
            sid = _json_field(response, "sid")
            return Delivered(sid)
        detail = _json_field(response, "message") or response_detail(response.content)
        code = _json_field(response, "code")
        return http_outcome(response.status_code, f"{detail} (code {code})" if code else detail, "sms provider")


def _json_field(response: httpx.Response, name: str) -> str | None:
    try:
        value = response.json().get(name)
    except (ValueError, AttributeError):
        return None
    return str(value) if value is not None else None
