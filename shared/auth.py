"""Who a creator request comes from: an Identity Platform ID token in production, a dev token locally."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Protocol

from werkzeug.wrappers import Request

from shared.bookings.model import token_hash
from shared.store.port import DocStore, put
from shared.web import ApiError

if TYPE_CHECKING:
    from google.auth.transport import Request as Transport

API_TOKENS = "api_tokens"


class CreatorAuth(Protocol):
    def creator_id(self, request: Request) -> str:
        """The authenticated creator's id, or ApiError 401."""
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
        found = self._store.get(API_TOKENS, token_hash(bearer(request)))
        if found is None:
            raise ApiError(401, "unauthenticated", "The token is not valid.")
        return str(found["creator_id"])


class IdentityPlatformAuth:
    """Production: verify the Identity Platform (Firebase) ID token; the creator id is its uid.

    ``transport`` fetches Google's signing certificates (google-auth's requests transport by default, built
    for each request); tests hand in one that serves certificates of keys they made.
    """

    def __init__(self, project_id: str, transport: Transport | None = None) -> None:
        self._project_id = project_id
        self._transport = transport

    def creator_id(self, request: Request) -> str:
        from google.auth import exceptions
        from google.oauth2 import id_token

        token = bearer(request)
        transport = self._transport
        if transport is None:
            import google.auth.transport.requests

            transport = google.auth.transport.requests.Request()
        try:
            claims = id_token.verify_firebase_token(  # type: ignore[no-untyped-call]
                token, transport, audience=self._project_id
            )
        except exceptions.TransportError:
            raise ApiError(503, "auth_unavailable", "Sign-in cannot be checked right now; try again.") from None
        except ValueError:
            raise ApiError(401, "unauthenticated", "The ID token is not valid.") from None
        if not claims or not claims.get("sub"):
            raise ApiError(401, "unauthenticated", "The ID token names no user.")
        return str(claims["sub"])
