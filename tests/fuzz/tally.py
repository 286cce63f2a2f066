"""What a fuzz run sent and found, printed at the end of the session (tests/fuzz/conftest.py)."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field

# Examples per (function, consumed type) and per function's query routes: a few seconds each in `make test`;
# `make fuzz` raises it.
EXAMPLES = int(os.environ.get("PAYMESH_FUZZ_EXAMPLES", "40"))
BACKENDS = tuple(os.environ.get("PAYMESH_FUZZ_BACKENDS", "sqlite").split(","))
# The bounded run is the same every time (a failure in `make test` reproduces); `make fuzz` explores afresh.
DERANDOMIZE = os.environ.get("PAYMESH_FUZZ_RANDOM") != "1"


# Function-specific findings the shared layer cannot fix, owned by the function's helper: reported in the
# summary, not failed on. (function, route or type, start of the problem) -> why it is known.
KNOWN: dict[tuple[str, str, str], str] = {
    ("audit", "/events", "raised OverflowError"):
        "functions/audit/queries.py: decode_cursor does not bound a cursor's sequence to 63 bits (SQLite), and "
        "its own parse_time lets from/to near year 1 or 9999 overflow (shared.contract.parse_time does not)",
    ("audit", "/export", "raised OverflowError"):
        "functions/audit/queries.py: its own parse_time lets from/to near year 1 or 9999 overflow",
    ("ledger", "/accounts/{account}/entries", "raised ValueError"):
        "functions/ledger/queries.py _int_arg: str.isdigit() takes superscript digits (limit=², cursor=²) that "
        "int() refuses; Query.integer reads ASCII digits only",
}


def known(function: str, target: str, problem: str) -> bool:
    return any(function == f and target == t and problem.startswith(p) for f, t, p in KNOWN)


@dataclass
class Tally:
    sent: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    # (function, type or route, where, what, problem) -> times seen
    findings: Counter[tuple[str, str, str, str, str]] = field(default_factory=Counter)
    known: set[tuple[str, str, str]] = field(default_factory=set)

    def lines(self) -> list[str]:
        out = [f"fuzz: {sum(self.sent.values())} requests sent "
               f"({', '.join(f'{name} {count}' for name, count in sorted(self.sent.items()))})",
               "fuzz: statuses " + ", ".join(f"{status}: {count}" for status, count in sorted(self.statuses.items()))]
        if not self.findings:
            out.append("fuzz: nothing found (no 5xx, no side effect before a 4xx, every 4xx names its field)")
        for (function, target, where, what, problem), count in sorted(self.findings.items()):
            mark = "KNOWN" if known(function, target.removeprefix("GET "), problem) else "FOUND"
            out.append(f"fuzz: {mark} {function} {target} {where} <- {what}: {problem} (x{count})")
        for function, target, problem in sorted(self.known):
            out.append(f"fuzz: known, not fixed here: {function} {target}: "
                       f"{KNOWN[(function, target.removeprefix('GET '), problem)]}")
        return out


TALLY = Tally()
