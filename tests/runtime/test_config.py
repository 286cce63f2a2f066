from __future__ import annotations

import os
import subprocess
import sys

import pytest

from shared.config import RuntimeSettings, load_settings
from shared.publish import KafkaSinkPublisher, LogPublisher, build_publisher


def test_bad_variable_stops_with_one_line_naming_it(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PAYMESH_BODY_BYTES_MAX", "lots")
    with pytest.raises(SystemExit) as stop:
        load_settings(RuntimeSettings)
    assert stop.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("paymesh: configuration error: PAYMESH_BODY_BYTES_MAX:")
    assert "'lots'" in lines[0]


def test_aliased_variable_is_named_as_the_user_sets_it(monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PAYMESH_PUBLISHER", "carrier-pigeon")
    with pytest.raises(SystemExit):
        load_settings(RuntimeSettings)
    assert "PAYMESH_PUBLISHER" in capsys.readouterr().err


def test_function_refuses_to_start_on_bad_config() -> None:
    env = {**os.environ, "PAYMESH_BODY_BYTES_MAX": "-5", "PAYMESH_HOME": "/tmp/paymesh-config-test"}
    result = subprocess.run([sys.executable, "-c", "import shared.config as c; c.load_settings(c.RuntimeSettings)"],
                            env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("paymesh: configuration error: PAYMESH_BODY_BYTES_MAX:")


def test_publisher_choice_follows_configuration() -> None:
    outputs = {"payments.payment-processed"}
    assert isinstance(build_publisher(RuntimeSettings(), outputs, environ={}), LogPublisher)
    sink = {"PAYMESH_SINK_PAYMENTS_PAYMENT_PROCESSED": "http://sink.local/ns/s"}
    publisher = build_publisher(RuntimeSettings(), outputs, environ=sink)
    assert isinstance(publisher, KafkaSinkPublisher)
    assert publisher.sinks == {"payments.payment-processed": "http://sink.local/ns/s"}


def test_kafkasink_without_a_sink_for_an_output_names_the_missing_variable() -> None:
    with pytest.raises(ValueError, match="PAYMESH_SINK_AUDIT_PAYMENT_EVENTS"):
        build_publisher(RuntimeSettings(publisher="kafkasink"), {"audit.payment-events"},
                        environ={"PAYMESH_SINK_OTHER": "http://x/ns/y"})
