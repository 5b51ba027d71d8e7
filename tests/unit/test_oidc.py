"""OIDC verification of push and scheduler requests, with tokens signed by a key made here."""

from __future__ import annotations

import base64
import calendar
import json
import time
from collections.abc import Callable, Mapping
from datetime import datetime

import httpx
import pytest
from google.auth import _helpers as google_auth_helpers

from shared.oidc import GOOGLE_CERTS_URL, Claims, GoogleCertSource, OidcError, OidcVerifier, verifier_from_env
from tests.oidc_tokens import AUDIENCE, KEY_ID, PUSH_SA, SCHEDULER_SA, CertificateServer
from tests.oidc_tokens import claims as _claims
from tests.oidc_tokens import key_and_cert as _key_and_cert
from tests.oidc_tokens import sign as _sign


@pytest.fixture(scope="module")
def google_key() -> tuple[bytes, str]:
    return _key_and_cert()


def _verifier(cert_pem: str) -> OidcVerifier:
    return OidcVerifier(AUDIENCE, frozenset({PUSH_SA, SCHEDULER_SA}), lambda: {KEY_ID: cert_pem})


def _refusal(verifier: OidcVerifier, header: str | None) -> tuple[int, str]:
    """The status and message the web layer answers with (the exception reads as its message too)."""
    with pytest.raises(OidcError) as caught:
        verifier.verify(header)
    assert str(caught.value) == caught.value.message
    return caught.value.status, caught.value.message


def _bearer(private_pem: bytes, **overrides: object) -> str:
    return f"Bearer {_sign(private_pem, _claims(**overrides))}"


def _with_algorithm(algorithm: str) -> str:
    """A token naming another algorithm than Google's RS256 (the "alg: none" forgery), with no real signature."""
    parts = ({"alg": algorithm, "kid": KEY_ID, "typ": "JWT"}, _claims())
    encoded = [base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode() for part in parts]
    return ".".join([*encoded, "c2lnbmF0dXJl"])


def test_good_token_gives_claims(google_key: tuple[bytes, str]) -> None:
    private_pem, cert = google_key
    claims = _claims()
    result = _verifier(cert).verify(f"Bearer {_sign(private_pem, claims)}")
    assert result == Claims(
        email=PUSH_SA,
        subject="112233445566778899",
        audience=AUDIENCE,
        issuer="https://accounts.google.com",
        expires_at=claims["exp"],
    )


def test_issuer_without_scheme_and_string_email_verified_are_accepted(google_key: tuple[bytes, str]) -> None:
    private_pem, cert = google_key
    token = _sign(private_pem, _claims(iss="accounts.google.com", email=SCHEDULER_SA, email_verified="true"))
    assert _verifier(cert).verify(f"bearer {token}").email == SCHEDULER_SA


def test_extra_spaces_around_the_token_are_accepted(google_key: tuple[bytes, str]) -> None:
    token = _sign(google_key[0], _claims())
    assert _verifier(google_key[1]).verify(f"  Bearer   {token}  ").email == PUSH_SA


def test_a_token_without_subject_gives_an_empty_subject(google_key: tuple[bytes, str]) -> None:
    claims = _claims()
    del claims["sub"]
    assert _verifier(google_key[1]).verify(f"Bearer {_sign(google_key[0], claims)}").subject == ""


MISSING = (401, "missing bearer token")
UNUSABLE = (401, "invalid token: malformed token, unknown key or bad signature")


@pytest.mark.parametrize(
    ("header", "refusal"),
    [
        (lambda key: None, MISSING),
        (lambda key: "", MISSING),
        (lambda key: "Bearer", MISSING),
        (lambda key: "Bearer   ", MISSING),
        (lambda key: f"Basic {_sign(key, _claims())}", MISSING),
        (lambda key: _sign(key, _claims()), MISSING),
        (lambda key: "Bearer not.a.jwt", UNUSABLE),
        (lambda key: f"Bearer {_sign(_key_and_cert()[0], _claims())}", UNUSABLE),
        (lambda key: f"Bearer {_sign(key, _claims(), key_id='rotated-away')}", UNUSABLE),
        (lambda key: f"Bearer {_with_algorithm('none')}", (401, "invalid token: InvalidValue")),
        (lambda key: f"Bearer {_with_algorithm('HS256')}", (401, "invalid token: InvalidValue")),
        (lambda key: _bearer(key, iss="https://evil.example"), (403, "token was not issued by Google")),
        (
            lambda key: _bearer(key, aud="https://book.flo.example/services/notify"),
            (403, "token is for another audience"),
        ),
        (
            lambda key: _bearer(key, email="someone@proj.iam.gserviceaccount.com"),
            (403, "token is not from an allowed service account"),
        ),
        (lambda key: _bearer(key, email=None), (403, "token is not from an allowed service account")),
        (lambda key: _bearer(key, email_verified=False), (403, "token email is not verified")),
        (lambda key: _bearer(key, email_verified="false"), (403, "token email is not verified")),
        (lambda key: _bearer(key, email_verified=None), (403, "token email is not verified")),
    ],
    ids=[
        "no header",
        "empty header",
        "scheme alone",
        "scheme and spaces",
        "another scheme",
        "no scheme",
        "not a JWT",
        "signed by another key",
        "unknown key id",
        "alg none",
        "alg HS256",
        "another issuer",
        "another audience",
        "another account",
        "no email",
        "email not verified",
        "email verified 'false'",
        "email verified missing",
    ],
)
def test_refusals_say_why_with_401_for_no_usable_token_and_403_for_one_not_meant_for_us(
    google_key: tuple[bytes, str], header: Callable[[bytes], str | None], refusal: tuple[int, str]
) -> None:
    assert _refusal(_verifier(google_key[1]), header(google_key[0])) == refusal


def test_tampered_payload_is_401(google_key: tuple[bytes, str]) -> None:
    header, _, signature = _sign(google_key[0], _claims()).split(".")
    forged_payload = _sign(google_key[0], _claims(email=SCHEDULER_SA)).split(".")[1]
    assert _refusal(_verifier(google_key[1]), f"Bearer {header}.{forged_payload}.{signature}") == UNUSABLE


def test_expired_token_is_401_without_echoing_the_token(google_key: tuple[bytes, str]) -> None:
    now = int(time.time())
    token = _sign(google_key[0], _claims(iat=now - 7200, exp=now - 3600))
    with pytest.raises(OidcError) as caught:
        _verifier(google_key[1]).verify(f"Bearer {token}")
    assert (caught.value.status, caught.value.message) == (401, "invalid token: token expired")
    assert token not in caught.value.message


# google-auth's clock, naive UTC, as jwt.decode reads it to check iat and exp.
GOOGLE_AUTH_NOW = datetime(2026, 12, 1, 12, 0, 0)


@pytest.fixture
def stopped_google_auth_clock(monkeypatch: pytest.MonkeyPatch) -> int:
    """google-auth's clock stopped at GOOGLE_AUTH_NOW; returns that time in epoch seconds."""
    monkeypatch.setattr(google_auth_helpers, "utcnow", lambda: GOOGLE_AUTH_NOW)
    return calendar.timegm(GOOGLE_AUTH_NOW.utctimetuple())


@pytest.mark.parametrize(
    ("issued_after", "expires_after"), [(10, 3600), (-3600, -10)], ids=["issued 10 s ahead", "expired 10 s ago"]
)
def test_ten_seconds_of_clock_skew_are_allowed(
    google_key: tuple[bytes, str], stopped_google_auth_clock: int, issued_after: int, expires_after: int
) -> None:
    now = stopped_google_auth_clock
    token = _sign(google_key[0], _claims(iat=now + issued_after, exp=now + expires_after))
    assert _verifier(google_key[1]).verify(f"Bearer {token}").expires_at == now + expires_after


@pytest.mark.parametrize(
    ("issued_after", "expires_after", "message"),
    [(11, 3600, "invalid token: token not yet valid"), (-3600, -11, "invalid token: token expired")],
    ids=["issued 11 s ahead", "expired 11 s ago"],
)
def test_more_clock_skew_than_ten_seconds_is_401(
    google_key: tuple[bytes, str], stopped_google_auth_clock: int, issued_after: int, expires_after: int, message: str
) -> None:
    now = stopped_google_auth_clock
    token = _sign(google_key[0], _claims(iat=now + issued_after, exp=now + expires_after))
    assert _refusal(_verifier(google_key[1]), f"Bearer {token}") == (401, message)


def test_certificate_fetch_failure_is_503_with_retry_after(google_key: tuple[bytes, str]) -> None:
    def unreachable() -> Mapping[str, str]:
        raise httpx.ConnectError("no route to host")

    verifier = OidcVerifier(AUDIENCE, frozenset({PUSH_SA}), unreachable)
    with pytest.raises(OidcError) as caught:
        verifier.verify(f"Bearer {_sign(google_key[0], _claims())}")
    assert (caught.value.status, caught.value.message) == (503, "cannot fetch Google signing certificates")
    assert caught.value.headers == {"Retry-After": "30"}


@pytest.mark.parametrize(
    ("audience", "emails", "message"),
    [
        ("", frozenset({PUSH_SA}), "audience is required"),
        (AUDIENCE, frozenset(), "allowed_emails must name at least one service account"),
    ],
)
def test_verifier_refuses_empty_configuration(audience: str, emails: frozenset[str], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        OidcVerifier(audience, emails, dict)
    assert str(caught.value) == message


def test_verifier_from_env_reads_terraform_variables(google_key: tuple[bytes, str]) -> None:
    env = {"OIDC_AUDIENCE": AUDIENCE, "OIDC_SERVICE_ACCOUNTS": f" {PUSH_SA} ,{SCHEDULER_SA},"}
    verifier = verifier_from_env(env, certs=lambda: {KEY_ID: google_key[1]})
    token = _sign(google_key[0], _claims(email=SCHEDULER_SA))
    assert verifier.verify(f"Bearer {token}").email == SCHEDULER_SA


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"OIDC_AUDIENCE": AUDIENCE},
        {"OIDC_SERVICE_ACCOUNTS": PUSH_SA},
        {"OIDC_AUDIENCE": AUDIENCE, "OIDC_SERVICE_ACCOUNTS": " , "},
    ],
    ids=["neither", "no accounts", "no audience", "blank accounts"],
)
def test_verifier_from_env_needs_both_terraform_variables(env: dict[str, str]) -> None:
    with pytest.raises(ValueError) as caught:
        verifier_from_env(env, certs=dict)
    assert str(caught.value) == "OIDC_AUDIENCE and OIDC_SERVICE_ACCOUNTS must be set outside local development"


def test_verifier_from_env_defaults_to_the_process_environment(
    google_key: tuple[bytes, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OIDC_AUDIENCE", AUDIENCE)
    monkeypatch.setenv("OIDC_SERVICE_ACCOUNTS", PUSH_SA)
    verifier = verifier_from_env(certs=lambda: {KEY_ID: google_key[1]})
    assert verifier.verify(f"Bearer {_sign(google_key[0], _claims())}").email == PUSH_SA


@pytest.mark.parametrize(
    ("extra", "fetched_from"),
    [({}, GOOGLE_CERTS_URL), ({"OIDC_CERTS_URL": "https://certs.test/oidc"}, "https://certs.test/oidc")],
    ids=["Google's", "the test's"],
)
def test_verifier_from_env_fetches_certificates_from_google_unless_told_otherwise(
    google_key: tuple[bytes, str], monkeypatch: pytest.MonkeyPatch, extra: dict[str, str], fetched_from: str
) -> None:
    server = CertificateServer({KEY_ID: google_key[1]})
    server.replace_the_network(monkeypatch)
    verifier = verifier_from_env({"OIDC_AUDIENCE": AUDIENCE, "OIDC_SERVICE_ACCOUNTS": PUSH_SA, **extra})
    assert verifier.verify(f"Bearer {_sign(google_key[0], _claims())}").email == PUSH_SA
    assert server.urls == [fetched_from]


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_google_cert_source_caches_for_max_age() -> None:
    requests: list[httpx.Request] = []
    documents = iter([{"k1": "PEM-1"}, {"k2": "PEM-2"}])

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(
            200, json=next(documents), headers={"Cache-Control": "public, max-age=300, must-revalidate"}
        )

    clock = _Clock()
    source = GoogleCertSource(client=httpx.Client(transport=httpx.MockTransport(handler)), clock=clock)
    assert requests == []  # nothing fetched until first use
    assert source() == {"k1": "PEM-1"}
    clock.now += 299
    assert source() == {"k1": "PEM-1"}
    assert len(requests) == 1
    clock.now += 2
    assert source() == {"k2": "PEM-2"}
    assert len(requests) == 2
    assert str(requests[0].url) == "https://www.googleapis.com/oauth2/v1/certs"


def test_google_cert_source_without_max_age_refetches() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(200, json={"k": "PEM"})

    source = GoogleCertSource(client=httpx.Client(transport=httpx.MockTransport(handler)), clock=_Clock())
    source()
    source()
    assert calls == 2


def test_google_cert_source_builds_its_own_client_with_a_ten_second_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """A hung certificate fetch must not hold the push request: the default client gives up after 10 s."""
    server = CertificateServer({"k": "PEM"})
    server.replace_the_network(monkeypatch)
    source = GoogleCertSource()
    assert server.client_options == []  # no client until first use
    assert source() == {"k": "PEM"}
    assert server.client_options == [{"timeout": 10.0}]
    assert server.urls == [GOOGLE_CERTS_URL]


@pytest.mark.parametrize("document", [["PEM"], {"k": 5}], ids=["not a mapping", "not PEM text"])
def test_google_cert_source_refuses_a_document_that_is_not_certificates_by_key_id(
    document: Mapping[str, object] | list[object],
) -> None:
    source = CertificateServer(document).source("https://certs.test/oidc")
    with pytest.raises(ValueError) as caught:
        source()
    assert str(caught.value) == "unexpected certificate document from https://certs.test/oidc"


@pytest.mark.parametrize("status", [200, 500], ids=["unexpected document", "server error"])
def test_google_cert_source_errors_surface_as_503(google_key: tuple[bytes, str], status: int) -> None:
    verifier = OidcVerifier(AUDIENCE, frozenset({PUSH_SA}), CertificateServer(["PEM"], status).source(GOOGLE_CERTS_URL))
    assert _refusal(verifier, f"Bearer {_sign(google_key[0], _claims())}") == (
        503,
        "cannot fetch Google signing certificates",
    )
