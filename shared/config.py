"""Configuration from the environment, validated at start-up with one clear line per problem."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import AliasChoices, Field, PositiveFloat, PositiveInt, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

S = TypeVar("S", bound=BaseSettings)

SINK_ENV_PREFIX = "PAYMESH_SINK_"


class RuntimeSettings(BaseSettings):
    """Settings every function shares. Function-specific settings subclass this."""

    model_config = SettingsConfigDict(env_prefix="PAYMESH_", extra="ignore", frozen=True, populate_by_name=True)

    home: Path = Field(default=Path(".paymesh"), description="where SQLite stores live by default")
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "PAYMESH_DATABASE_URL")
    )
    db_schema: str | None = Field(default=None, pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    auto_migrate: bool = True
    body_bytes_max: PositiveInt = Field(
        default=1024 * 1024, validation_alias=AliasChoices("PAYMESH_BODY_BYTES_MAX", "PAYMESH_MAX_BODY_BYTES"))
    batch_events_max: PositiveInt = Field(
        default=100, validation_alias=AliasChoices("PAYMESH_BATCH_EVENTS_MAX", "PAYMESH_MAX_BATCH_EVENTS"))
    publisher: Literal["auto", "kafkasink", "kafka", "log", "memory"] = "auto"
    publish_timeout_seconds: PositiveFloat = 10.0
    kafka_bootstrap_servers: str | None = Field(
        default=None,
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "PAYMESH_KAFKA_BOOTSTRAP_SERVERS"),
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = None
    kafka_ssl_cafile: Path | None = None
    kafka_ssl_certfile: Path | None = None
    kafka_ssl_keyfile: Path | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Who may call (shared/auth.py). No issuer: authentication is off, and the function says so.
    auth_issuer: str | None = None
    auth_jwks_url: str | None = None  # default: jwks_uri of the issuer's /.well-known/openid-configuration
    auth_audience: str | None = Field(default=None, min_length=1, max_length=256)  # default: the function's name
    auth_senders: str = ""  # comma-separated token subjects allowed to POST CloudEvents
    auth_readers: str = ""  # ... allowed GET query routes
    auth_admins: str = ""  # ... allowed administrative routes and reads
    auth_ca_file: Path | None = None  # CA bundle for discovery/JWKS over https (default: the system's)
    # a file holding a bearer token sent when fetching discovery/JWKS (the API server asks for one); read per fetch
    auth_fetch_bearer_file: Path | None = None
    auth_leeway_seconds: int = Field(default=30, ge=0, le=300)
    auth_keys_max_age_seconds: PositiveInt = 3600
    auth_refetch_interval_seconds: float = Field(default=30.0, ge=0, le=3600)  # at most one refetch per interval

    @field_validator("auth_issuer", "auth_jwks_url")
    @classmethod
    def _auth_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        assert value is not None
        return check_auth_url(value)

    @field_validator("auth_senders")
    @classmethod
    def _senders_when_on(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("auth_issuer") and not subjects(value):
            raise ValueError("at least one subject is required when PAYMESH_AUTH_ISSUER is set "
                             "(else no source may deliver events)")
        return value


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def check_auth_url(value: str) -> str:
    """An issuer or JWKS address: https, or http on loopback only (the local issuer of `paymesh up`)."""
    from urllib.parse import urlsplit

    parts = urlsplit(value)
    if parts.scheme == "https" and parts.hostname:
        return value
    if parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS:
        return value
    raise ValueError("must be an https URL (http only on 127.0.0.1 or localhost)")


def subjects(value: str) -> frozenset[str]:
    """`a, b,,c` -> {a, b, c}: an allow-list of token subjects."""
    return frozenset(item.strip() for item in value.split(",") if item.strip())


def sink_env_name(topic: str) -> str:
    """`payments.payment-processed` -> `PAYMESH_SINK_PAYMENTS_PAYMENT_PROCESSED`."""
    return SINK_ENV_PREFIX + re.sub(r"[^A-Z0-9]", "_", topic.upper())


def _env_name(settings_cls: type[BaseSettings], loc: tuple[int | str, ...]) -> str:
    if not loc:
        return "configuration"
    name = str(loc[0])
    if name.isupper():  # already an environment name (a validation alias)
        return name
    field = settings_cls.model_fields.get(name)
    if field is not None and isinstance(field.validation_alias, AliasChoices):
        return str(field.validation_alias.choices[0])
    prefix = str(settings_cls.model_config.get("env_prefix", ""))
    return (prefix + name).upper()


def describe_errors(settings_cls: type[BaseSettings], error: ValidationError) -> list[str]:
    lines = []
    for problem in error.errors():
        env = _env_name(settings_cls, tuple(problem["loc"]))
        got = problem.get("input")
        shown = "" if isinstance(got, dict) else f" (got {str(got)[:60]!r})"
        lines.append(f"paymesh: configuration error: {env}: {problem['msg']}{shown}")
    return lines


def load_settings(settings_cls: type[S]) -> S:
    """Read settings from the environment; on a bad value print one line per problem and exit 2."""
    try:
        return settings_cls()
    except ValidationError as error:
        for line in describe_errors(settings_cls, error):
            print(line, file=sys.stderr)
        raise SystemExit(2) from None
