"""What an endpoint registration or change may hold; a broken rule is a 422 naming the body field."""

from __future__ import annotations

from collections.abc import Collection
from typing import Annotated, Any, TypeVar

from pydantic import Field, ValidationError, field_validator

from functions.notifications.destinations import BadDestinationError, UnresolvableError, check_url, resolve
from functions.notifications.recipients import EMAIL
from shared.errors import EventError, FieldProblem
from shared.events import WEBHOOK_EVENT_TYPES, Identifier, WireModel

EventType = Annotated[str, Field(min_length=1, max_length=128)]


class EndpointChange(WireModel):
    """PATCH /endpoints/{id}: every field optional."""

    url: str | None = Field(default=None, min_length=1, max_length=2048)
    event_types: list[EventType] | None = Field(default=None, min_length=1, max_length=20)
    description: str | None = Field(default=None, max_length=1000)
    contact_email: str | None = Field(default=None, max_length=254)
    rate_limit_per_second: int | None = Field(default=None, ge=1, le=10_000)

    @field_validator("event_types")
    @classmethod
    def _known_types(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        unknown = sorted(set(value) - set(WEBHOOK_EVENT_TYPES))
        if unknown:
            raise ValueError(f"unknown event type {unknown[0]!r}; one of {', '.join(WEBHOOK_EVENT_TYPES)}")
        return sorted(set(value), key=WEBHOOK_EVENT_TYPES.index)

    @field_validator("contact_email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not EMAIL.match(value):
            raise ValueError("must be an email address")
        return value


class EndpointCreate(EndpointChange):
    """POST /endpoints."""

    merchant_id: Identifier
    url: str = Field(min_length=1, max_length=2048)
    event_types: list[EventType] = Field(min_length=1, max_length=20)


M = TypeVar("M", bound=EndpointChange)


def parse_body(model: type[M], body: dict[str, Any], allow_hosts: Collection[str]) -> M:
    try:
        value = model.model_validate(body)
    except ValidationError as error:
        problems = [FieldProblem("body" + "".join(f".{part}" for part in item["loc"]), item["type"], item["msg"])
                    for item in error.errors()]
        raise EventError(422, "invalid_body", problems[0].message, problems) from None
    if value.url is not None:
        check_endpoint_url(value.url, allow_hosts)
    return value


def check_endpoint_url(url: str, allow_hosts: Collection[str]) -> None:
    """The SSRF guard at registration (it runs again at every send)."""
    try:
        target = check_url(url, allow_hosts)
        if not target.allow_listed:
            resolve(target)
    except BadDestinationError as error:
        raise EventError.field(422, "invalid_body", "body.url", error.rule, f"url {error}") from None
    except UnresolvableError as error:
        if error.permanent:
            raise EventError.field(422, "invalid_body", "body.url", "resolvable", f"url: {error}") from None
        # DNS is down for now: the guard runs again before every send
