"""The production creator sign-in: Identity Platform ID tokens checked against certificates of keys made here."""

from __future__ import annotations

import time
from typing import Any

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from shared.auth import SECURETOKEN_CERTS_URL, IdentityPlatformAuth
from shared.web import ApiError
from tests.oidc_tokens import KEY_ID, CertificateServer, claims, key_and_cert, sign

PROJECT = "flo-prod"
UID = "creator-uid-42"
ISSUER = f"https://securetoken.google.com/{PROJECT}"


def platform_auth(server: CertificateServer) -> IdentityPlatformAuth:
    """The creator sign-in with production's certificate source, fetching from ``server``."""
    return IdentityPlatformAuth(PROJECT, server.source(SECURETOKEN_CERTS_URL))


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
    assert platform_auth(server).creator_id(request_with(f"Bearer {token}")) == UID
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
    error = refused(platform_auth(CertificateServer({KEY_ID: keys[1]})), f"Bearer {token}")
    assert (error.status, error.code, error.message) == (401, "unauthenticated", message)
    assert token not in error.message


def test_a_token_issued_a_few_seconds_ahead_of_this_clock_is_accepted(keys: tuple[bytes, str]) -> None:
    """Google's clock and ours differ by a little: a token issued 5 s "in the future" still signs the creator in."""
    issued = int(time.time()) + 5
    token = sign(keys[0], firebase_claims(iat=issued, auth_time=issued, exp=issued + 3600))
    auth = platform_auth(CertificateServer({KEY_ID: keys[1]}))
    assert auth.creator_id(request_with(f"Bearer {token}")) == UID


def test_a_token_signed_by_another_key_is_401(keys: tuple[bytes, str]) -> None:
    other_private, _ = key_and_cert()
    token = sign(other_private, firebase_claims())
    error = refused(platform_auth(CertificateServer({KEY_ID: keys[1]})), f"Bearer {token}")
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
    error = refused(platform_auth(CertificateServer({KEY_ID: keys[1]})), header.format(token=token))
    assert (error.status, error.message) == (401, message)


def test_unreachable_google_certificates_are_503_so_the_creator_can_retry(keys: tuple[bytes, str]) -> None:
    token = sign(keys[0], firebase_claims())
    error = refused(platform_auth(CertificateServer({}, status=500)), f"Bearer {token}")
    assert (error.status, error.code) == (503, "auth_unavailable")
    assert error.message == "Sign-in cannot be checked right now; try again shortly."
    assert error.headers is not None and error.headers["Retry-After"] == "30"


def test_without_certificates_given_google_s_identity_platform_certificates_are_fetched(
    keys: tuple[bytes, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Production hands in no certificates: Identity Platform's are fetched from Google, once, on first use."""
    server = CertificateServer({KEY_ID: keys[1]})
    server.replace_the_network(monkeypatch)
    auth = IdentityPlatformAuth(PROJECT)
    assert server.urls == []  # nothing fetched when built
    token = sign(keys[0], firebase_claims())
    assert auth.creator_id(request_with(f"Bearer {token}")) == UID
    assert server.urls == [SECURETOKEN_CERTS_URL]


def test_identity_platform_certs_url_says_where_certificates_come_from(
    keys: tuple[bytes, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = CertificateServer({KEY_ID: keys[1]})
    server.replace_the_network(monkeypatch)
    monkeypatch.setenv("IDENTITY_PLATFORM_CERTS_URL", "http://certs.test/identity-platform")
    token = sign(keys[0], firebase_claims())
    assert IdentityPlatformAuth(PROJECT).creator_id(request_with(f"Bearer {token}")) == UID
    assert server.urls == ["http://certs.test/identity-platform"]
