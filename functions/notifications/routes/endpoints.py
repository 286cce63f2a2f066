"""The merchant webhook admin API: endpoints, their secrets and messages, and every attempt.

Writes are admin routes (Route.role "admin"); reads are reader routes. Sends happen in event handlers
only: replay and recover make messages due, and the next PingSource tick sends them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from functions.notifications.repository import EndpointRecord, MessageRecord, WebhookRepository
from functions.notifications.settings import NotificationsSettings
from functions.notifications.webhooks.endpoints import EndpointChange, EndpointCreate, parse_body
from functions.notifications.webhooks.signing import new_endpoint_id, new_secret
from shared.contract import Query, Reply, bad_query, json_object
from shared.errors import EventError

MESSAGE_STATUSES = ("pending", "delivered", "failed")


def _not_found(what: str) -> Reply:
    return Reply({"error": "not_found", "message": f"no such {what}"}, 404)


def endpoint_json(endpoint: EndpointRecord) -> dict[str, Any]:
    """An endpoint as the API shows it: never its secrets."""
    return {
        "id": endpoint.id, "merchantId": endpoint.merchant_id, "url": endpoint.url,
        "eventTypes": endpoint.event_types, "description": endpoint.description,
        "contactEmail": endpoint.contact_email, "rateLimitPerSecond": endpoint.rate_limit_per_second,
        "status": endpoint.status, "disabledReason": endpoint.disabled_reason,
        "circuit": "closed" if endpoint.breaker_opened_at is None else "open",
        "failingSince": endpoint.failing_since.isoformat() if endpoint.failing_since else None,
        "createdAt": endpoint.created_at.isoformat(), "updatedAt": endpoint.updated_at.isoformat(),
    }


def message_json(message: MessageRecord) -> dict[str, Any]:
    return {"id": message.id, "endpointId": message.endpoint_id, "eventType": message.event_type,
            "status": message.status, "failedAttempts": message.step,
            "nextAttemptAt": message.next_attempt_at.isoformat() if message.next_attempt_at else None,
            "lastError": message.last_error, "createdAt": message.created_at.isoformat()}


class EndpointRoutes:
    """Bound at wiring to the function's NotificationsSettings (allow-listed hosts, rotation overlap)."""

    def __init__(self, settings: NotificationsSettings) -> None:
        self.allow_hosts = settings.allow_hosts
        self.overlap = timedelta(seconds=settings.notifications_webhook_secret_overlap_seconds)

    def create(self, q: Query) -> Reply:
        body = parse_body(EndpointCreate, json_object(q), self.allow_hosts)
        now = datetime.now(UTC)
        endpoint = EndpointRecord(
            id=new_endpoint_id(), merchant_id=body.merchant_id, url=body.url, event_types=body.event_types,
            description=body.description, contact_email=body.contact_email,
            rate_limit_per_second=body.rate_limit_per_second, status="enabled", disabled_reason=None,
            secret=new_secret(), previous_secret=None, previous_secret_until=None, failing_since=None,
            consecutive_failures=0, breaker_opened_at=None, tokens=float(body.rate_limit_per_second or 0),
            tokens_at=None, created_at=now, updated_at=now)
        WebhookRepository(q.session).insert_endpoint(endpoint)
        return Reply({**endpoint_json(endpoint), "secret": endpoint.secret}, 201)

    def list(self, q: Query) -> Reply:
        merchant_id = q.text("merchantId", max_chars=128)
        if merchant_id is None:
            raise bad_query("merchantId", "required", "merchantId is required")
        endpoints = WebhookRepository(q.session).endpoints_of(merchant_id)
        return Reply({"endpoints": [endpoint_json(endpoint) for endpoint in endpoints]})

    def get(self, q: Query) -> Reply:
        endpoint = WebhookRepository(q.session).endpoint(q.params["endpoint_id"])
        return Reply(endpoint_json(endpoint)) if endpoint is not None else _not_found("endpoint")

    def change(self, q: Query) -> Reply:
        repo = WebhookRepository(q.session)
        body = parse_body(EndpointChange, json_object(q), self.allow_hosts)
        endpoint = repo.endpoint(q.params["endpoint_id"], lock=True)
        if endpoint is None:
            return _not_found("endpoint")
        for name in body.model_fields_set:
            if name in {"url", "event_types"} and getattr(body, name) is None:
                field = "url" if name == "url" else "eventTypes"
                raise EventError.field(422, "invalid_body", f"body.{field}", "required", f"{field} may not be null")
            setattr(endpoint, name, getattr(body, name))
        endpoint.updated_at = datetime.now(UTC)
        repo.save_endpoint(endpoint)
        return Reply(endpoint_json(endpoint))

    def remove(self, q: Query) -> Reply:
        repo = WebhookRepository(q.session)
        if repo.endpoint(q.params["endpoint_id"]) is None:
            return _not_found("endpoint")
        repo.delete_endpoint(q.params["endpoint_id"], datetime.now(UTC))
        return Reply({"id": q.params["endpoint_id"], "deleted": True})

    def rotate_secret(self, q: Query) -> Reply:
        repo = WebhookRepository(q.session)
        endpoint = repo.endpoint(q.params["endpoint_id"], lock=True)
        if endpoint is None:
            return _not_found("endpoint")
        now = datetime.now(UTC)
        endpoint.previous_secret, endpoint.previous_secret_until = endpoint.secret, now + self.overlap
        endpoint.secret, endpoint.updated_at = new_secret(), now
        repo.save_endpoint(endpoint)
        return Reply({"secret": endpoint.secret,
                      "previousSecretValidUntil": endpoint.previous_secret_until.isoformat()})

    def enable(self, q: Query) -> Reply:
        repo = WebhookRepository(q.session)
        endpoint = repo.endpoint(q.params["endpoint_id"], lock=True)
        if endpoint is None:
            return _not_found("endpoint")
        endpoint.status, endpoint.disabled_reason, endpoint.failing_since = "enabled", None, None
        endpoint.consecutive_failures, endpoint.breaker_opened_at = 0, None
        endpoint.updated_at = datetime.now(UTC)
        repo.save_endpoint(endpoint)
        return Reply(endpoint_json(endpoint))

    def recover(self, q: Query) -> Reply:
        since = q.time("since")
        if since is None:
            raise bad_query("since", "required", "since is required (RFC 3339)")
        repo = WebhookRepository(q.session)
        if repo.endpoint(q.params["endpoint_id"]) is None:
            return _not_found("endpoint")
        count = repo.reschedule(q.params["endpoint_id"], status="failed", since=since, now=datetime.now(UTC))
        return Reply({"endpointId": q.params["endpoint_id"], "scheduled": count}, 202)

    def messages(self, q: Query) -> Reply:
        status = q.text("status", max_chars=16)
        if status is not None and status not in MESSAGE_STATUSES:
            raise bad_query("status", "one_of", f"status must be one of {', '.join(MESSAGE_STATUSES)}")
        repo = WebhookRepository(q.session)
        if repo.endpoint(q.params["endpoint_id"]) is None:
            return _not_found("endpoint")
        limit = q.integer("limit", 100, 1, 1000)
        found = repo.messages_of(q.params["endpoint_id"], status, limit)
        return Reply({"messages": [message_json(message) for message in found]})

    def replay(self, q: Query) -> Reply:
        repo = WebhookRepository(q.session)
        message = repo.message(q.params["message_id"])
        if message is None:
            return _not_found("message")
        now = datetime.now(UTC)
        message.status, message.step, message.next_attempt_at, message.updated_at = "pending", 0, now, now
        repo.save_message(message)
        return Reply(message_json(message), 202)

    def attempts(self, q: Query) -> Reply:
        repo = WebhookRepository(q.session)
        if repo.message(q.params["message_id"]) is None:
            return _not_found("message")
        return Reply({"attempts": [
            {"at": row["at"].isoformat(), "status": row["status"], "responseStatus": row["response_status"],
             "durationMs": row["duration_ms"], **({"error": row["error"]} if row["error"] else {})}
            for row in repo.attempts(q.params["message_id"])]})
