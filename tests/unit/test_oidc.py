"""OIDC verification of push and scheduler requests, with tokens signed by a key made here."""

from __future__ import annotations

import time
from collections.abc import Mapping

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
