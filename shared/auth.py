"""Who may call a function: the bearer token Knative Eventing's authentication-oidc attaches (a JWT issued by the
cluster to the source's own service account, for the sink's audience), verified against the issuer's keys, and its
subject checked against the allow-list of the role the request needs.

The JWT library is imported only once a token is verified, so a function with authentication off never loads it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from prometheus_client import Counter

from shared.config import RuntimeSettings, subjects
from shared.errors import EventError
from shared.jwks import KeySet, UnknownKeyError, http_fetch

log = logging.getLogger("paymesh.auth")

Role = Literal["sender", "reader", "admin"]
ROLES: tuple[Role, ...] = ("sender", "reader", "admin")
# Asymmetric algorithms only: never `none`, never an HMAC (whose "secret" would be the issuer's public key).
ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"})
TOKEN_CHARS_MAX = 8192
# Verified tokens remembered (by digest) until they expire: a source reuses its token for most of its life, so the
# signature is checked once per token rather than once per event.
VERIFIED_MAX = 1024
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub"]

AUTH_REJECTED = Counter("paymesh_auth_rejected_total", "Requests refused by authentication (401) or authorization "
                        "(403), by function and rule", ["function", "status", "rule"])


def required_role(method: str, declared: str | None = None) -> Role:
    """The role a route needs: any non-GET route is administrative whatever it declares; a GET route needs a reader
    unless it declares `admin`."""
    if method not in {"GET", "HEAD"}:
        return "admin"
    return "admin" if declared == "admin" else "reader"


def unauthorized(rule: str, message: str) -> EventError:
    return EventError.field(401, "unauthorized", "Authorization", rule, message)


def challenge(realm: str, error: EventError) -> str:
    """The WWW-Authenticate value of a 401 (RFC 6750): no error code when no token was sent at all."""
    if error.problems and error.problems[0].rule == "bearer_token_required":
        return f'Bearer realm="{realm}"'
    description = error.message.replace('"', "'")
    return f'Bearer realm="{realm}", error="invalid_token", error_description="{description}"'


@dataclass(frozen=True)
class Policy:
    issuer: str
    audience: str
    allowed: Mapping[Role, frozenset[str]]

    def allows(self, subject: str, role: Role) -> bool:
        if role == "reader":  # admins may read too
            return subject in self.allowed["reader"] or subject in self.allowed["admin"]
        return subject in self.allowed[role]


class Authenticator:
    def __init__(self, policy: Policy, keys: KeySet, leeway_seconds: float = 30.0) -> None:
        self.policy = policy
        self.keys = keys
        self.leeway_seconds = leeway_seconds
        self._verified: dict[bytes, tuple[str, float]] = {}  # sha256(token) -> (subject, exp)
        self._lock = threading.Lock()

    def subject(self, authorization: str | None) -> str:
        """The verified subject of an `Authorization: Bearer` header; a 401 EventError otherwise."""
        token = _bearer(authorization)
        digest = hashlib.sha256(token.encode()).digest()
        known = self._verified.get(digest)
        if known is not None and time.time() <= known[1] + self.leeway_seconds:
            return known[0]
        subject, expires = self._verify(token)
        with self._lock:
            if len(self._verified) >= VERIFIED_MAX:
                self._verified.clear()
            self._verified[digest] = (subject, expires)
        return subject

    def _verify(self, token: str) -> tuple[str, float]:
        import jwt

        header = _header(token)
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in ALGORITHMS:
            raise unauthorized("algorithm", f"tokens must be signed with one of {', '.join(sorted(ALGORITHMS))}")
        if kid is not None and not isinstance(kid, str):
            raise unauthorized("kid", "the token's key id must be a string")
        try:
            key = self.keys.key(kid, alg)
        except UnknownKeyError:
            raise unauthorized("signing_key", "the token is not signed with a key of the issuer") from None
        claims = self._decode(jwt, token, key, alg)
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise unauthorized("sub", "the token has no subject")
        return subject, float(claims["exp"])

    def _decode(self, jwt: Any, token: str, key: Any, alg: str) -> dict[str, Any]:
        policy = self.policy
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=[alg], audience=policy.audience, issuer=policy.issuer,
                leeway=self.leeway_seconds, options={"require": REQUIRED_CLAIMS, "verify_signature": True})
        except jwt.ExpiredSignatureError:
            raise unauthorized("exp", "the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise unauthorized("nbf", "the token is not valid yet") from None
        except jwt.InvalidAudienceError:
            raise unauthorized("aud", f"the token is not for audience {policy.audience!r}") from None
        except jwt.InvalidIssuerError:
            raise unauthorized("iss", "the token is from another issuer") from None
        except jwt.MissingRequiredClaimError as error:
            raise unauthorized("required_claims", f"the token has no {error.claim!r} claim") from None
        except jwt.InvalidSignatureError:
            raise unauthorized("signature", "the token's signature does not verify") from None
        except jwt.InvalidTokenError:
            raise unauthorized("jwt", "the bearer token is not a valid JWT") from None
        return claims

    def authorize(self, subject: str, role: Role, what: str) -> None:
        if not self.policy.allows(subject, role):
            raise EventError.field(403, "forbidden", "sub", f"{role}s",
                                   f"subject {subject!r} may not {what} (not among the {role}s)")


def _header(token: str) -> dict[str, Any]:
    """The JOSE header, read without verifying (it only picks the key; the signature is checked after)."""
    segment = token.split(".", 1)[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, binascii.Error):
        raise unauthorized("jwt", "the bearer token is not a JWT") from None
    if not isinstance(header, dict) or token.count(".") != 2:
        raise unauthorized("jwt", "the bearer token is not a JWT")
    return header


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise unauthorized("bearer_token_required", "an Authorization: Bearer token is required")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise unauthorized("bearer_token", "the Authorization header must be `Bearer <token>`")
    if len(token) > TOKEN_CHARS_MAX:
        raise unauthorized("bearer_token", f"the bearer token must be at most {TOKEN_CHARS_MAX} characters")
    return token


def from_settings(settings: RuntimeSettings, function: str) -> Authenticator | None:
    """The function's authenticator, or None (said once in the log) when no issuer is configured."""
    if settings.auth_issuer is None:
        log.warning("authentication is off: PAYMESH_AUTH_ISSUER is not set, so anyone who can reach %s may call "
                    "it", function, extra={"function": function, "auth": "off"})
        return None
    allowed: dict[Role, frozenset[str]] = {
        "sender": subjects(settings.auth_senders), "reader": subjects(settings.auth_readers),
        "admin": subjects(settings.auth_admins)}
    policy = Policy(settings.auth_issuer, settings.auth_audience or function, allowed)
    import jwt  # noqa: F401 (loaded now, at start-up, rather than in the first request after a scale from zero)

    fetch = http_fetch(settings.auth_ca_file, settings.auth_fetch_bearer_file)
    keys = KeySet(settings.auth_issuer, settings.auth_jwks_url, fetch,
                  max_age_seconds=settings.auth_keys_max_age_seconds,
                  refetch_interval_seconds=settings.auth_refetch_interval_seconds)
    log.info("authentication is on", extra={"function": function, "auth": "on", "issuer": policy.issuer,
                                            "audience": policy.audience,
                                            **{f"{role}s": len(names) for role, names in allowed.items()}})
    return Authenticator(policy, keys, settings.auth_leeway_seconds)
