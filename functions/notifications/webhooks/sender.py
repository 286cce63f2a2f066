"""One HTTP POST of a signed webhook, through the SSRF guard at every send, timed."""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass

import httpx

from functions.notifications.channels import response_detail, tls_context
from functions.notifications.channels.webhook import USER_AGENT
from functions.notifications.destinations import BadDestinationError, UnresolvableError, check_url, pinned_url, resolve
from functions.notifications.masking import mask_url, scrub
from shared.tracing import span


@dataclass(frozen=True, slots=True)
class Sent:
    """What one attempt came to: the answer's status (None when there was none), timing and error."""

    response_status: int | None
    duration_ms: int
    error: str | None = None
    retry_after: str | None = None

    @property
    def ok(self) -> bool:
        return self.response_status is not None and 200 <= self.response_status < 300


class WebhookSender:
    def __init__(self, allow_hosts: Collection[str], timeout_seconds: float) -> None:
        self._allow_hosts = allow_hosts
        self._client = httpx.Client(timeout=timeout_seconds, follow_redirects=False, trust_env=False,
                                    verify=tls_context(), headers={"User-Agent": USER_AGENT})

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> Sent:
        started = time.perf_counter()
        headers = {"Content-Type": "application/json", **headers}
        extensions: dict[str, str] = {}
        address_url = url
        try:
            target = check_url(url, self._allow_hosts)
            address_url = target.url
            if not target.allow_listed:
                address_url = pinned_url(target, resolve(target))
                headers["Host"] = target.parts.netloc.rpartition("@")[2]
                extensions["sni_hostname"] = target.host
            with span("webhook.send", {"paymesh.webhook.id": headers.get("webhook-id", "")}, kind="client"):
                response = self._client.post(address_url, content=body, headers=headers, extensions=extensions)
        except (BadDestinationError, UnresolvableError) as error:
            return Sent(None, _ms(started), f"refused: {error}")
        except httpx.HTTPError as error:
            # the URL's path and query may hold the merchant's token: never in an attempt, event or log
            text = scrub(scrub(f"{type(error).__name__}: {error}", url, mask_url(url)), address_url, mask_url(url))
            return Sent(None, _ms(started), text[:500])
        if 200 <= response.status_code < 300:
            return Sent(response.status_code, _ms(started))
        detail = response_detail(response.content)
        problem = f"answered {response.status_code}{': ' + detail if detail else ''}"[:500]
        return Sent(response.status_code, _ms(started), problem, response.headers.get("Retry-After"))


def _ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
