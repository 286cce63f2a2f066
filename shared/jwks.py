"""The issuer's signing keys: found through OIDC discovery, cached, fetched again on an unknown key id (at most once
per refetch interval, so tokens with made-up key ids cannot make a function hammer its issuer) or once too old.

Verifying a token never waits on the network while the cached keys answer; only a refresh does, under a lock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shared.config import check_auth_url
from shared.errors import TransientError

log = logging.getLogger("paymesh.auth")

FETCH_TIMEOUT_SECONDS = 5.0
# With no keys at all every request fails anyway: try again sooner than the refetch interval, still not per request.
NO_KEYS_RETRY_SECONDS = 1.0

Fetch = Callable[[str], Any]


class UnknownKeyError(LookupError):
    """No key of the issuer has the token's key id (and algorithm)."""


def http_fetch(ca_file: Path | None, bearer_file: Path | None = None) -> Fetch:
    def fetch(url: str) -> Any:
        import httpx

        headers = {"Accept": "application/json"}
        if bearer_file is not None:  # read each time: the kubelet rotates a projected token
            headers["Authorization"] = "Bearer " + bearer_file.read_text().strip()
        response = httpx.get(url, timeout=FETCH_TIMEOUT_SECONDS, verify=str(ca_file) if ca_file else True,
                             follow_redirects=False, headers=headers)
        response.raise_for_status()
        return response.json()

    return fetch


class KeySet:
    def __init__(self, issuer: str, jwks_url: str | None, fetch: Fetch, *, max_age_seconds: float = 3600.0,
                 refetch_interval_seconds: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.issuer = issuer
        self.jwks_url = jwks_url
        self._fetch = fetch
        self._max_age = max_age_seconds
        self._interval = refetch_interval_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._jwks: list[dict[str, Any]] | None = None
        self._fetched_at = 0.0
        self._attempted_at: float | None = None
        self._prepared: dict[tuple[str | None, str], Any] = {}
        self.fetches = 0  # how many times the key set was fetched (tests, metrics)

    def key(self, kid: str | None, alg: str) -> Any:
        """The verification key for a token's header; UnknownKeyError, or TransientError while no keys can be had."""
        prepared = self._prepared.get((kid, alg))
        if prepared is not None and self._clock() - self._fetched_at <= self._max_age:
            return prepared
        with self._lock:
            now = self._clock()
            if self._jwks is None or now - self._fetched_at > self._max_age:
                self._refresh(now)
            found = self._find(kid, alg)
            if found is None and self._may_refetch(now):
                self._refresh(now)
                found = self._find(kid, alg)
            if found is None:
                raise UnknownKeyError(kid)
            return found

    def _may_refetch(self, now: float) -> bool:
        return self._attempted_at is None or now - self._attempted_at >= self._interval

    def _refresh(self, now: float) -> None:
        if self._attempted_at is not None:
            wait = NO_KEYS_RETRY_SECONDS if self._jwks is None else self._interval
            if now - self._attempted_at < wait:
                if self._jwks is None:
                    raise TransientError("the token issuer's keys are not available yet")
                return
        self._attempted_at = now
        try:
            jwks = self._download()
        except Exception as error:
            if self._jwks is None:
                log.warning("cannot fetch the token issuer's keys: %s", type(error).__name__)
                raise TransientError("the token issuer's keys are not available") from None
            log.warning("cannot refresh the token issuer's keys (%s); keeping the cached ones", type(error).__name__)
            return
        self._jwks, self._fetched_at, self._prepared = jwks, now, {}
        self.fetches += 1

    def _download(self) -> list[dict[str, Any]]:
        url = self.jwks_url
        if url is None:
            discovery = self._fetch(self.issuer.rstrip("/") + "/.well-known/openid-configuration")
            if not isinstance(discovery, dict) or discovery.get("issuer") != self.issuer:
                raise ValueError("the discovery document names another issuer")
            url = check_auth_url(str(discovery.get("jwks_uri")))
        document = self._fetch(url)
        keys = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(keys, list):
            raise ValueError("the JWKS has no keys list")
        return [key for key in keys if isinstance(key, dict) and key.get("use", "sig") == "sig"]

    def _find(self, kid: str | None, alg: str) -> Any:
        import jwt

        assert self._jwks is not None
        if kid is None:  # a token without a key id is only accepted from an issuer with a single key
            candidates = self._jwks if len(self._jwks) == 1 else []
        else:
            candidates = [key for key in self._jwks if key.get("kid") == kid]
        for jwk in candidates:
            if jwk.get("alg", alg) != alg:
                continue
            try:
                prepared = jwt.PyJWK(jwk, algorithm=alg).key
            except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
                continue  # e.g. an EC key for an RS256 token: never verified with a key of another type
            self._prepared[(kid, alg)] = prepared
            return prepared
        return None
