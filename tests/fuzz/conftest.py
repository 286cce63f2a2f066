from __future__ import annotations

import pytest

from tests.fuzz.tally import TALLY


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TALLY.sent:
        for line in TALLY.lines():
            terminalreporter.write_line(line)
