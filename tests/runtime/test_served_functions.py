"""Each function started with functions-framework, as a user would, answers CloudEvents over real HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from paymesh.local.ports import free_port, ready
from paymesh.samples import body_template
from tests.support.http_recorder import Recorder, recording_server

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS_FRAMEWORK = Path(sys.executable).parent / "functions-framework"
EXPECTED_REPLY = {
    "payments": "payments.payment-processed",
    "ledger": "ledger.balance-updated",
    "notifications": "notifications.notification-sent",
    "audit": None,  # storing an audit event causes no outcome unless a compliance rule fires
}


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers.items()), error.read()


@pytest.fixture(scope="module")
def webhook() -> Iterator[Recorder]:
    with recording_server(default_status=204) as recorder:
        yield recorder


@pytest.fixture(scope="module", params=list(EXPECTED_REPLY))
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
           webhook: Recorder) -> Iterator[tuple[str, str]]:
    function: str = request.param
    port = free_port()
    env = {**os.environ, "PAYMESH_HOME": str(tmp_path_factory.mktemp(function)),
           "PAYMESH_NOTIFICATIONS_WEBHOOK_ALLOW_HOSTS": "127.0.0.1",
           "PAYMESH_NOTIFICATIONS_WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
    env.pop("DATABASE_URL", None)
    process = subprocess.Popen(
        [str(FUNCTIONS_FRAMEWORK), "--source", str(ROOT / "functions" / function / "main.py"),
         "--target", "handle", "--port", str(port)], env=env, cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while not ready(url + "/ready"):
        if process.poll() is not None:
            pytest.fail(f"{function} exited: {process.stderr.read().decode() if process.stderr else ''}")
        if time.time() > deadline:
            process.kill()
            pytest.fail(f"{function} not ready in 60 s")
        time.sleep(0.05)
    yield function, url
    process.terminate()
    process.wait(timeout=20)


def test_valid_event_gets_the_documented_reply(served: tuple[str, str], webhook: Recorder) -> None:
    function, url = served
    event_type, body = body_template(function, webhook.url + "/hook")
    headers = {"ce-specversion": "1.0", "ce-id": f"curl-{function}", "ce-source": "/curl",
               "ce-type": event_type, "Content-Type": "application/json"}
    status, reply_headers, reply = post(url + "/", body.replace("{n}", "1").encode(), headers)
    expected = EXPECTED_REPLY[function]
    if expected is None:
        assert status == 204, reply
    else:
        assert status == 200, reply
        assert reply_headers["ce-type"] == expected
        assert reply_headers["ce-source"] == f"/paymesh/{function}"
        json.loads(reply)
    again = post(url + "/", body.replace("{n}", "1").encode(), headers)
    assert (again[0], again[2]) == (status, reply)


@pytest.mark.parametrize(("body", "extra_headers", "status"), [
    (b"{not json", {}, 400),
    (b'{"a": 1}', {"ce-type": "com.example.unknown"}, 400),
    (b"<xml/>", {"Content-Type": "application/xml"}, 415),
    (b"{}", {}, 422),
])
def test_malformed_event_gets_a_4xx_json_error(served: tuple[str, str], body: bytes,
                                              extra_headers: dict[str, str], status: int) -> None:
    function, url = served
    event_type, _ = body_template(function)
    headers = {"ce-specversion": "1.0", "ce-id": "bad", "ce-source": "/curl", "ce-type": event_type,
               "Content-Type": "application/json", **extra_headers}
    got, _, reply = post(url + "/", body, headers)
    assert got == status, reply
    error = json.loads(reply)
    assert error["error"] and error["field"]


def test_plain_http_post_without_cloudevent_headers_is_400(served: tuple[str, str]) -> None:
    _, url = served
    got, _, reply = post(url + "/", b'{"amount": 1}', {"Content-Type": "application/json"})
    assert got == 400
    assert json.loads(reply)["field"] == "ce-specversion"
