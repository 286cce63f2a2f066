"""Errors that map onto the delivery contract with Knative's Kafka dispatcher.

4xx other than 404/408/409/429 go straight to the dead-letter sink; 5xx are retried.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class FieldProblem:
    field: str
    rule: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"field": self.field, "rule": self.rule, "message": self.message}


@dataclass
class EventError(Exception):
    """A request that will never succeed as sent: answered with `status` and a JSON body."""

    status: int
    code: str
    message: str
    problems: list[FieldProblem] = field(default_factory=list)

    def __post_init__(self) -> None:
        assert 400 <= self.status < 500 and self.status not in {404, 408, 409, 429}, self.status
        super().__init__(self.message)

    @classmethod
    def field(cls, status: int, code: str, field_name: str, rule: str, message: str) -> EventError:
        return cls(status, code, message, [FieldProblem(field_name, rule, message)])

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.problems:
            body["field"] = self.problems[0].field
            body["rule"] = self.problems[0].rule
            body["errors"] = [problem.to_json() for problem in self.problems]
        return body


def invalid_data(field_name: str, rule: str, message: str) -> EventError:
    """A schema-valid event whose data breaks a rule the handler checks (422, never retried)."""
    return EventError.field(422, "invalid_data", f"data.{field_name}", rule, message)


class TransientError(Exception):
    """Something outside the event failed (store, broker, provider): answer 503 so Knative retries."""
