"""One attempt of one webhook message: rate limit, circuit breaker, signed send, and its record.

Each step that matters commits at once: the token and a half-open probe are taken before the send, the
outcome right after it (see functions/notifications/README.md, merchant webhooks).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from functions.notifications import metrics
from functions.notifications.masking import mask_url
from functions.notifications.repository import EndpointRecord, MessageRecord, WebhookRepository
from functions.notifications.webhooks.policy import Bucket, next_attempt, parse_retry_after
from functions.notifications.webhooks.sender import Sent, WebhookSender
from functions.notifications.webhooks.signing import signature_header
from shared.breaker import Breaker, BreakerState
from shared.contract import Context, Emit
from shared.events import NotificationAuditEvent, NotificationFailed

log = logging.getLogger("paymesh.notifications.webhooks")


@dataclass(frozen=True, slots=True)
class DispatchPolicy:
    schedule: tuple[float, ...]
    lease: timedelta
    breaker: Breaker
    disable_after: timedelta
    tick_messages_max: int
    tick_seconds_max: float


@dataclass(frozen=True, slots=True)
class Disabled:
    """An endpoint just disabled for failing too long: who to tell."""

    endpoint: EndpointRecord


def _now() -> datetime:
    return datetime.now(UTC)


class Attempts:
    def __init__(self, policy: DispatchPolicy, sender: WebhookSender) -> None:
        self.policy = policy
        self.sender = sender

    # ---- one attempt ----------------------------------------------------------------------------

    def attempt(self, ctx: Context, repo: WebhookRepository,
                message: MessageRecord) -> tuple[list[Emit], list[Disabled]]:
        now = _now()
        endpoint = repo.endpoint(message.endpoint_id)
        if endpoint is not None and (endpoint.rate_limit_per_second or endpoint.breaker_opened_at is not None):
            # Bucket and breaker change with every call: read them under the row's lock. An endpoint without
            # either is not locked at all, so its messages go out in parallel.
            endpoint = repo.endpoint(message.endpoint_id, lock=True)
        if endpoint is None or endpoint.status != "enabled":
            reason = "endpoint_deleted" if endpoint is None else "endpoint_disabled"
            repo.add_attempt(message.id, now, "skipped", error=reason.replace("_", " "))
            return self._give_up(ctx, repo, message, endpoint, reason=reason, now=now), []
        if endpoint.rate_limit_per_second:
            taken, bucket = Bucket(endpoint.tokens, endpoint.tokens_at).take(endpoint.rate_limit_per_second, now)
            endpoint.tokens, endpoint.tokens_at = bucket.tokens, bucket.at
            if not taken:
                repo.save_endpoint(endpoint)
                repo.add_attempt(message.id, now, "rate_limited", error="endpoint rate limit reached")
                message.next_attempt_at = now + timedelta(seconds=1 / endpoint.rate_limit_per_second)
                message.updated_at = now
                repo.save_message(message)
                repo.commit()
                metrics.WEBHOOK_ATTEMPTS.labels("rate_limited").inc()
                return [], []
        breaker = self.policy.breaker
        state = BreakerState(endpoint.consecutive_failures, endpoint.breaker_opened_at)
        if not breaker.allows(state, now):
            repo.add_attempt(message.id, now, "breaker_open", error="circuit open: endpoint failing, not called")
            metrics.WEBHOOK_ATTEMPTS.labels("breaker_open").inc()
            return self._failed(ctx, repo, message, endpoint, error="circuit open", retry_after=None, now=now), []
        if endpoint.rate_limit_per_second or endpoint.breaker_opened_at is not None:
            endpoint.breaker_opened_at = breaker.probing(state, now).opened_at
            repo.save_endpoint(endpoint)
            repo.commit()  # the bucket's token and a half-open probe are taken before the send
        sent = self._send(endpoint, message, now)
        return self._record(ctx, repo, message, sent)

    def _send(self, endpoint: EndpointRecord, message: MessageRecord, now: datetime) -> Sent:
        secrets = [endpoint.secret]
        if endpoint.previous_secret and endpoint.previous_secret_until and endpoint.previous_secret_until > now:
            secrets.append(endpoint.previous_secret)
        timestamp = int(time.time())
        body = message.payload.encode()
        headers = {"webhook-id": message.id, "webhook-timestamp": str(timestamp),
                   "webhook-signature": signature_header(secrets, message.id, timestamp, body)}
        return self.sender.post(endpoint.url, body, headers)

    def _record(self, ctx: Context, repo: WebhookRepository, message: MessageRecord,
                sent: Sent) -> tuple[list[Emit], list[Disabled]]:
        now = _now()
        repo.add_attempt(message.id, now, "delivered" if sent.ok else "failed", response_status=sent.response_status,
                         duration_ms=sent.duration_ms, error=sent.error)
        metrics.WEBHOOK_ATTEMPTS.labels("delivered" if sent.ok else "failed").inc()
        if sent.ok:
            message.status, message.next_attempt_at, message.last_error = "delivered", None, None
            message.updated_at = now
            repo.save_message(message)
            endpoint = repo.endpoint(message.endpoint_id)
            if endpoint is not None and (endpoint.consecutive_failures or endpoint.breaker_opened_at is not None
                                         or endpoint.failing_since is not None):
                endpoint = repo.endpoint(message.endpoint_id, lock=True)  # a recovery: reset under the lock
                if endpoint is not None:
                    state = self.policy.breaker.succeeded(BreakerState(endpoint.consecutive_failures,
                                                                       endpoint.breaker_opened_at))
                    endpoint.consecutive_failures, endpoint.breaker_opened_at = state.consecutive_failures, \
                        state.opened_at
                    endpoint.failing_since, endpoint.updated_at = None, now
                    repo.save_endpoint(endpoint)
            repo.commit()
            return [], []
        endpoint = repo.endpoint(message.endpoint_id, lock=True)
        if endpoint is None:
            return self._give_up(ctx, repo, message, None, reason="endpoint_deleted", now=now), []
        state = self.policy.breaker.failed(BreakerState(endpoint.consecutive_failures, endpoint.breaker_opened_at),
                                           now)
        endpoint.consecutive_failures, endpoint.breaker_opened_at = state.consecutive_failures, state.opened_at
        endpoint.failing_since = endpoint.failing_since or now
        endpoint.updated_at = now
        emits = self._failed(ctx, repo, message, endpoint, error=sent.error or "failed",
                             retry_after=parse_retry_after(sent.retry_after, now), now=now)
        return emits, self._maybe_disable(ctx, repo, endpoint, now)

    def _failed(self, ctx: Context, repo: WebhookRepository, message: MessageRecord, endpoint: EndpointRecord,
                *, error: str, retry_after: timedelta | None, now: datetime) -> list[Emit]:
        message.step += 1
        message.last_error = error
        repo.save_endpoint(endpoint)
        upcoming = next_attempt(self.policy.schedule, message.step, now, retry_after)
        if upcoming is None:
            return self._give_up(ctx, repo, message, endpoint, reason="attempts_exhausted", now=now)
        message.next_attempt_at, message.updated_at = upcoming, now
        repo.save_message(message)
        repo.commit()
        return []

    def _give_up(self, ctx: Context, repo: WebhookRepository, message: MessageRecord,
                 endpoint: EndpointRecord | None, *, reason: str, now: datetime) -> list[Emit]:
        message.status, message.next_attempt_at, message.updated_at = "failed", None, now
        repo.save_message(message)
        repo.commit()
        metrics.WEBHOOK_MESSAGES_FAILED.labels(reason).inc()
        masked = mask_url(endpoint.url) if endpoint is not None else "***"
        details = {"channel": "webhook", "endpointId": message.endpoint_id, "recipient": masked,
                   "eventType": message.event_type, "attempts": message.step, "reason": reason,
                   "error": message.last_error}
        failed = NotificationFailed(notification_id=message.id, channel="webhook", recipient=masked, reason=reason,
                                    error=message.last_error or reason, attempts=max(message.step, 1),
                                    failed_at=now, metadata={"endpointId": message.endpoint_id,
                                                             "eventType": message.event_type})
        audit = NotificationAuditEvent(service="notifications", action="webhook.failed", outcome="failure",
                                       subject=message.id, correlation_id=ctx.event.correlation_id,
                                       occurred_at=now, details=details)
        log.warning("webhook message failed", extra={"message_id": message.id, "endpoint_id": message.endpoint_id,
                                                     "reason": reason})
        return [Emit(failed), Emit(audit)]

    def _maybe_disable(self, ctx: Context, repo: WebhookRepository, endpoint: EndpointRecord,
                       now: datetime) -> list[Disabled]:
        if endpoint.failing_since is None or now - endpoint.failing_since < self.policy.disable_after:
            return []
        endpoint = replace(endpoint, status="disabled", disabled_reason="failing", updated_at=now)
        repo.save_endpoint(endpoint)
        repo.commit()
        metrics.WEBHOOK_ENDPOINTS_DISABLED.inc()
        log.warning("webhook endpoint disabled", extra={"endpoint_id": endpoint.id})
        return [Disabled(endpoint)]
