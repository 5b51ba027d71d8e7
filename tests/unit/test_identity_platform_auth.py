"""Creator sign-in: Identity Platform ID tokens checked against certificates of keys made here; dev tokens locally."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from shared.auth import API_TOKENS, SECURETOKEN_CERTS_URL, DevTokenAuth, IdentityPlatformAuth
from shared.bookings.model import token_hash
from shared.oidc import GoogleCertSource
from shared.web import ApiError
from tests.fakes.store import FakeDocStore
from tests.oidc_tokens import KEY_ID, claims, key_and_cert, sign

PROJECT = "flo-prod"
UID = "creator-uid-42"
ISSUER = f"https://securetoken.google.com/{PROJECT}"


class CertificateServer:
    """Plays Google's certificate endpoint over httpx: serves our certificates, or fails with ``status``."""

    def __init__(self, certs: dict[str, str], status: int = 200) -> None:
        self.certs = certs
        self.status = status
        self.urls: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(str(request.url))
        return httpx.Response(self.status, json=self.certs)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self))

    def source(self) -> GoogleCertSource:
        """Production's certificate source, fetching from this server."""
        return GoogleCertSource(SECURETOKEN_CERTS_URL, client=self.client())


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
    assert IdentityPlatformAuth(PROJECT, server.source()).creator_id(request_with(f"Bearer {token}")) == UID
    assert server.urls == [SECURETOKEN_CERTS_URL]


NOT_VALID = "The ID token is not valid."


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"aud": "another-project", "iss": "https://securetoken.google.com/another-project"}, NOT_VALID),
        ({"iss": "https://accounts.google.com"}, "The ID token was not issued for this project."),
        ({"sub": ""}, "The ID token names no user."),
        ({"sub": None}, "The ID token names no user."),
        ({"iat": int(time.time()) - 7200, "exp": int(time.time()) - 3600}, NOT_VALID),
    ],
    ids=["other project", "not Identity Platform", "empty uid", "no uid", "expired"],
)
def test_tokens_not_for_this_project_or_user_are_401(
    keys: tuple[bytes, str], overrides: dict[str, Any], message: str
) -> None:
    token = sign(keys[0], firebase_claims(**overrides))
    error = refused(IdentityPlatformAuth(PROJECT, CertificateServer({KEY_ID: keys[1]}).source()), f"Bearer {token}")
    assert (error.status, error.code, error.message) == (401, "unauthenticated", message)


def test_a_token_issued_a_few_seconds_ahead_of_this_clock_is_accepted(keys: tuple[bytes, str]) -> None:
    """Google's clock and ours differ by a little: a token issued 5 s "in the future" still signs the creator in."""
    issued = int(time.time()) + 5
    token = sign(keys[0], firebase_claims(iat=issued, auth_time=issued, exp=issued + 3600))
    auth = IdentityPlatformAuth(PROJECT, CertificateServer({KEY_ID: keys[1]}).source())
    assert auth.creator_id(request_with(f"Bearer {token}")) == UID


def test_a_token_signed_by_another_key_is_401(keys: tuple[bytes, str]) -> None:
    other_private, _ = key_and_cert()
    token = sign(other_private, firebase_claims())
    error = refused(IdentityPlatformAuth(PROJECT, CertificateServer({KEY_ID: keys[1]}).source()), f"Bearer {token}")
    assert error.status == 401


SEND_BEARER = "Send Authorization: Bearer <token>."


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("", SEND_BEARER),
        ("Bearer ", SEND_BEARER),
        ("Basic {token}", SEND_BEARER),
        ("{token}", SEND_BEARER),
        ("Bearer not.a.token", NOT_VALID),
    ],
)
def test_a_missing_or_misnamed_token_is_401(keys: tuple[bytes, str], header: str, message: str) -> None:
    token = sign(keys[0], firebase_claims())
    error = refused(
        IdentityPlatformAuth(PROJECT, CertificateServer({KEY_ID: keys[1]}).source()), header.format(token=token)
    )
    assert (error.status, error.message) == (401, message)


def test_unreachable_google_certificates_are_503_so_the_creator_can_retry(keys: tuple[bytes, str]) -> None:
    token = sign(keys[0], firebase_claims())
    error = refused(IdentityPlatformAuth(PROJECT, CertificateServer({}, status=500).source()), f"Bearer {token}")
    assert (error.status, error.code) == (503, "auth_unavailable")
    assert error.message == "Sign-in cannot be checked right now; try again shortly."
    assert error.headers is not None and error.headers["Retry-After"] == "30"


def test_without_certificates_given_google_s_identity_platform_certificates_are_fetched(
    keys: tuple[bytes, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Production hands in no certificates: Identity Platform's are fetched from Google, once, on first use."""
    server = CertificateServer({KEY_ID: keys[1]})
    client = server.client()
    monkeypatch.setattr(httpx, "Client", lambda **options: client)
    auth = IdentityPlatformAuth(PROJECT)
    assert server.urls == []  # nothing fetched when built
    token = sign(keys[0], firebase_claims())
    assert auth.creator_id(request_with(f"Bearer {token}")) == UID
    assert server.urls == [SECURETOKEN_CERTS_URL]


def test_identity_platform_certs_url_says_where_certificates_come_from(
    keys: tuple[bytes, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = CertificateServer({KEY_ID: keys[1]})
    client = server.client()
    monkeypatch.setattr(httpx, "Client", lambda **options: client)
    monkeypatch.setenv("IDENTITY_PLATFORM_CERTS_URL", "http://certs.test/identity-platform")
    token = sign(keys[0], firebase_claims())
    assert IdentityPlatformAuth(PROJECT).creator_id(request_with(f"Bearer {token}")) == UID
    assert server.urls == ["http://certs.test/identity-platform"]


def test_a_local_dev_token_names_its_creator_and_is_stored_only_as_a_hash() -> None:
    store = FakeDocStore()
    auth = DevTokenAuth(store)
    token = auth.issue("creator-1")
    assert auth.creator_id(request_with(f"bearer {token} ")) == "creator-1"
    assert store.get(API_TOKENS, token_hash(token)) == {"creator_id": "creator-1"}
    assert store.get(API_TOKENS, token) is None
    with pytest.raises(ApiError) as caught:
        auth.verify("never-issued")
    assert (caught.value.status, caught.value.code, caught.value.message) == (
        401,
        "unauthenticated",
        "The token is not valid.",
    )
