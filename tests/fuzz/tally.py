"""What a fuzz run sent and found, printed at the end of the session (tests/fuzz/conftest.py)."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field

# Examples per (function, consumed type) and per function's query routes: a few seconds each in `make test`;
# `make fuzz` raises it.
EXAMPLES = int(os.environ.get("PAYMESH_FUZZ_EXAMPLES", "60"))
BACKENDS = tuple(os.environ.get("PAYMESH_FUZZ_BACKENDS", "sqlite").split(","))


@dataclass
class Tally:
    sent: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    # (function, type or route, where, what, problem) -> times seen
    findings: Counter[tuple[str, str, str, str, str]] = field(default_factory=Counter)

    def lines(self) -> list[str]:
        out = [f"fuzz: {sum(self.sent.values())} requests sent "
               f"({', '.join(f'{name} {count}' for name, count in sorted(self.sent.items()))})",
               "fuzz: statuses " + ", ".join(f"{status}: {count}" for status, count in sorted(self.statuses.items()))]
        if not self.findings:
            out.append("fuzz: nothing found (no 5xx, no side effect before a 4xx, every 4xx names its field)")
        for (function, target, where, what, problem), count in sorted(self.findings.items()):
            out.append(f"fuzz: FOUND {function} {target} {where} <- {what}: {problem} (x{count})")
        return out


TALLY = Tally()
