"""A local OIDC issuer, as a cluster's service-account issuer is to Knative: its own signing key, a discovery document
and a JWKS on 127.0.0.1, and tokens for a subject and an audience (what `kubectl create token SA --audience AUD` and
Knative's authentication-oidc get from the API server). The functions verify them exactly as they do in a cluster.

The private key lives in memory and in PAYMESH_HOME (mode 0600) so `paymesh token` can mint from another process.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

KEY_FILE = "oidc-signing-key.pem"
ALGORITHM = "RS256"
TOKEN_SECONDS = 3600
JWKS_PATH = "/openid/v1/jwks"  # where a Kubernetes API server serves it
NAMESPACE = "paymesh"
SA_NAME_CHARS_MAX = 63
# The service accounts people use for reads and administration (knative/access.yaml creates them in a cluster).
ROLE_ACCOUNTS = {"reader": "paymesh-reader", "admin": "paymesh-admin"}


def service_account_subject(namespace: str, account: str) -> str:
    return f"system:serviceaccount:{namespace}:{account}"


def source_account(kind: str, name: str, group: str = "sources.knative.dev") -> str:
    """The service account Knative Eventing creates for a source's OIDC identity: <name>-oidc-<group>-<kind>."""
    account = f"{name}-oidc-{group}-{kind}".lower()
    if len(account) > SA_NAME_CHARS_MAX:
        raise ValueError(f"{kind} {name}: its OIDC service account name would be hashed by Knative; use a shorter name")
    return account


def role_subject(role: str, namespace: str = NAMESPACE) -> str:
    return service_account_subject(namespace, ROLE_ACCOUNTS[role])


def _load_key(pem: bytes) -> Any:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    return load_pem_private_key(pem, password=None)


def key_id(public_jwk: dict[str, Any]) -> str:
    """The RFC 7638 thumbprint of the public key, as the key id."""
    import base64
    import hashlib

    members = {name: public_jwk[name] for name in ("e", "kty", "n")}
    digest = hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass
class Signer:
    """Signs tokens for one issuer URL with one RSA key."""

    issuer: str
    private_pem: bytes = field(repr=False)
    issued: set[str] = field(default_factory=set, repr=False)  # every token handed out (tests grep logs)

    def __post_init__(self) -> None:
        import jwt

        self._key = _load_key(self.private_pem)
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key()))
        self.kid = key_id(public)
        self.public_jwk = {**public, "kid": self.kid, "alg": ALGORITHM, "use": "sig"}

    def token(self, subject: str, audience: str | Iterable[str], ttl_seconds: int = TOKEN_SECONDS) -> str:
        import jwt

        now = int(time.time())
        claims = {"iss": self.issuer, "sub": subject, "aud": audience if isinstance(audience, str) else list(audience),
                  "iat": now, "nbf": now, "exp": now + ttl_seconds, "jti": str(uuid.uuid4())}
        token = jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"kid": self.kid})
        self.issued.add(token)
        return token

    @classmethod
    def from_home(cls, home: Path, issuer: str) -> Signer:
        return cls(issuer, (home / KEY_FILE).read_bytes())


def new_private_pem() -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


class Issuer:
    """The discovery document and JWKS over HTTP on 127.0.0.1, and a Signer for its tokens."""

    def __init__(self, home: Path, port: int = 0) -> None:
        self.home = home
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.signer = Signer(self.url, new_private_pem())
        self._thread: threading.Thread | None = None
        self.jwks_served = 0  # how often the key set was fetched: the functions cache it
        self._cached: dict[tuple[str, str], tuple[str, float]] = {}
        self._lock = threading.Lock()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    body: dict[str, Any] = {
                        "issuer": issuer.url, "jwks_uri": issuer.url + JWKS_PATH, "response_types_supported":
                        ["id_token"], "subject_types_supported": ["public"],
                        "id_token_signing_alg_values_supported": [ALGORITHM]}
                elif self.path == JWKS_PATH:
                    issuer.jwks_served += 1
                    body = {"keys": [issuer.signer.public_jwk]}
                else:
                    self.send_error(404)
                    return
                payload = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        return Handler

    def start(self) -> Issuer:
        self.home.mkdir(parents=True, exist_ok=True)
        key_file = self.home / KEY_FILE
        key_file.touch(mode=0o600)
        key_file.chmod(0o600)
        key_file.write_bytes(self.signer.private_pem)
        self._thread = threading.Thread(target=self._server.serve_forever, name="oidc-issuer", daemon=True)
        self._thread.start()
        return self

    def token(self, subject: str, audience: str) -> str:
        """A token for (subject, audience), reused until a fifth of its life is left, as Knative caches them."""
        with self._lock:
            cached = self._cached.get((subject, audience))
            if cached is not None and cached[1] > time.time() + TOKEN_SECONDS / 5:
                return cached[0]
            token = self.signer.token(subject, audience)
            self._cached[(subject, audience)] = (token, time.time() + TOKEN_SECONDS)
            return token

    def tokens_for(self, subject: str, audience: str) -> Callable[[], str]:
        return lambda: self.token(subject, audience)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        with contextlib.suppress(OSError):
            (self.home / KEY_FILE).unlink()
