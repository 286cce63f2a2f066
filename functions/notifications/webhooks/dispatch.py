"""Fan a payment event out to its merchant's endpoints, and send due messages on a PingSource tick.

A message is committed (claimed for `lease`) before its first attempt; every attempt is committed with
its outcome. A crash between the two leaves the message due again once the lease ends, and the next
PingSource tick sends it again with the same webhook-id (receivers drop duplicates). A message is never
sent after a 2xx: a delivered message is no longer pending, so nothing claims it.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

from functions.notifications.repository import MessageRecord, WebhookRepository
from functions.notifications.webhooks.attempts import Attempts, Disabled, DispatchPolicy
from functions.notifications.webhooks.sender import WebhookSender
from functions.notifications.webhooks.signing import message_id
from shared.contract import Context, Emit
from shared.events import EventData

__all__ = ["Disabled", "DispatchPolicy", "Dispatcher"]


def _now() -> datetime:
    return datetime.now(UTC)


class Dispatcher:
    def __init__(self, policy: DispatchPolicy, sender: WebhookSender) -> None:
        self.policy = policy
        self.attempts = Attempts(policy, sender)

    # ---- fan-out --------------------------------------------------------------------------------

    def fan_out(self, ctx: Context, data: EventData, merchant_id: str) -> tuple[list[Emit], list[Disabled]]:
        repo = WebhookRepository(ctx.session)
        event = ctx.event
        document = {"type": event.type, "timestamp": (event.time or ctx.now.isoformat()).replace("+00:00", "Z"),
                    "data": data.wire()}
        payload = json.dumps(document, separators=(",", ":"), default=str)
        created = []
        now = _now()
        for endpoint in repo.subscribed(merchant_id, event.type):
            msg_id = message_id(endpoint.id, event.source, event.id)
            if repo.message(msg_id) is not None:
                continue  # a redelivered event: the message exists and follows its own schedule
            message = MessageRecord(id=msg_id, endpoint_id=endpoint.id, event_type=event.type, payload=payload,
                                    status="pending", step=0, next_attempt_at=now + self.policy.lease,
                                    last_error=None, created_at=now, updated_at=now)
            repo.insert_message(message)
            created.append(message)
        if created:
            repo.commit()
        started = time.monotonic()
        emits: list[Emit] = []
        disabled: list[Disabled] = []
        for message in created:
            if time.monotonic() - started > self.policy.tick_seconds_max:
                # Out of time for this event (its delivery has a timeout): the next tick sends the rest.
                message.next_attempt_at = message.updated_at = _now()
                repo.save_message(message)
                repo.commit()
                continue
            more, gone = self.attempts.attempt(ctx, repo, message)
            emits += more
            disabled += gone
        return emits, disabled

    # ---- PingSource tick ------------------------------------------------------------------------

    def tick(self, ctx: Context) -> tuple[list[Emit], list[Disabled]]:
        """Attempt the messages that are due, oldest first, within this tick's budget."""
        repo = WebhookRepository(ctx.session)
        started = time.monotonic()
        emits: list[Emit] = []
        disabled: list[Disabled] = []
        for msg_id in repo.due(_now(), self.policy.tick_messages_max):
            if time.monotonic() - started > self.policy.tick_seconds_max:
                break
            now = _now()
            if not repo.claim(msg_id, now, now + self.policy.lease):
                continue
            repo.commit()
            message = repo.message(msg_id)
            assert message is not None
            more, gone = self.attempts.attempt(ctx, repo, message)
            emits += more
            disabled += gone
        return emits, disabled

