"""OAuth 2.0 authorization-code clients (PKCE S256) for Zoom and Google, behind one OAuthProvider port.

Google goes through httpx too, not google-auth-oauthlib's Flow: Flow sends with requests, so it
would bypass the injected client (timeouts, MockTransport tests) and the one error
classification, and oauthlib refuses http:// endpoints (the local sandbox) unless the
process-wide OAUTHLIB_INSECURE_TRANSPORT is set; it also raises when Google answers `email`
as `.../userinfo.email`.
"""

from __future__ import annotations

import abc
import base64
import hashlib
import secrets
from datetime import timedelta
from typing import Any

import httpx

from shared.clock import Clock, SystemClock
from shared.providers._http import json_object, send
from shared.providers.errors import ErrorKind, Provider, ProviderError
from shared.providers.models import TokenSet
from shared.providers.urls import ProviderUrls
from shared.providers.zoom import ZoomClient

USERINFO_EMAIL = "https://www.googleapis.com/auth/userinfo.email"
GOOGLE_SCOPES = frozenset(
    {
        "openid",
        USERINFO_EMAIL,
        "https://www.googleapis.com/auth/calendar.freebusy",
        "https://www.googleapis.com/auth/calendar.events",
    }
)
# Google answers the short OpenID names with their long forms; compare long forms only.
_GOOGLE_ALIASES = {"email": USERINFO_EMAIL, "profile": "https://www.googleapis.com/auth/userinfo.profile"}


ZOOM_SCOPES = frozenset({"meeting:write", "meeting:read", "user:read"})
"""What Flo needs of a Zoom grant: make, list and delete the host's meetings, and read the host's email."""
# The account-level (":admin") and granular forms of the same permissions count as the user-level ones.
_ZOOM_ALIASES = {
    "meeting:write:admin": "meeting:write",
    "meeting:read:admin": "meeting:read",
    "user:read:admin": "user:read",
    "meeting:write:meeting": "meeting:write",
    "meeting:read:list_meetings": "meeting:read",
    "user:read:user": "user:read",
}


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 S256: unpadded base64url of the verifier's SHA-256."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, code_challenge); the verifier is 86 URL-safe characters from `secrets`."""
    verifier = secrets.token_urlsafe(64)
    return verifier, pkce_challenge(verifier)


class _OAuthClient(abc.ABC):
    """The token-endpoint plumbing both providers share; subclasses say how the client authenticates."""

    name: Provider
    required_scopes: frozenset[str]
    requested_scopes: frozenset[str] = frozenset()
    revoke_needs_client_auth = True

    def __init__(
        self,
        *,
        authorize: str,
        token: str,
        revoke: str,
        client_id: str,
        client_secret: str,
        http: httpx.Client,
        clock: Clock | None,
    ) -> None:
        self._authorize = authorize
        self._token = token
        self._revoke = revoke
        self._client_id = client_id
        self._client_secret = client_secret
        self._http = http
        self._clock = clock or SystemClock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(client_id={self._client_id!r}, client_secret='[redacted]')"

    def _authorize_params(self) -> dict[str, str]:
        return {}

    @abc.abstractmethod
    def _client_auth(self, form: dict[str, str]) -> dict[str, Any]:
        """httpx keyword arguments that send `form` authenticated as this client."""

    @abc.abstractmethod
    def refresh(self, refresh_token: str) -> TokenSet: ...

    @abc.abstractmethod
    def account_email(self, access_token: str) -> str | None: ...

    @abc.abstractmethod
    def _scopes(self, raw: str) -> frozenset[str]:
        """The granted scopes of a token answer, in the forms `required_scopes` names."""

    def _post(self, url: str, form: dict[str, str], authenticate: bool = True) -> httpx.Response:
        kwargs = self._client_auth(form) if authenticate else {"data": form}
        return send(self._http, self.name, self._clock, "POST", url, **kwargs)

    def _token_set(self, form: dict[str, str], previous_refresh: str | None) -> TokenSet:
        now = self._clock.now()
        data = json_object(self._post(self._token, form), self.name)
        access = data.get("access_token")
        refresh = data.get("refresh_token") or previous_refresh
        if not isinstance(access, str) or not access or not isinstance(refresh, str):
            raise ProviderError(
                ErrorKind.BAD_REQUEST, self.name, None, None, "token answer lacked an access or refresh token"
            )
        # RFC 6749 5.1: an absent scope means exactly what was asked for.
        scopes = self._scopes(data["scope"]) if "scope" in data else self.requested_scopes
        return TokenSet(access, refresh, now + timedelta(seconds=int(data.get("expires_in", 3600))), scopes)

    def authorize_url(self, redirect_uri: str, state: str, code_challenge: str) -> str:
        params = {
            "response_type": "code",
            "client_id": self._client_id,
            "redirect_uri": redirect_uri,
            "state": state,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
            **self._authorize_params(),
        }
        return str(httpx.URL(self._authorize).copy_merge_params(params))

    def exchange_code(self, code: str, redirect_uri: str, code_verifier: str) -> TokenSet:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": code_verifier,
        }
        return self._token_set(form, previous_refresh=None)

    def revoke(self, token: str) -> None:
        """Revoke a grant by its refresh (or access) token; one already dead counts as revoked."""
        try:
            self._post(self._revoke, {"token": token}, authenticate=self.revoke_needs_client_auth)
        except ProviderError as exc:
            if exc.kind is not ErrorKind.REVOKED:
                raise


class ZoomOAuth(_OAuthClient):
    """Zoom OAuth: HTTP Basic client auth; every refresh rotates the refresh token, the old one dies.

    Zoom's scopes come from the app's Marketplace configuration (not the authorize URL), so a grant is checked
    on return against `required_scopes` (the meeting scopes, unless the deployment declares others).
    """

    name: Provider = "zoom"

    def __init__(
        self,
        urls: ProviderUrls,
        client_id: str,
        client_secret: str,
        http: httpx.Client,
        clock: Clock | None = None,
        required_scopes: frozenset[str] = ZOOM_SCOPES,
    ) -> None:
        super().__init__(
            authorize=urls.zoom_authorize,
            token=urls.zoom_token,
            revoke=urls.zoom_revoke,
            client_id=client_id,
            client_secret=client_secret,
            http=http,
            clock=clock,
        )
        self.required_scopes = required_scopes
        self._api = ZoomClient(urls.zoom_api, http, clock)

    def _client_auth(self, form: dict[str, str]) -> dict[str, Any]:
        return {"data": form, "auth": (self._client_id, self._client_secret)}

    def _scopes(self, raw: str) -> frozenset[str]:
        return frozenset(_ZOOM_ALIASES.get(scope, scope) for scope in raw.split())

    def refresh(self, refresh_token: str) -> TokenSet:
        """The answer's refresh token replaces the stored one at once: the one passed in no longer works."""
        return self._token_set({"grant_type": "refresh_token", "refresh_token": refresh_token}, None)

    def account_email(self, access_token: str) -> str | None:
        return self._api.get_me(access_token).email


class GoogleOAuth(_OAuthClient):
    """Google OAuth: offline access with a fresh consent each connect, so a refresh token always comes back."""

    name: Provider = "google"
    required_scopes = GOOGLE_SCOPES
    requested_scopes = GOOGLE_SCOPES
    revoke_needs_client_auth = False  # Google's revoke endpoint takes the token alone

    def __init__(
        self,
        urls: ProviderUrls,
        client_id: str,
        client_secret: str,
        http: httpx.Client,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(
            authorize=urls.google_authorize,
            token=urls.google_token,
            revoke=urls.google_revoke,
            client_id=client_id,
            client_secret=client_secret,
            http=http,
            clock=clock,
        )
        self._userinfo = urls.google_userinfo

    def _authorize_params(self) -> dict[str, str]:
        # include_granted_scopes stays off: the grant is exactly these scopes, checked on return.
        return {"scope": " ".join(sorted(GOOGLE_SCOPES)), "access_type": "offline", "prompt": "consent"}

    def _client_auth(self, form: dict[str, str]) -> dict[str, Any]:
        return {"data": {**form, "client_id": self._client_id, "client_secret": self._client_secret}}

    def _scopes(self, raw: str) -> frozenset[str]:
        return frozenset(_GOOGLE_ALIASES.get(scope, scope) for scope in raw.split())

    def refresh(self, refresh_token: str) -> TokenSet:
        """Google keeps the refresh token (unless it sends a new one); `invalid_grant` raises REVOKED."""
        return self._token_set({"grant_type": "refresh_token", "refresh_token": refresh_token}, refresh_token)

    def account_email(self, access_token: str) -> str | None:
        headers = {"Authorization": f"Bearer {access_token}"}
        response = send(self._http, "google", self._clock, "GET", self._userinfo, headers=headers)
        email = json_object(response, "google").get("email")
        return email if isinstance(email, str) and email else None


def missing_scopes(required: frozenset[str], tokens: TokenSet) -> frozenset[str]:
    """Permissions the creator unticked on the consent screen; a connection missing any is refused."""
    return required - tokens.scopes
