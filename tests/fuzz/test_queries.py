"""Fuzzing every GET route of every function: hostile path parameters and query strings.

Never a 5xx, and every 4xx is a JSON error; a 400 names the parameter. The routes are read from each
function's spec, so a new route is fuzzed without a change here.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.hostile import ATTRIBUTE_VALUES, STRINGS
from tests.fuzz.tally import DERANDOMIZE, EXAMPLES, TALLY, known
from tests.fuzz.world import World, world
from tests.support import post_event

# The names routes read today, plus ones they may read tomorrow: a reader that does not know a name ignores it.
PARAMETERS = ("cursor", "limit", "from", "to", "currency", "active", "checkpoint", "subject", "service", "action",
              "outcome", "correlationId", "customerId", "eventType", "actor", "status", "since", "until", "offset",
              "index", "size")
QUERY_VALUES = {
    **{name: value for name, value in STRINGS.items() if len(value) < 5000},
    **{f"attr_{name}": value for name, value in ATTRIBUTE_VALUES.items()},
    "int_63": str(2**63), "int_negative": "-1", "int_huge": "9" * 400, "int_unicode": "\u0661\u0662",
    "int_superscript": "\u00b9\u00b2", "int_spaces": " 12 ", "int_plus": "+5", "float": "1.5", "zero": "0",
    "cursor_b64_huge_sequence": "MjAyNi0xMS0yOVQxMDowMDowMC4wMDAwMDBafDk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5",
    "cursor_b64_year_1": "MDAwMS0wMS0wMVQwMDowMDowMC4wMDAwMDBafDE=", "true": "true", "year_0": "0000-01-01T00:00:00Z",
}
_CURSOR_TEXT = ("2026-11-29T10:00:00.000000Z|" + "9" * 30, "0001-01-01T00:00:00.000000Z|1",
                "9999-12-31T23:59:59.999999Z|1", "2026-11-29T10:00:00.000000Z|-1", "x|y", "|", "")
# Values aimed at what a parameter means (a cursor, a count, a time), drawn half of the time.
AIMED = {
    "cursor": {**{f"cursor_{index}": base64.urlsafe_b64encode(text.encode()).decode()
                  for index, text in enumerate(_CURSOR_TEXT)}, "int_63": str(2**63), "int_huge": "9" * 30,
               "superscript": "\u00b2", "unicode": "\u0661"},
    "limit": {"int_63": str(2**63), "int_huge": "9" * 400, "zero": "0", "negative": "-1",
              "unicode": "\u0661\u0662", "superscript": "\u00b2"},
    "checkpoint": {"int_63": str(2**63), "int_huge": "9" * 400, "negative": "-1", "unicode": "\u0661"},
    "from": {"year_1": "0001-01-01T00:00:00+05:00", "year_9999": "9999-12-31T23:59:59-05:00",
             "no_offset": "2026-11-29T10:00:00", "epoch": "1732886400", "year_0": "0000-01-01T00:00:00Z"},
}
AIMED["to"] = AIMED["from"]
AIMED["offset"] = AIMED["limit"]
AIMED["index"] = AIMED["size"] = AIMED["limit"]
EXISTING = {"account": "merchant:mer_1", "transaction_id": "payment:pay_1", "notification_id": "ntf_1"}
PATH_VALUES = {**{name: value for name, value in STRINGS.items() if 0 < len(value) < 5000 and "\x00" not in value},
               "ok_account": "merchant:mer_1", "ok_id": "1", "huge_int": str(2**70), "negative": "-1",
               "dot": ".", "slash_encoded": "a%2Fb"}


@pytest.fixture(scope="module")
def query_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with world("sqlite", Path(tmp_path_factory.mktemp("fuzz-queries"))) as created:
        # Something to read: a payment through ledger and audit, a notification.
        from tests.fuzz.world import VALID_DATA

        for function, event_type in (("ledger", "payments.payment-processed"), ("audit", "audit.payment-events"),
                                     ("notifications", "notifications.notification-requested")):
            post_event(created.clients[function], event_type, VALID_DATA[event_type])
        yield created


def routes(created: World) -> list[tuple[str, str]]:
    return [(name, route.pattern) for name, app in created.apps.items() for route in app.spec.routes]


@st.composite
def requests(draw: st.DrawFn, pattern: str) -> tuple[str, str]:
    # Half of the time a path that exists, so the query string reaches the code that reads it.
    path_name = "existing" if draw(st.booleans()) else draw(st.sampled_from(sorted(PATH_VALUES)))

    def segment(match: re.Match[str]) -> str:
        value = EXISTING.get(match.group(1), "1") if path_name == "existing" else PATH_VALUES[path_name]
        return quote(value.encode("utf-8", "surrogatepass"), safe="")

    path = re.sub(r"\{(\w+)\}", segment, pattern)
    names = draw(st.lists(st.sampled_from(PARAMETERS), max_size=3, unique=True))
    chosen: dict[str, tuple[str, str]] = {}
    for name in names:
        aimed = AIMED.get(name)
        table = aimed if aimed and draw(st.booleans()) else QUERY_VALUES
        label = draw(st.sampled_from(sorted(table)))
        chosen[name] = (label, table[label])
    query = urlencode({name: value.encode("utf-8", "surrogatepass") for name, (_, value) in chosen.items()})
    label = f"path={path_name} " + " ".join(f"{name}={label}" for name, (label, _) in chosen.items())
    return f"{path}?{query}" if query else path, label


def test_every_query_route_answers_hostile_requests_without_a_5xx(query_world: World) -> None:
    found_before = set(TALLY.findings)
    table = routes(query_world)
    assert len(table) >= 8

    @settings(max_examples=EXAMPLES * 4, deadline=None, database=None, derandomize=DERANDOMIZE,
              suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(table).flatmap(lambda item: st.tuples(st.just(item), requests(item[1]))))
    def run(case: tuple[tuple[str, str], tuple[str, str]]) -> None:
        (function, pattern), (url, label) = case
        TALLY.sent[f"{function} GET"] += 1
        problem = None
        try:
            response = query_world.clients[function].get(url)
            response.get_data()  # a streamed answer runs while it is read
            status = response.status_code
        except Exception as error:
            status, problem = 500, f"raised {type(error).__name__}: {str(error)[:120]}"
        TALLY.statuses[status] += 1
        if problem is None and status >= 500:
            problem = f"answered {status}"
        elif problem is None and status == 400:
            answer = response.get_json(silent=True) or {}
            if not (answer.get("error") and answer.get("field")):
                problem = f"400 without a field: {str(answer)[:120]}"
        if problem is not None:
            TALLY.findings[(function, f"GET {pattern}", label, "", problem)] += 1
            if known(function, pattern, problem):
                TALLY.known.add((function, f"GET {pattern}", problem.split(":")[0]))

    run()
    new = [key for key in TALLY.findings if key not in found_before and not known(key[0], key[1][4:], key[4])]
    assert not new, "\n".join(" ".join(key) for key in new[:20])
