"""The contract's environment variables, read once and validated, failing fast on the first bad one."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import cast, get_args
from urllib.parse import urlsplit

from shared.mail.smtp import SmtpTls

IMPLICIT_TLS_PORT = 465


class ConfigError(Exception):
    """A configuration variable is missing or malformed; the message names it."""


def _url(environ: Mapping[str, str], name: str, default: str | None = None) -> str:
    value = environ.get(name, default)
    if not value:
        raise ConfigError(f"{name} must be set (an http(s) URL)")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{name} must be an http(s) URL, got {value!r}")
    return value.rstrip("/")


def _int(environ: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _smtp_tls(environ: Mapping[str, str], flo_env: str, port: int) -> SmtpTls:
    """SMTP_TLS, defaulting by port (465 implicit TLS, else STARTTLS); plain SMTP only for the local mail sink."""
    raw = environ.get("SMTP_TLS") or ("none" if flo_env == "local" else None)
    if raw is None:
        return "implicit" if port == IMPLICIT_TLS_PORT else "starttls"
    if raw not in get_args(SmtpTls):
        raise ConfigError(f"SMTP_TLS must be one of {', '.join(get_args(SmtpTls))}, got {raw!r}")
    if raw == "none" and flo_env != "local":
        raise ConfigError("SMTP_TLS=none is only allowed with FLO_ENV=local: production mail must use TLS")
    return cast(SmtpTls, raw)


@dataclass(frozen=True)
class Settings:
    """Everything a service reads from its environment; secrets are fetched separately through shared.secrets."""

    env: str
    base_url: str
    project_id: str
    environ: Mapping[str, str] = field(repr=False)
    smtp_host: str | None
    smtp_port: int
    smtp_tls: SmtpTls
    smtp_username: str | None
    mail_from: str
    link_deadline_seconds: int
    confirmation_grace_seconds: int
    payment_hold_minutes: int
    booking_horizon_days: int
    oidc_audience: str | None
    oidc_service_accounts: frozenset[str]

    @property
    def local(self) -> bool:
        return self.env == "local"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        flo_env = env.get("FLO_ENV", "production")
        if flo_env not in ("local", "production"):
            raise ConfigError(f"FLO_ENV must be 'local' or 'production', got {flo_env!r}")
        project_id = env.get("GOOGLE_CLOUD_PROJECT", "")
        if not project_id:
            raise ConfigError("GOOGLE_CLOUD_PROJECT must be set (any id works with the emulators)")
        accounts = frozenset(a.strip() for a in env.get("OIDC_SERVICE_ACCOUNTS", "").split(",") if a.strip())
        if flo_env != "local" and not accounts:
            raise ConfigError("OIDC_SERVICE_ACCOUNTS must list the push and scheduler accounts in production")
        smtp_port = _int(env, "SMTP_PORT", 587, minimum=1)
        return cls(
            env=flo_env,
            base_url=_url(env, "FLO_BASE_URL"),
            project_id=project_id,
            environ=env,
            smtp_host=env.get("SMTP_HOST") or None,
            smtp_port=smtp_port,
            smtp_tls=_smtp_tls(env, flo_env, smtp_port),
            smtp_username=env.get("SMTP_USERNAME") or None,
            mail_from=env.get("MAIL_FROM", "Flo <bookings@flo.local>"),
            link_deadline_seconds=_int(env, "LINK_DEADLINE_SECONDS", 900, minimum=1),
            confirmation_grace_seconds=_int(env, "CONFIRMATION_GRACE_SECONDS", 8),
            payment_hold_minutes=_int(env, "PAYMENT_HOLD_MINUTES", 15, minimum=1),
            booking_horizon_days=_int(env, "BOOKING_HORIZON_DAYS", 365, minimum=1),
            oidc_audience=env.get("OIDC_AUDIENCE") or None,
            oidc_service_accounts=accounts,
        )
