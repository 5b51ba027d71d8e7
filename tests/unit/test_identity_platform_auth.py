"""The production creator sign-in: Identity Platform ID tokens checked against certificates of keys made here."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from google.auth import transport
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from shared.auth import IdentityPlatformAuth
from shared.web import ApiError
from tests.oidc_tokens import KEY_ID, claims, key_and_cert, sign

PROJECT = "flo-prod"
UID = "creator-uid-42"
ISSUER = f"https://securetoken.google.com/{PROJECT}"


class _Response(transport.Response):
    def __init__(self, status: int, data: bytes) -> None:
        self._status = status
        self._data = data

    @property
    def status(self) -> int:
        return self._status

    @property
    def headers(self) -> dict[str, str]:
        return {"content-type": "application/json"}

    @property
    def data(self) -> bytes:
        return self._data


class CertificateServer(transport.Request):
    """Plays Google's certificate endpoint for the token verifier: serves our certificates, or fails."""

    def __init__(self, certs: dict[str, str], status: int = 200) -> None:
        self.certs = certs
        self.status = status
        self.urls: list[str] = []

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: Any = None,
        headers: Any = None,
        timeout: Any = None,
        **kwargs: Any,
    ) -> _Response:
        self.urls.append(url)
        return _Response(self.status, json.dumps(self.certs).encode())


@pytest.fixture(scope="module")
def keys() -> tuple[bytes, str]:
    return key_and_cert()


def firebase_claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {"iss": ISSUER, "aud": PROJECT, "sub": UID, "user_id": UID, "auth_time": now - 60}
    result = claims(**base)
    for name in ("email", "email_verified"):
        result.pop(name)
    result.update(overrides)
    return {k: v for k, v in result.items() if v is not None}


def request_with(authorization: str) -> Request:
    return Request(EnvironBuilder(path="/api/bookings", headers=[("Authorization", authorization)]).get_environ())


def refused(auth: IdentityPlatformAuth, authorization: str) -> ApiError:
    with pytest.raises(ApiError) as caught:
        auth.creator_id(request_with(authorization))
    return caught.value


def test_a_valid_id_token_names_the_creator(keys: tuple[bytes, str]) -> None:
    server = CertificateServer({KEY_ID: keys[1]})
    token = sign(keys[0], firebase_claims())
    assert IdentityPlatformAuth(PROJECT, server).creator_id(request_with(f"Bearer {token}")) == UID
    assert server.urls and server.urls[0].startswith("https://")


@pytest.mark.parametrize(
    "overrides",
    [
        {"aud": "another-project", "iss": "https://securetoken.google.com/another-project"},
        {"iss": "https://accounts.google.com"},
        {"sub": ""},
        {"sub": None},
        {"iat": int(time.time()) - 7200, "exp": int(time.time()) - 3600},
    ],
    ids=["other project", "not Identity Platform", "empty uid", "no uid", "expired"],
)
def test_tokens_not_for_this_project_or_user_are_401(keys: tuple[bytes, str], overrides: dict[str, Any]) -> None:
    token = sign(keys[0], firebase_claims(**overrides))
    error = refused(IdentityPlatformAuth(PROJECT, CertificateServer({KEY_ID: keys[1]})), f"Bearer {token}")
    assert (error.status, error.code) == (401, "unauthenticated")
    assert token not in error.message


def test_a_token_signed_by_another_key_is_401(keys: tuple[bytes, str]) -> None:
    other_private, _ = key_and_cert()
    token = sign(other_private, firebase_claims())
    error = refused(IdentityPlatformAuth(PROJECT, CertificateServer({KEY_ID: keys[1]})), f"Bearer {token}")
    assert error.status == 401


@pytest.mark.parametrize("header", ["", "Bearer ", "Basic {token}", "{token}", "Bearer not.a.token"])
def test_a_missing_or_misnamed_token_is_401(keys: tuple[bytes, str], header: str) -> None:
    token = sign(keys[0], firebase_claims())
    error = refused(IdentityPlatformAuth(PROJECT, CertificateServer({KEY_ID: keys[1]})), header.format(token=token))
    assert error.status == 401


def test_unreachable_google_certificates_are_503_so_the_creator_can_retry(keys: tuple[bytes, str]) -> None:
    token = sign(keys[0], firebase_claims())
    error = refused(IdentityPlatformAuth(PROJECT, CertificateServer({}, status=500)), f"Bearer {token}")
    assert (error.status, error.code) == (503, "auth_unavailable")


def test_without_a_transport_the_keys_are_fetched_with_google_auths_requests_transport(
    keys: tuple[bytes, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Production builds no transport of its own: google-auth's requests transport fetches the keys."""
    import google.auth.transport.requests

    servers: list[CertificateServer] = []

    def requests_transport() -> CertificateServer:
        servers.append(CertificateServer({KEY_ID: keys[1]}))
        return servers[-1]

    monkeypatch.setattr(google.auth.transport.requests, "Request", requests_transport)
    token = sign(keys[0], firebase_claims())
    assert IdentityPlatformAuth(PROJECT).creator_id(request_with(f"Bearer {token}")) == UID
    assert len(servers) == 1 and len(servers[0].urls) == 1
