"""Push through an HTTP API with the shape of FCM HTTP v1 (base URL configurable, OAuth2 bearer token)."""

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


class PushChannel:
    name = "push"

    def __init__(self, base_url: str, project_id: str | None, access_token: str | None, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.project_id = project_id
        self.access_token = access_token
        self._client = httpx.Client(timeout=timeout, trust_env=False, verify=tls_context(), follow_redirects=False)

    def configured(self) -> str | None:
        if not (self.project_id and self.access_token):
            return "PAYMESH_NOTIFICATIONS_FCM_PROJECT_ID and _ACCESS_TOKEN are not set"
        return None

    def send(self, message: Message) -> Outcome:
        url = f"{self.base_url}/v1/projects/{self.project_id}/messages:send"
        notification = {"body": message.text, **({"title": message.subject} if message.subject else {})}
        # FCM data values must be strings.
        data = {"notificationId": message.notification_id, "kind": message.kind,
                **{key: str(value) for key, value in message.data.items()}}
        body = {"message": {"token": message.recipient, "notification": notification, "data": data}}
        try:
            response = self._client.post(url, json=body, headers={"Authorization": f"Bearer {self.access_token}"})
        except httpx.HTTPError as error:
            return Undelivered(permanent=False, reason="unreachable", error=f"push: {type(error).__name__}: {error}")
        if 200 <= response.status_code < 300:
            try:
                name = response.json().get("name")
            except (ValueError, AttributeError):
                name = None
            return Delivered(str(name) if name else None)
        detail = _fcm_error(response) or response_detail(response.content)
        return http_outcome(response.status_code, detail, "push provider")


def _fcm_error(response: httpx.Response) -> str | None:
    """FCM v1 errors: {"error": {"code": 404, "status": "NOT_FOUND", "message": ..., "details": [...]}}."""
    try:
        error = response.json().get("error") or {}
        status = error.get("status")
        codes = [item.get("errorCode") for item in error.get("details", []) if isinstance(item, dict)]
    except (ValueError, AttributeError):
        return None
    code = next((code for code in codes if code), None)
    parts = [part for part in (code or status, error.get("message")) if part]
    return ": ".join(str(part) for part in parts) or None
