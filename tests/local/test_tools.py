"""The local tools people run: `paymesh send` checks data against the catalog, a local set listens on
127.0.0.1 on ports one can choose, and `paymesh up` prints balances and warnings as a person reads them."""

from __future__ import annotations

import io
import json
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from paymesh.cli import app as cli
from paymesh.local.cli import log_through
from paymesh.local.demo import _balances, normal_side
from paymesh.local.ports import free_port
from paymesh.local.send import load_data, validate_data
from paymesh.local.supervisor import PORTS, Supervisor, ports_from

ROOT = Path(__file__).resolve().parents[2]
PAYMENT = {"paymentId": "pay_42", "customerId": "cus_1", "merchantId": "mer_1", "amount": "12.00",
           "currency": "EUR", "method": {"type": "card", "token": "tok_visa"}}


@pytest.mark.parametrize(("change", "field"), [
    ({"amount": "1e999999"}, "data.amount"), ({"currency": "EURO"}, "data.currency"),
    ({"paymentId": ""}, "data.paymentId"), ({"method": {"type": "cash", "token": "t"}}, "data.method.type"),
])
def test_send_refuses_data_the_catalog_refuses(tmp_path: Path, change: dict[str, object], field: str) -> None:
    # An unreachable broker: were the data not checked first, send would try (and say "sent" or hang).
    result = CliRunner().invoke(cli, ["send", "payments.payment-requested", "--data", json.dumps({**PAYMENT, **change}),
                                      "--bootstrap", "127.0.0.1:1", "--home", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert field in result.output and "sent" not in result.output


def test_send_reads_json_numbers_as_exact_amounts() -> None:
    data = load_data('{"paymentId": "p", "customerId": "c", "merchantId": "m", "amount": 12.34, "currency": "EUR", '
                     '"method": {"type": "card", "token": "t"}}')
    validate_data("payments.payment-requested", data)
    with pytest.raises(ValueError, match="unknown event type"):
        validate_data("payments.nope", data)


def test_ports_can_be_chosen() -> None:
    assert ports_from(PORTS["payments"]) == PORTS
    assert ports_from(9081) == {"payments": 9081, "ledger": 9082, "notifications": 9083, "audit": 9084}


def listening_addresses(port: int) -> set[str]:
    """Local addresses (hex, as /proc/net/tcp writes them) with a socket listening on `port`."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].split(":")
            if int(hex_port, 16) == port and fields[3] == "0A":
                found.add(address)
    return found


@pytest.fixture
def supervisor(tmp_path: Path) -> Iterator[Supervisor]:
    running = Supervisor(ROOT, tmp_path, {"PAYMESH_PUBLISHER": "log"}, ports={"audit": free_port()})
    try:
        yield running
    finally:
        running.stop_all(timeout=10)


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads the kernel's socket table")
def test_functions_listen_on_loopback_only(supervisor: Supervisor) -> None:
    supervisor.start("audit")
    supervisor.wait_ready(timeout=60)
    assert listening_addresses(supervisor.ports["audit"]) == {"0100007F"}  # 127.0.0.1, not 0.0.0.0


@pytest.mark.parametrize(("amount", "kind", "shown"), [
    ("-48.20", "liability", "48.20"), ("-1.70", "revenue", "1.70"), ("12.00", "liability", "-12.00"),
    ("-5.00", "asset", "-5.00"), ("0.00", "equity", "0.00"), ("-0.00", "liability", "0.00")])
def test_balances_show_on_the_normal_side(amount: str, kind: str, shown: str) -> None:
    assert normal_side(amount, kind) == shown


def test_the_demo_prints_what_we_owe_a_merchant_as_positive() -> None:
    answer = {"account": "merchant:mer_1", "type": "liability",
              "balances": [{"currency": "EUR", "posted": "-48.20", "pending": "-48.20"}]}
    assert _balances(answer) == "EUR 48.20"


def test_warnings_go_through_the_console_of_the_live_table(capsys: pytest.CaptureFixture[str]) -> None:
    screen = io.StringIO()
    log_through(Console(file=screen, width=120, emoji=False))
    try:
        logging.getLogger("kafka.conn").warning("broker went away")
        warnings.warn("an old API", DeprecationWarning, stacklevel=1)
    finally:
        logging.captureWarnings(False)
        logging.basicConfig(force=True, handlers=[logging.NullHandler()])
    assert "broker went away" in screen.getvalue() and "an old API" in screen.getvalue()
    err = capsys.readouterr().err
    assert "broker went away" not in err and "an old API" not in err
