"""Who a creator request comes from: an Identity Platform ID token in production, a dev token locally."""

from __future__ import annotations

import secrets
from typing import Protocol

from werkzeug.wrappers import Request

from shared.bookings.model import token_hash
from shared.store.port import DocStore, put
from shared.web import ApiError

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
    """Production: verify the Identity Platform (Firebase) ID token; the creator id is its uid."""

    def __init__(self, project_id: str) -> None:
        self._project_id = project_id

    def creator_id(self, request: Request) -> str:
        import google.auth.transport.requests
        from google.oauth2 import id_token

        try:
            claims = id_token.verify_firebase_token(  # type: ignore[no-untyped-call]
                bearer(request), google.auth.transport.requests.Request(), audience=self._project_id
            )
        except ValueError:
            raise ApiError(401, "unauthenticated", "The ID token is not valid.") from None
        if not claims or not claims.get("sub"):
            raise ApiError(401, "unauthenticated", "The ID token names no user.")
        return str(claims["sub"])
