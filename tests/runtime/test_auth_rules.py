"""The parts of authentication that need no served function: the key cache and its refetch limit, the roles routes
need, start-up validation of PAYMESH_AUTH_*, and a function with authentication off."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from paymesh.local.oidc import Issuer, Signer, new_private_pem
from shared.auth import Authenticator, Policy, from_settings, required_role
from shared.config import RuntimeSettings
from shared.contract import FunctionSpec, Query, Reply, Route
from shared.errors import EventError, TransientError
from shared.jwks import KeySet, UnknownKeyError
from tests.support import build_app, flask_client, temporary_store

ISSUER = "https://issuer.test"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class FakeIssuer:
    """Serves a discovery document and a JWKS from memory, counting fetches (the network is covered in test_auth)."""

    signer: Signer
    fail: bool = False
    fetched: int = 0

    def __call__(self, url: str) -> Any:
        if self.fail:
            raise OSError("connection refused")
        if url.endswith("/.well-known/openid-configuration"):
            return {"issuer": ISSUER, "jwks_uri": ISSUER + "/keys"}
        self.fetched += 1
        return {"keys": [self.signer.public_jwk]}


@pytest.fixture
def fake() -> FakeIssuer:
    return FakeIssuer(Signer(ISSUER, new_private_pem()))


def test_keys_are_fetched_once_and_unknown_ids_refetch_at_most_once_per_interval(fake: FakeIssuer) -> None:
    clock = Clock()
    keys = KeySet(ISSUER, None, fake, refetch_interval_seconds=30, clock=clock)
    for _ in range(100):
        assert keys.key(fake.signer.kid, "RS256") is not None
    assert fake.fetched == 1
    clock.now += 31
    for _ in range(100):
        with pytest.raises(UnknownKeyError):
            keys.key("made-up", "RS256")
    assert fake.fetched == 2  # one refetch for the first unknown id, none for the other 99
    rotated = Signer(ISSUER, new_private_pem())
    fake.signer = rotated
    clock.now += 31
    assert keys.key(rotated.kid, "RS256") is not None  # a rotated key is found by the refetch
    assert fake.fetched == 3


def test_a_key_is_never_used_for_another_algorithm(fake: FakeIssuer) -> None:
    keys = KeySet(ISSUER, None, fake, clock=Clock())
    for alg in ("ES256", "HS256", "EdDSA"):
        with pytest.raises(UnknownKeyError):
            keys.key(fake.signer.kid, alg)


def test_stale_keys_are_refreshed_and_kept_when_the_issuer_is_down(fake: FakeIssuer) -> None:
    clock = Clock()
    keys = KeySet(ISSUER, None, fake, max_age_seconds=60, clock=clock)
    keys.key(fake.signer.kid, "RS256")
    clock.now += 61
    fake.fail = True
    assert keys.key(fake.signer.kid, "RS256") is not None  # the cached keys still verify
    fake.fail = False
    clock.now += 31
    keys.key(fake.signer.kid, "RS256")
    assert fake.fetched == 2


def test_no_keys_at_all_is_transient(fake: FakeIssuer) -> None:
    fake.fail = True
    keys = KeySet(ISSUER, None, fake, clock=Clock())
    with pytest.raises(TransientError):
        keys.key(fake.signer.kid, "RS256")


def test_a_discovery_document_of_another_issuer_is_refused(fake: FakeIssuer) -> None:
    keys = KeySet("https://other.test", None, fake, clock=Clock())
    with pytest.raises(TransientError):
        keys.key(fake.signer.kid, "RS256")
    assert fake.fetched == 0


@pytest.mark.parametrize(("method", "declared", "role"), [
    ("GET", None, "reader"), ("GET", "reader", "reader"), ("GET", "admin", "admin"),
    ("POST", None, "admin"), ("POST", "reader", "admin"), ("DELETE", None, "admin"), ("PUT", "sender", "admin"),
])
def test_the_role_a_route_needs(method: str, declared: str | None, role: str) -> None:
    assert required_role(method, declared) == role


@dataclass(frozen=True, slots=True)
class AdminRoute(Route):
    """A GET route declaring the admin role, as the contract's Route may once it has a `role` field."""

    role: str = "admin"


def _reply(_: Query) -> Reply:
    return Reply({"ok": True})


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[tuple[Any, Issuer]]:
    issuer = Issuer(tmp_path / "issuer").start()
    spec = FunctionSpec(name="probe", outputs=frozenset())
    spec.get("/open", _reply)
    spec.routes.append(AdminRoute("GET", "/admin-only", _reply))
    policy = Policy(issuer.url, "probe", {"sender": frozenset({"src"}), "reader": frozenset({"reader"}),
                                         "admin": frozenset({"admin"})})
    from shared.jwks import http_fetch

    auth = Authenticator(policy, KeySet(issuer.url, None, http_fetch(None)))
    with temporary_store("sqlite", "probe", None, tmp_path) as store:
        app = build_app(spec, store)
        app.auth = auth
        yield flask_client(app), issuer
    issuer.stop()


def test_a_declared_admin_route_refuses_readers(guarded: tuple[Any, Issuer]) -> None:
    client, issuer = guarded

    def get(path: str, subject: str) -> int:
        token = issuer.signer.token(subject, "probe")
        return int(client.get(path, headers={"Authorization": f"Bearer {token}"}).status_code)

    assert (get("/open", "reader"), get("/open", "admin")) == (200, 200)
    assert (get("/admin-only", "reader"), get("/admin-only", "admin")) == (403, 200)
    assert get("/open", "src") == 403
    token = issuer.signer.token("admin", "probe")
    assert client.post("/open", headers={"Authorization": f"Bearer {token}"}).status_code == 404  # admin, no route
    reader = issuer.signer.token("reader", "probe")
    assert client.delete("/anything", headers={"Authorization": f"Bearer {reader}"}).status_code == 403
    assert client.put("/", headers={"Authorization": f"Bearer {reader}"}).status_code == 403
    assert client.get("/", headers={"Authorization": f"Bearer {reader}"}).status_code == 200
    assert client.post("/", headers={"Authorization": f"Bearer {reader}"}).status_code == 403  # events: senders only


def test_authentication_off_is_said_once_and_in_ready(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="paymesh.auth"):
        assert from_settings(RuntimeSettings(), "probe") is None
    assert [record.getMessage() for record in caplog.records if "authentication is off" in record.getMessage()]
    spec = FunctionSpec(name="probe", outputs=frozenset())
    with temporary_store("sqlite", "probe", None, tmp_path) as store:
        client = flask_client(build_app(spec, store))
        assert client.get("/ready").get_json()["auth"].startswith("off")


@pytest.mark.parametrize(("env", "variable"), [
    ({"PAYMESH_AUTH_ISSUER": "http://issuer.example.com", "PAYMESH_AUTH_SENDERS": "a"}, "PAYMESH_AUTH_ISSUER"),
    ({"PAYMESH_AUTH_ISSUER": "https://issuer.example.com"}, "PAYMESH_AUTH_SENDERS"),
    ({"PAYMESH_AUTH_ISSUER": "https://issuer.example.com", "PAYMESH_AUTH_SENDERS": " , "}, "PAYMESH_AUTH_SENDERS"),
    ({"PAYMESH_AUTH_JWKS_URL": "ftp://keys.example.com"}, "PAYMESH_AUTH_JWKS_URL"),
    ({"PAYMESH_AUTH_LEEWAY_SECONDS": "3600"}, "PAYMESH_AUTH_LEEWAY_SECONDS"),
])
def test_bad_auth_settings_stop_the_start_with_one_line_naming_them(env: dict[str, str], variable: str) -> None:
    import os

    clean = {key: value for key, value in os.environ.items() if not key.startswith("PAYMESH_AUTH_")}
    result = subprocess.run([sys.executable, "-c", "import shared.config as c; c.load_settings(c.RuntimeSettings)"],
                            env={**clean, **env, "PAYMESH_HOME": "/tmp/paymesh-auth-config-test"},
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"paymesh: configuration error: {variable}:"), lines


def test_a_verified_token_is_remembered_only_until_it_expires(fake: FakeIssuer) -> None:
    policy = Policy(ISSUER, "probe", {"sender": frozenset({"src"}), "reader": frozenset(), "admin": frozenset()})
    auth = Authenticator(policy, KeySet(ISSUER, None, fake), leeway_seconds=0)
    token = fake.signer.token("src", "probe", ttl_seconds=1)
    assert auth.subject(f"Bearer {token}") == "src"
    assert auth.subject(f"Bearer {token}") == "src"
    time.sleep(2.1)
    with pytest.raises(EventError) as refused:
        auth.subject(f"Bearer {token}")
    assert refused.value.status == 401 and refused.value.problems[0].rule == "exp"
    other = Signer(ISSUER, new_private_pem()).token("src", "probe")  # a remembered digest is per token
    with pytest.raises(EventError):
        auth.subject(f"Bearer {other}")
