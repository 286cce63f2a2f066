"""The local OIDC issuer of `paymesh up` and the dispatchers' tokens: what Knative's authentication-oidc does with the
same manifests (a token for the sink's audience, issued to the source's own service account, sent with every try)."""

from __future__ import annotations

import dataclasses
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import jwt
import pytest

from paymesh.local import access
from paymesh.local.dispatcher import Sender, record_to_event
from paymesh.local.oidc import KEY_FILE, Issuer, source_account
from paymesh.local.topology import Delivery, load
from tests.local.test_dispatcher_rules import SOURCE, Record
from tests.support.http_recorder import recording_server

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def issuer(tmp_path: Path) -> Iterator[Issuer]:
    running = Issuer(tmp_path).start()
    yield running
    running.stop()


def test_the_issuer_publishes_discovery_and_keys_that_verify_its_tokens(issuer: Issuer) -> None:
    discovery = httpx.get(f"{issuer.url}/.well-known/openid-configuration").json()
    assert discovery["issuer"] == issuer.url
    keys = httpx.get(discovery["jwks_uri"]).json()["keys"]
    assert [key["kid"] for key in keys] == [issuer.signer.kid] and "d" not in keys[0]  # public parts only
    token = issuer.token("system:serviceaccount:paymesh:x", "ledger")
    claims = jwt.decode(token, jwt.PyJWK(keys[0]).key, algorithms=["RS256"], audience="ledger", issuer=issuer.url)
    assert claims["sub"] == "system:serviceaccount:paymesh:x"
    assert issuer.token("system:serviceaccount:paymesh:x", "ledger") == token  # cached, as Knative caches them


def test_the_signing_key_file_is_private_and_removed_at_stop(tmp_path: Path) -> None:
    running = Issuer(tmp_path).start()
    mode = stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode)
    assert mode == 0o600
    assert repr(running.signer).count("PRIVATE") == 0
    running.stop()
    assert not (tmp_path / KEY_FILE).exists()


def test_each_source_gets_its_knative_service_account_and_its_sink_audience() -> None:
    topology = load(ROOT / "eventing")
    payments = next(source for source in topology.sources if source.sink == "payments")
    assert payments.audience == "payments"
    assert access.source_subject(payments) == \
        "system:serviceaccount:paymesh:payments-source-oidc-sources.knative.dev-kafkasource"
    environment = access.function_environment(topology, "http://127.0.0.1:1", ["payments", "ledger"])
    assert environment["ledger"]["PAYMESH_AUTH_SENDERS"] == \
        "system:serviceaccount:paymesh:ledger-source-oidc-sources.knative.dev-kafkasource"
    with pytest.raises(ValueError, match="shorter name"):
        source_account("KafkaSource", "a-source-name-long-enough-to-be-hashed-by-knative")


def test_the_dispatcher_sends_the_token_on_every_try_and_none_without_an_audience(issuer: Issuer) -> None:
    tokens = access.source_tokens(issuer)
    with_audience = tokens(dataclasses.replace(SOURCE, audience="payments"))
    assert tokens(SOURCE) is None  # no sink.audience: Knative sends no token (the function answers 401)
    assert with_audience is not None
    with recording_server(default_status=200) as function, httpx.Client() as client:
        function.statuses = [503]
        sender = Sender(client, Delivery(retry=2, backoff_delay=0.001))
        outcome = sender.send(function.url + "/", record_to_event(Record(), SOURCE), with_audience)
        dead = sender.send(function.url + "/dead", record_to_event(Record(), SOURCE))
    assert outcome is not None and outcome.ok
    sent = [request.headers.get("Authorization") for request in function.requests]
    assert sent[:2] == [f"Bearer {with_audience()}"] * 2 and sent[2] is None  # the dead-letter sink gets none
    assert dead is not None
    claims = jwt.decode(with_audience(), options={"verify_signature": False})
    assert (claims["aud"], claims["sub"]) == ("payments", access.source_subject(SOURCE))


def test_a_ping_source_is_a_sender_of_its_service_and_its_ticks_carry_its_token(issuer: Issuer) -> None:
    from paymesh.local.pings import PingRunner, load_pings

    topology = load(ROOT / "eventing")
    [ping] = [p for p in load_pings(ROOT / "eventing") if p.name == "notifications-ticks"]
    subject = "system:serviceaccount:paymesh:notifications-ticks-oidc-sources.knative.dev-pingsource"
    assert access.source_subject(ping) == subject and ping.audience == "notifications"
    environment = access.function_environment(topology, "http://127.0.0.1:1", ["notifications"], [ping])
    assert subject in environment["notifications"]["PAYMESH_AUTH_SENDERS"].split(",")
    with recording_server(default_status=204) as function:
        runner = PingRunner([ping], {"notifications": function.url}, tokens=access.source_tokens(issuer))
        runner.fire(ping, datetime.now(UTC))
        runner.stop()
    [request] = function.requests
    token = request.headers["Authorization"].removeprefix("Bearer ")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["aud"], claims["sub"]) == ("notifications", subject)
