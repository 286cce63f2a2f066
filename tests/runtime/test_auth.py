"""Authentication end to end: the ledger and audit functions served by functions-framework with PAYMESH_AUTH_* set,
a real OIDC issuer on 127.0.0.1 (paymesh up's), and real signed tokens, good and bad."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest

from paymesh.local.oidc import Issuer, Signer, new_private_pem, role_subject
from paymesh.samples import body_template
from tests.support.served import Served, serve

AUDIT_SENDER = "system:serviceaccount:paymesh:audit-source-oidc-sources.knative.dev-kafkasource"
LEDGER_SENDER = "system:serviceaccount:paymesh:ledger-source-oidc-sources.knative.dev-kafkasource"
READER, ADMIN = role_subject("reader"), role_subject("admin")


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Issuer]:
    running = Issuer(tmp_path_factory.mktemp("issuer")).start()
    yield running
    running.stop()


def _env(issuer: Issuer, home: Path, function: str, sender: str) -> dict[str, str]:
    env = {"PAYMESH_HOME": str(home), "PAYMESH_AUTH_ISSUER": issuer.url, "PAYMESH_AUTH_SENDERS": sender,
           "PAYMESH_AUTH_READERS": READER, "PAYMESH_AUTH_ADMINS": ADMIN, "PAYMESH_PUBLISHER": "memory",
           # no refetch slack in the test: an unknown key id may fetch the keys again once per 5 s
           "PAYMESH_AUTH_REFETCH_INTERVAL_SECONDS": "5", "PAYMESH_LOG_LEVEL": "INFO"}
    os.environ.pop("DATABASE_URL", None)
    return env


@pytest.fixture(scope="module")
def audit(issuer: Issuer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve("audit", _env(issuer, tmp_path_factory.mktemp("audit"), "audit", AUDIT_SENDER)) as served:
        yield served


@pytest.fixture(scope="module")
def ledger(issuer: Issuer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve("ledger", _env(issuer, tmp_path_factory.mktemp("ledger"), "ledger", LEDGER_SENDER)) as served:
        yield served


def _event() -> tuple[bytes, dict[str, str]]:
    event_type, data = body_template("audit")
    headers = {"ce-specversion": "1.0", "ce-id": str(uuid.uuid4()), "ce-source": "/test/auth", "ce-type": event_type,
               "Content-Type": "application/json"}
    return data.replace("{n}", uuid.uuid4().hex[:8]).encode(), headers


def _post(served: Served, token: str | None) -> httpx.Response:
    body, headers = _event()
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.post(served.url + "/", content=body, headers=headers, timeout=30)


def _get(served: Served, path: str, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return httpx.get(served.url + path, headers=headers, timeout=30)


def _b64(value: bytes) -> str:
    return base64.urlsafe_b64encode(value).rstrip(b"=").decode()


def _claims(issuer: Issuer, subject: str = AUDIT_SENDER, audience: str = "audit", **extra: object) -> dict[str, object]:
    now = int(time.time())
    return {"iss": issuer.url, "sub": subject, "aud": audience, "iat": now, "nbf": now, "exp": now + 600, **extra}


def _unsigned(header: dict[str, object], claims: dict[str, object]) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"


def _assert_401(response: httpx.Response, rule: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="audit"')
    body = response.json()
    assert body["error"] == "unauthorized" and body["field"] == "Authorization" and body["rule"] == rule, body


def test_the_source_subject_delivers_events(issuer: Issuer, audit: Served) -> None:
    response = _post(audit, issuer.signer.token(AUDIT_SENDER, "audit"))
    assert response.status_code in (200, 204), response.text


def test_no_token_is_401_with_a_bearer_challenge(audit: Served) -> None:
    response = _post(audit, None)
    _assert_401(response, "bearer_token_required")
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="audit"'
    _assert_401(_get(audit, "/events", None), "bearer_token_required")
    _assert_401(_get(audit, "/no-such-route", None), "bearer_token_required")  # no route listing for strangers


def test_a_key_the_issuer_does_not_publish_is_401(issuer: Issuer, audit: Served) -> None:
    stranger = Signer(issuer.url, new_private_pem())  # same issuer name, a key of its own
    _assert_401(_post(audit, stranger.token(AUDIT_SENDER, "audit")), "signing_key")
    forged = jwt.encode(_claims(issuer), jwt.PyJWK(  # claims the issuer's key id, signed with another key
        json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(
            jwt.algorithms.RSAAlgorithm(jwt.algorithms.RSAAlgorithm.SHA256).prepare_key(new_private_pem()))),
        algorithm="RS256").key, algorithm="RS256", headers={"kid": issuer.signer.kid})
    _assert_401(_post(audit, forged), "signature")


def test_unknown_key_ids_refetch_the_keys_at_most_once_per_interval(issuer: Issuer, audit: Served) -> None:
    _post(audit, issuer.signer.token(AUDIT_SENDER, "audit"))  # keys cached
    before = issuer.jwks_served
    stranger = Signer(issuer.url, new_private_pem())
    for _ in range(20):
        _assert_401(_post(audit, stranger.token(AUDIT_SENDER, "audit")), "signing_key")
    assert issuer.jwks_served - before <= 2  # gunicorn may run the requests on two workers' caches at most
    for _ in range(20):  # good tokens: verified with the cached keys, no fetch at all
        assert _post(audit, issuer.signer.token(AUDIT_SENDER, "audit")).status_code in (200, 204)
    assert issuer.jwks_served - before <= 2


def test_a_token_for_another_audience_is_401(issuer: Issuer, audit: Served) -> None:
    _assert_401(_post(audit, issuer.signer.token(AUDIT_SENDER, "ledger")), "aud")


def test_an_expired_token_is_401_beyond_the_leeway(issuer: Issuer, audit: Served) -> None:
    _assert_401(_post(audit, issuer.signer.token(AUDIT_SENDER, "audit", ttl_seconds=-120)), "exp")
    # within the 30 s leeway a just-expired token still passes (clocks differ a little)
    assert _post(audit, issuer.signer.token(AUDIT_SENDER, "audit", ttl_seconds=-5)).status_code in (200, 204)


def test_a_token_of_another_issuer_is_401(issuer: Issuer, audit: Served) -> None:
    elsewhere = Signer("https://issuer.example.com", issuer.signer.private_pem)  # even with the right key
    _assert_401(_post(audit, elsewhere.token(AUDIT_SENDER, "audit")), "iss")


def test_alg_none_is_401(issuer: Issuer, audit: Served) -> None:
    token = _unsigned({"alg": "none", "typ": "JWT", "kid": issuer.signer.kid}, _claims(issuer)) + "."
    _assert_401(_post(audit, token), "algorithm")


def test_hs256_keyed_with_the_public_key_is_401(issuer: Issuer, audit: Served) -> None:
    public_pem = jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(issuer.signer.public_jwk)).public_bytes(
        encoding=__import__("cryptography.hazmat.primitives.serialization", fromlist=["Encoding"]).Encoding.PEM,
        format=__import__("cryptography.hazmat.primitives.serialization", fromlist=["x"]).PublicFormat.SubjectPublicKeyInfo)
    for key in (public_pem, json.dumps(issuer.signer.public_jwk).encode()):
        signing_input = _unsigned({"alg": "HS256", "typ": "JWT", "kid": issuer.signer.kid}, _claims(issuer))
        signature = _b64(hmac.new(key, signing_input.encode(), hashlib.sha256).digest())
        _assert_401(_post(audit, f"{signing_input}.{signature}"), "algorithm")


def test_garbage_and_other_schemes_are_401(audit: Served) -> None:
    _assert_401(_post(audit, "not-a-jwt"), "jwt")
    body, headers = _event()
    response = httpx.post(audit.url + "/", content=body, headers={**headers, "Authorization": "Basic dXNlcjpwdw=="})
    _assert_401(response, "bearer_token")


def test_a_reader_may_not_post_events(issuer: Issuer, audit: Served) -> None:
    response = _post(audit, issuer.signer.token(READER, "audit"))
    assert response.status_code == 403, response.text
    assert response.json()["rule"] == "senders" and "WWW-Authenticate" not in response.headers


def test_a_sender_may_not_read_balances(issuer: Issuer, ledger: Served) -> None:
    response = _get(ledger, "/accounts/merchant:mer_x/balances", issuer.signer.token(LEDGER_SENDER, "ledger"))
    assert response.status_code == 403, response.text
    assert response.json()["rule"] == "readers"


def test_readers_and_admins_read(issuer: Issuer, ledger: Served, audit: Served) -> None:
    for subject in (READER, ADMIN):
        assert _get(ledger, "/trial-balance", issuer.signer.token(subject, "ledger")).status_code == 200
        assert _get(audit, "/events", issuer.signer.token(subject, ["ledger", "audit"])).status_code == 200


def test_probes_stay_open_and_ready_says_auth_is_on(audit: Served) -> None:
    for path in ("/health", "/live", "/ready", "/metrics"):
        assert _get(audit, path, None).status_code == 200, path
    assert _get(audit, "/ready", None).json()["auth"] == "on"
    assert "paymesh_auth_rejected_total" in _get(audit, "/metrics", None).text


def test_refusals_never_echo_the_token(issuer: Issuer, audit: Served) -> None:
    token = issuer.signer.token(AUDIT_SENDER, "ledger")
    response = _post(audit, token)
    assert response.status_code == 401
    assert token not in response.text and token.split(".")[2] not in response.headers["WWW-Authenticate"]
