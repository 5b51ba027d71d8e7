"""Who a creator request comes from: an Identity Platform ID token in production, a dev token locally.

The API reads the token from `Authorization: Bearer`; the pages read the same token from their session
cookie (shared/pages), so both verify it the same way on every request.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping
from typing import Any, Protocol

import httpx
from google.auth import exceptions as google_auth_exceptions
from google.auth import jwt
from werkzeug.wrappers import Request

from shared.bookings.model import token_hash
from shared.oidc import CertSource, GoogleCertSource
from shared.store.port import DocStore, put
from shared.web import ApiError

log = logging.getLogger(__name__)

API_TOKENS = "api_tokens"
SECURETOKEN_CERTS_URL = "https://www.googleapis.com/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com"
"""Where Identity Platform (Firebase Auth) publishes the certificates its ID tokens are signed with."""


class CreatorAuth(Protocol):
    def creator_id(self, request: Request) -> str:
        """The authenticated creator's id, or ApiError 401."""
        ...

    def verify(self, token: str) -> str:
        """The creator id a token stands for, or ApiError 401."""
        ...


def bearer(request: Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value:
        raise ApiError(401, "unauthenticated", "Send Authorization: Bearer <token>.")
    return value.strip()


class DevTokenAuth:
    """Local only: tokens minted by POST /api/dev/creators, stored as hashes."""

    def __init__(self, store: DocStore) -> None:
        self._store = store

    def issue(self, creator_id: str) -> str:
        token = secrets.token_urlsafe(32)
        self._store.commit([put(API_TOKENS, token_hash(token), {"creator_id": creator_id})])
        return token

    def creator_id(self, request: Request) -> str:
        return self.verify(bearer(request))

    def verify(self, token: str) -> str:
        found = self._store.get(API_TOKENS, token_hash(token))
        if found is None:
            raise ApiError(401, "unauthenticated", "The token is not valid.")
        return str(found["creator_id"])


CERTS_RETRY_AFTER_SECONDS = 30
CLOCK_SKEW_SECONDS = 30
"""A creator's device or Google's clock may be a little ahead: a token issued "in the future" by this much is fine."""


class IdentityPlatformAuth:
    """Production: an Identity Platform (Firebase) ID token, checked against the project; the creator id is its uid.

    The signing certificates are fetched once and reused for as long as Google's Cache-Control allows;
    when they cannot be fetched the request is a 503 with Retry-After, so the creator's app retries
    instead of showing a sign-in error. IDENTITY_PLATFORM_CERTS_URL overrides where they are fetched
    from (tests serve certificates they made); Terraform never sets it.
    """

    def __init__(
        self, project_id: str, certs: CertSource | None = None, clock_skew_seconds: int = CLOCK_SKEW_SECONDS
    ) -> None:
        self._project_id = project_id
        self._issuer = f"https://securetoken.google.com/{project_id}"
        url = os.environ.get("IDENTITY_PLATFORM_CERTS_URL", SECURETOKEN_CERTS_URL)
        self._certs = certs if certs is not None else GoogleCertSource(url)
        self._clock_skew_seconds = clock_skew_seconds

    def creator_id(self, request: Request) -> str:
        return self.verify(bearer(request))

    def verify(self, token: str) -> str:
        try:
            certs = self._certs()
        except (httpx.HTTPError, ValueError):
            log.warning("Identity Platform certificates could not be fetched", exc_info=True)
            raise ApiError(
                503,
                "auth_unavailable",
                "Sign-in cannot be checked right now; try again shortly.",
                headers={"Retry-After": str(CERTS_RETRY_AFTER_SECONDS)},
            ) from None
        try:
            claims: Mapping[str, Any] = jwt.decode(  # type: ignore[no-untyped-call]  # untyped in google-auth
                token, certs=certs, audience=self._project_id, clock_skew_in_seconds=self._clock_skew_seconds
            )
        except (google_auth_exceptions.GoogleAuthError, ValueError):
            raise ApiError(401, "unauthenticated", "The ID token is not valid.") from None
        if claims.get("iss") != self._issuer:
            raise ApiError(401, "unauthenticated", "The ID token was not issued for this project.")
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise ApiError(401, "unauthenticated", "The ID token names no user.")
        return subject
