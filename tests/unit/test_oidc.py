"""OIDC verification of push and scheduler requests, with tokens signed by a key made here."""

from __future__ import annotations

import datetime
import time
from collections.abc import Mapping

import google.auth._helpers
import httpx
import pytest

from shared.oidc import Claims, GoogleCertSource, OidcError, OidcVerifier, verifier_from_env
from tests.oidc_tokens import AUDIENCE, KEY_ID, PUSH_SA, SCHEDULER_SA
from tests.oidc_tokens import claims as _claims
from tests.oidc_tokens import key_and_cert as _key_and_cert
from tests.oidc_tokens import sign as _sign


@pytest.fixture(scope="module")
def google_key() -> tuple[bytes, str]:
    return _key_and_cert()


@pytest.fixture(scope="module")
def other_key() -> tuple[bytes, str]:
    return _key_and_cert()


def _verifier(cert_pem: str) -> OidcVerifier:
    return OidcVerifier(AUDIENCE, frozenset({PUSH_SA, SCHEDULER_SA}), lambda: {KEY_ID: cert_pem})


def _status(verifier: OidcVerifier, header: str | None) -> int:
    with pytest.raises(OidcError) as caught:
        verifier.verify(header)
    return caught.value.status


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


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer   ", "Basic dXNlcjpwYXNz", "token-without-scheme"])
def test_missing_token_is_401(google_key: tuple[bytes, str], header: str | None) -> None:
    assert _status(_verifier(google_key[1]), header) == 401


def test_garbage_token_is_401(google_key: tuple[bytes, str]) -> None:
    assert _status(_verifier(google_key[1]), "Bearer not.a.jwt") == 401


def test_bad_signature_is_401(google_key: tuple[bytes, str], other_key: tuple[bytes, str]) -> None:
    token = _sign(other_key[0], _claims())  # same kid, wrong key
    assert _status(_verifier(google_key[1]), f"Bearer {token}") == 401


def test_tampered_payload_is_401(google_key: tuple[bytes, str]) -> None:
    header, _, signature = _sign(google_key[0], _claims()).split(".")
    forged_payload = _sign(google_key[0], _claims(email=SCHEDULER_SA)).split(".")[1]
    assert _status(_verifier(google_key[1]), f"Bearer {header}.{forged_payload}.{signature}") == 401


def test_unknown_key_id_is_401(google_key: tuple[bytes, str]) -> None:
    token = _sign(google_key[0], _claims(), key_id="rotated-away")
    assert _status(_verifier(google_key[1]), f"Bearer {token}") == 401


def test_expired_token_is_401(google_key: tuple[bytes, str]) -> None:
    now = int(time.time())
    token = _sign(google_key[0], _claims(iat=now - 7200, exp=now - 3600))
    with pytest.raises(OidcError) as caught:
        _verifier(google_key[1]).verify(f"Bearer {token}")
    assert caught.value.status == 401
    assert "expired" in caught.value.message
    assert token not in caught.value.message


def test_wrong_audience_is_403(google_key: tuple[bytes, str]) -> None:
    token = _sign(google_key[0], _claims(aud="https://book.flo.example/services/notify"))
    assert _status(_verifier(google_key[1]), f"Bearer {token}") == 403


def test_wrong_issuer_is_403(google_key: tuple[bytes, str]) -> None:
    token = _sign(google_key[0], _claims(iss="https://evil.example"))
    assert _status(_verifier(google_key[1]), f"Bearer {token}") == 403


def test_wrong_email_is_403(google_key: tuple[bytes, str]) -> None:
    token = _sign(google_key[0], _claims(email="someone@proj.iam.gserviceaccount.com"))
    assert _status(_verifier(google_key[1]), f"Bearer {token}") == 403


@pytest.mark.parametrize("verified", [False, "false", None])
def test_unverified_email_is_403(google_key: tuple[bytes, str], verified: object) -> None:
    token = _sign(google_key[0], _claims(email_verified=verified))
    assert _status(_verifier(google_key[1]), f"Bearer {token}") == 403


def test_certificate_fetch_failure_is_503(google_key: tuple[bytes, str]) -> None:
    def unreachable() -> Mapping[str, str]:
        raise httpx.ConnectError("no route to host")

    verifier = OidcVerifier(AUDIENCE, frozenset({PUSH_SA}), unreachable)
    assert _status(verifier, f"Bearer {_sign(google_key[0], _claims())}") == 503


def test_verifier_refuses_empty_configuration() -> None:
    with pytest.raises(ValueError):
        OidcVerifier("", frozenset({PUSH_SA}), dict)
    with pytest.raises(ValueError):
        OidcVerifier(AUDIENCE, frozenset(), dict)


def test_verifier_from_env_reads_terraform_variables(google_key: tuple[bytes, str]) -> None:
    env = {"OIDC_AUDIENCE": AUDIENCE, "OIDC_SERVICE_ACCOUNTS": f" {PUSH_SA} ,{SCHEDULER_SA},"}
    verifier = verifier_from_env(env, certs=lambda: {KEY_ID: google_key[1]})
    token = _sign(google_key[0], _claims(email=SCHEDULER_SA))
    assert verifier.verify(f"Bearer {token}").email == SCHEDULER_SA
    with pytest.raises(ValueError):
        verifier_from_env({"OIDC_AUDIENCE": AUDIENCE})


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


def test_google_cert_source_error_surfaces_as_503(google_key: tuple[bytes, str]) -> None:
    source = GoogleCertSource(client=httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(500))))
    verifier = OidcVerifier(AUDIENCE, frozenset({PUSH_SA}), source)
    assert _status(verifier, f"Bearer {_sign(google_key[0], _claims())}") == 503


def _refusal(verifier: OidcVerifier, header: str | None) -> tuple[int, str]:
    with pytest.raises(OidcError) as caught:
        verifier.verify(header)
    assert str(caught.value) == caught.value.message
    return caught.value.status, caught.value.message


MALFORMED = "invalid token: malformed token, unknown key or bad signature"


def test_each_refusal_says_why(google_key: tuple[bytes, str]) -> None:
    private_pem, cert = google_key
    now = int(time.time())
    verifier = _verifier(cert)
    refusals = {
        "Basic dXNlcjpwYXNz": (401, "missing bearer token"),
        "Bearer two words": (401, MALFORMED),
        f"Bearer {_sign(private_pem, _claims(iat=now - 7200, exp=now - 3600))}": (401, "invalid token: token expired"),
        f"Bearer {_sign(private_pem, _claims(iat=now + 3600, exp=now + 7200))}": (
            401,
            "invalid token: token not yet valid",
        ),
        f"Bearer {_sign(private_pem, _claims(iss='https://evil.example'))}": (403, "token was not issued by Google"),
        f"Bearer {_sign(private_pem, _claims(aud='https://other.example'))}": (403, "token is for another audience"),
        f"Bearer {_sign(private_pem, _claims(email='x@example.com'))}": (
            403,
            "token is not from an allowed service account",
        ),
        f"Bearer {_sign(private_pem, _claims(email_verified=False))}": (403, "token email is not verified"),
    }
    assert {header: _refusal(verifier, header) for header in refusals} == refusals


def test_a_certificate_that_does_not_load_is_named_by_its_error_type(google_key: tuple[bytes, str]) -> None:
    verifier = OidcVerifier(AUDIENCE, frozenset({PUSH_SA}), lambda: {KEY_ID: "not a pem"})
    assert _refusal(verifier, f"Bearer {_sign(google_key[0], _claims())}") == (401, "invalid token: ValueError")


def test_unreachable_certificates_say_so(google_key: tuple[bytes, str]) -> None:
    def unreachable() -> Mapping[str, str]:
        raise httpx.ConnectError("no route to host")

    verifier = OidcVerifier(AUDIENCE, frozenset({PUSH_SA}), unreachable)
    refusal = _refusal(verifier, f"Bearer {_sign(google_key[0], _claims())}")
    assert refusal == (503, "cannot fetch Google signing certificates")


def test_a_token_a_few_seconds_early_is_within_the_clock_skew(google_key: tuple[bytes, str]) -> None:
    token = _sign(google_key[0], _claims(iat=int(time.time()) + 5))
    assert _verifier(google_key[1]).verify(f"Bearer {token}").email == PUSH_SA


def test_a_token_without_a_subject_has_an_empty_one(google_key: tuple[bytes, str]) -> None:
    claims = {k: v for k, v in _claims().items() if k != "sub"}
    assert _verifier(google_key[1]).verify(f"Bearer {_sign(google_key[0], claims)}").subject == ""


def test_empty_configuration_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"^audience is required$"):
        OidcVerifier("", frozenset({PUSH_SA}), dict)
    with pytest.raises(ValueError, match=r"^allowed_emails must name at least one service account$"):
        OidcVerifier(AUDIENCE, frozenset(), dict)


@pytest.mark.parametrize("env", [{"OIDC_SERVICE_ACCOUNTS": PUSH_SA}, {"OIDC_AUDIENCE": AUDIENCE}])
def test_verifier_from_env_needs_both_variables(env: dict[str, str]) -> None:
    with pytest.raises(
        ValueError, match=r"^OIDC_AUDIENCE and OIDC_SERVICE_ACCOUNTS must be set outside local development$"
    ):
        verifier_from_env(env)


def test_verifier_from_env_reads_the_process_environment_and_fetches_certificates_from_oidc_certs_url(
    google_key: tuple[bytes, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fetched: list[str] = []
    made: list[dict[str, object]] = []
    real_client = httpx.Client

    def certificates(request: httpx.Request) -> httpx.Response:
        fetched.append(str(request.url))
        return httpx.Response(200, json={KEY_ID: google_key[1]})

    def client_factory(**kwargs: object) -> httpx.Client:
        made.append(kwargs)
        return real_client(transport=httpx.MockTransport(certificates))

    monkeypatch.setattr(httpx, "Client", client_factory)
    monkeypatch.setenv("OIDC_AUDIENCE", AUDIENCE)
    monkeypatch.setenv("OIDC_SERVICE_ACCOUNTS", PUSH_SA)
    monkeypatch.setenv("OIDC_CERTS_URL", "http://certs.test/certs")
    assert verifier_from_env().verify(f"Bearer {_sign(google_key[0], _claims())}").email == PUSH_SA
    assert (fetched, made) == (["http://certs.test/certs"], [{"timeout": 10.0}])


def test_google_cert_source_refuses_a_document_that_is_not_pems_by_key_id() -> None:
    answer = httpx.Response(200, json={"k": 5})
    source = GoogleCertSource(
        "http://certs.test/c", client=httpx.Client(transport=httpx.MockTransport(lambda r: answer))
    )
    with pytest.raises(ValueError, match=r"^unexpected certificate document from http://certs\.test/c$"):
        source()


@pytest.fixture
def frozen_google_auth_clock(monkeypatch: pytest.MonkeyPatch) -> int:
    """google-auth's own "now" held still, so the clock-skew edges are exact; returns that instant in seconds."""
    now = datetime.datetime(2025, 6, 1, 12, 0)
    monkeypatch.setattr(google.auth._helpers, "utcnow", lambda: now)
    return int(now.replace(tzinfo=datetime.UTC).timestamp())


def _signed_at(google_key: tuple[bytes, str], now: int, iat: int, exp: int) -> str:
    return f"Bearer {_sign(google_key[0], _claims(iat=now + iat, exp=now + exp))}"


@pytest.mark.parametrize(("iat", "exp"), [(10, 3600), (-3600, -10)], ids=["issued ahead", "just expired"])
def test_google_and_our_clocks_may_differ_by_ten_seconds(
    google_key: tuple[bytes, str], frozen_google_auth_clock: int, iat: int, exp: int
) -> None:
    header = _signed_at(google_key, frozen_google_auth_clock, iat, exp)
    assert _verifier(google_key[1]).verify(header).email == PUSH_SA


@pytest.mark.parametrize(
    ("iat", "exp", "refusal"),
    [(11, 3600, "invalid token: token not yet valid"), (-3600, -11, "invalid token: token expired")],
    ids=["issued too far ahead", "expired too long ago"],
)
def test_a_clock_difference_over_ten_seconds_is_refused(
    google_key: tuple[bytes, str], frozen_google_auth_clock: int, iat: int, exp: int, refusal: str
) -> None:
    header = _signed_at(google_key, frozen_google_auth_clock, iat, exp)
    assert _refusal(_verifier(google_key[1]), header) == (401, refusal)
