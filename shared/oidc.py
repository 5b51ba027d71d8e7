"""Verification of the Google-signed OIDC tokens on Pub/Sub push and Cloud Scheduler requests.

In production those requests reach a service from inside Google Cloud with an ID token minted for
the push or scheduler service account (infra/terraform). The web layer calls OidcVerifier.verify
on every machine route when FLO_ENV is not local.

Status codes: 401 when there is no usable token (missing, malformed, bad signature, unknown key,
expired); 403 when a valid Google token is not meant for this service (wrong issuer, audience or
email, or email not verified); 503 when Google's signing certificates cannot be fetched, so Pub/Sub
and Cloud Scheduler retry later instead of dropping the message.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from google.auth import exceptions as google_auth_exceptions
from google.auth import jwt

__all__ = [
    "GOOGLE_CERTS_URL",
    "GOOGLE_ISSUERS",
    "CertSource",
    "Claims",
    "GoogleCertSource",
    "OidcError",
    "OidcVerifier",
    "verifier_from_env",
]

GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
GOOGLE_ISSUERS = frozenset({"https://accounts.google.com", "accounts.google.com"})

# PEM certificates by key id (the JWT header's "kid"), as served by GOOGLE_CERTS_URL.
CertSource = Callable[[], Mapping[str, str]]

_MAX_AGE = re.compile(r"max-age=(\d+)")
CERTS_RETRY_AFTER_SECONDS = 30


class OidcError(Exception):
    """Why a request was refused, with the HTTP status the web layer should answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    @property
    def headers(self) -> Mapping[str, str] | None:
        """A 503 tells Pub/Sub and Cloud Scheduler (which retry anyway) and any other caller when to retry."""
        return {"Retry-After": str(CERTS_RETRY_AFTER_SECONDS)} if self.status == 503 else None


@dataclass(frozen=True)
class Claims:
    """The verified claims a handler may rely on (who called, for whom, until when)."""

    email: str
    subject: str
    audience: str
    issuer: str
    expires_at: int


class GoogleCertSource:
    """Google's OAuth2 signing certificates, fetched on first use and cached for Cache-Control max-age.

    No HTTP client exists until the first call, so importing or constructing this costs nothing.
    """

    def __init__(
        self,
        url: str = GOOGLE_CERTS_URL,
        client: httpx.Client | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        self._client = client
        self._clock = clock
        self._certs: Mapping[str, str] = {}
        self._expires_at = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> Mapping[str, str]:
        with self._lock:
            if self._certs and self._clock() < self._expires_at:
                return self._certs
            if self._client is None:
                self._client = httpx.Client(timeout=10.0)
            response = self._client.get(self._url)
            response.raise_for_status()
            certs = response.json()
            if not isinstance(certs, dict) or not all(isinstance(v, str) for v in certs.values()):
                raise ValueError(f"unexpected certificate document from {self._url}")
            self._certs = certs
            self._expires_at = self._clock() + _max_age(response.headers.get("cache-control", ""))
            return self._certs


def _max_age(cache_control: str) -> int:
    """Seconds the certificates may be reused; 0 (refetch next time) when the header says nothing."""
    match = _MAX_AGE.search(cache_control)
    return int(match.group(1)) if match else 0


class OidcVerifier:
    """Accepts only Google ID tokens for this service's audience from the allowed service accounts."""

    def __init__(
        self,
        audience: str,
        allowed_emails: frozenset[str],
        certs: CertSource,
        clock_skew_seconds: int = 10,
    ) -> None:
        if not audience:
            raise ValueError("audience is required")
        if not allowed_emails:
            raise ValueError("allowed_emails must name at least one service account")
        self._audience = audience
        self._allowed_emails = allowed_emails
        self._certs = certs
        self._clock_skew_seconds = clock_skew_seconds

    def verify(self, authorization_header: str | None) -> Claims:
        """Return the token's claims, or raise OidcError (401, 403 or 503; see the module docstring)."""
        token = _bearer_token(authorization_header)
        try:
            certs = self._certs()
        except (httpx.HTTPError, ValueError) as exc:
            raise OidcError(503, "cannot fetch Google signing certificates") from exc
        try:
            # jwt.decode checks the signature against the kid's certificate, iat and exp. The audience
            # is checked below instead: decode raises the same InvalidValue for a wrong audience as
            # for expiry, and a wrong audience is a 403, not a 401.
            payload: Mapping[str, Any] = jwt.decode(  # type: ignore[no-untyped-call]  # untyped in google-auth
                token, certs=certs, audience=None, clock_skew_in_seconds=self._clock_skew_seconds
            )
        except (google_auth_exceptions.GoogleAuthError, ValueError) as exc:
            raise OidcError(401, f"invalid token: {_reason(exc)}") from None

        issuer = payload.get("iss")
        if issuer not in GOOGLE_ISSUERS:
            raise OidcError(403, "token was not issued by Google")
        audience = payload.get("aud")
        if audience != self._audience:
            raise OidcError(403, "token is for another audience")
        email = payload.get("email")
        if not isinstance(email, str) or email not in self._allowed_emails:
            raise OidcError(403, "token is not from an allowed service account")
        if payload.get("email_verified") not in (True, "true"):
            raise OidcError(403, "token email is not verified")
        return Claims(
            email=email,
            subject=str(payload.get("sub", "")),
            audience=audience,
            issuer=issuer,
            expires_at=int(payload["exp"]),
        )


def _bearer_token(authorization_header: str | None) -> str:
    scheme, _, token = (authorization_header or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise OidcError(401, "missing bearer token")
    return token


def _reason(exc: Exception) -> str:
    """A short cause without echoing the token: google-auth's messages quote token segments."""
    if isinstance(exc, google_auth_exceptions.MalformedError):
        return "malformed token, unknown key or bad signature"
    message = str(exc)
    if "expired" in message:
        return "token expired"
    if "too early" in message:
        return "token not yet valid"
    return type(exc).__name__


def verifier_from_env(environ: Mapping[str, str] | None = None, certs: CertSource | None = None) -> OidcVerifier:
    """Build the verifier from OIDC_AUDIENCE and OIDC_SERVICE_ACCOUNTS (comma-separated), set by Terraform."""
    env = os.environ if environ is None else environ
    audience = env.get("OIDC_AUDIENCE", "")
    emails = frozenset(e.strip() for e in env.get("OIDC_SERVICE_ACCOUNTS", "").split(",") if e.strip())
    if not audience or not emails:
        raise ValueError("OIDC_AUDIENCE and OIDC_SERVICE_ACCOUNTS must be set outside local development")
    # OIDC_CERTS_URL lets tests serve certificates they made; Terraform never sets it.
    return OidcVerifier(audience, emails, certs or GoogleCertSource(env.get("OIDC_CERTS_URL", GOOGLE_CERTS_URL)))
