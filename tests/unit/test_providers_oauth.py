import base64
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from shared.providers.errors import ErrorKind, ProviderError
from shared.providers.oauth import GOOGLE_SCOPES, GoogleOAuth, ZoomOAuth, missing_scopes, pkce_challenge, pkce_pair
from shared.providers.urls import ProviderUrls
from tests.fakes.clock import FakeClock

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
URLS = ProviderUrls.from_env({"PROVIDER_SANDBOX_URL": "http://sandbox.test"})
Handler = Callable[[httpx.Request], httpx.Response]


def client(handler: Handler, seen: list[httpx.Request]) -> httpx.Client:
    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    return httpx.Client(transport=httpx.MockTransport(record))


def form(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def zoom(handler: Handler, seen: list[httpx.Request]) -> ZoomOAuth:
    return ZoomOAuth(URLS, "zid", "zsecret", client(handler, seen), FakeClock(NOW))


def google(handler: Handler, seen: list[httpx.Request]) -> GoogleOAuth:
    return GoogleOAuth(URLS, "gid", "gsecret", client(handler, seen), FakeClock(NOW))


def test_pkce_pair_is_s256_and_random() -> None:
    verifier, challenge = pkce_pair()
    assert 43 <= len(verifier) <= 128
    expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert challenge == expected
    assert pkce_pair()[0] != verifier


def test_zoom_authorize_url() -> None:
    url = zoom(lambda r: httpx.Response(500), []).authorize_url("https://flo.test/cb", "st", "ch")
    assert url.startswith("http://sandbox.test/zoom/oauth/authorize?")
    assert query(url) == {
        "response_type": "code",
        "client_id": "zid",
        "redirect_uri": "https://flo.test/cb",
        "state": "st",
        "code_challenge": "ch",
        "code_challenge_method": "S256",
    }


def test_zoom_exchange_uses_basic_auth_and_pkce() -> None:
    seen: list[httpx.Request] = []
    answer = {"access_token": "A1", "refresh_token": "R1", "expires_in": 3599, "scope": "meeting:write user:read"}
    tokens = zoom(lambda r: httpx.Response(200, json=answer), seen).exchange_code("c0de", "https://flo.test/cb", "v")
    (request,) = seen
    assert str(request.url) == "http://sandbox.test/zoom/oauth/token"
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"zid:zsecret").decode()
    assert form(request) == {
        "grant_type": "authorization_code",
        "code": "c0de",
        "redirect_uri": "https://flo.test/cb",
        "code_verifier": "v",
    }
    assert tokens.access_token == "A1"
    assert tokens.refresh_token == "R1"
    assert tokens.expires_at == NOW + timedelta(seconds=3599)
    assert tokens.scopes == frozenset({"meeting:write", "user:read"})


@pytest.mark.parametrize(
    ("granted", "missing"),
    [
        ("meeting:write meeting:read user:read", set()),
        ("meeting:write:admin meeting:read:admin user:read:admin", set()),
        ("meeting:write:meeting meeting:read:list_meetings user:read:user", set()),
        ("meeting:read user:read", {"meeting:write"}),
        ("user:read", {"meeting:write", "meeting:read"}),
    ],
)
def test_a_zoom_grant_without_the_meeting_scopes_is_found_missing(granted: str, missing: set[str]) -> None:
    answer = {"access_token": "A1", "refresh_token": "R1", "expires_in": 3599, "scope": granted}
    oauth = zoom(lambda r: httpx.Response(200, json=answer), [])
    tokens = oauth.exchange_code("c0de", "https://flo.test/cb", "v")
    assert missing_scopes(oauth.required_scopes, tokens) == missing


def test_zoom_refresh_returns_the_rotated_refresh_token() -> None:
    seen: list[httpx.Request] = []
    answer = {"access_token": "A2", "refresh_token": "R2", "expires_in": 3600, "scope": "meeting:write"}
    tokens = zoom(lambda r: httpx.Response(200, json=answer), seen).refresh("R1")
    assert form(seen[0]) == {"grant_type": "refresh_token", "refresh_token": "R1"}
    assert tokens.refresh_token == "R2"


def test_zoom_refresh_without_a_new_refresh_token_is_refused() -> None:
    answer = {"access_token": "A2", "expires_in": 3600}
    with pytest.raises(ProviderError) as caught:
        zoom(lambda r: httpx.Response(200, json=answer), []).refresh("R1")
    assert caught.value.kind is ErrorKind.BAD_REQUEST


def test_zoom_dead_refresh_token_is_revoked() -> None:
    answer = {"reason": "Invalid Token!", "error": "invalid_grant"}
    with pytest.raises(ProviderError) as caught:
        zoom(lambda r: httpx.Response(400, json=answer), []).refresh("R1-secret-value")
    assert caught.value.kind is ErrorKind.REVOKED
    assert "R1-secret-value" not in str(caught.value)


def test_zoom_revoke_posts_the_token_and_treats_already_revoked_as_done() -> None:
    seen: list[httpx.Request] = []
    answer = {"reason": "Invalid Token!", "error": "invalid_request"}
    zoom(lambda r: httpx.Response(400, json=answer), seen).revoke("R1")
    assert str(seen[0].url) == "http://sandbox.test/zoom/oauth/revoke"
    assert form(seen[0]) == {"token": "R1"}
    assert seen[0].headers["Authorization"].startswith("Basic ")


def test_zoom_revoke_outage_raises_transient() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(ProviderError) as caught:
        zoom(down, []).revoke("R1")
    assert caught.value.kind is ErrorKind.TRANSIENT


def test_zoom_account_email_reads_users_me_with_bearer() -> None:
    seen: list[httpx.Request] = []
    answer = {"id": "u1", "email": "host@example.com", "timezone": "Europe/Paris"}
    assert zoom(lambda r: httpx.Response(200, json=answer), seen).account_email("A1") == "host@example.com"
    assert str(seen[0].url) == "http://sandbox.test/zoom/v2/users/me"
    assert seen[0].headers["Authorization"] == "Bearer A1"


def test_google_authorize_url_asks_offline_consent_for_exact_scopes() -> None:
    url = google(lambda r: httpx.Response(500), []).authorize_url("https://flo.test/g", "st", "ch")
    params = query(url)
    assert url.startswith("http://sandbox.test/google/o/oauth2/v2/auth?")
    assert params["access_type"] == "offline"
    assert params["prompt"] == "consent"
    assert "include_granted_scopes" not in params
    assert params["code_challenge_method"] == "S256"
    assert set(params["scope"].split()) == {
        "openid",
        "https://www.googleapis.com/auth/userinfo.email",
        "https://www.googleapis.com/auth/calendar.freebusy",
        "https://www.googleapis.com/auth/calendar.events",
    }


def test_google_exchange_sends_client_credentials_in_the_body_and_normalises_scopes() -> None:
    seen: list[httpx.Request] = []
    answer = {
        "access_token": "ya29.x",
        "refresh_token": "1//r",
        "expires_in": 3599,
        "scope": "openid email https://www.googleapis.com/auth/calendar.events",
        "token_type": "Bearer",
    }
    provider = google(lambda r: httpx.Response(200, json=answer), seen)
    tokens = provider.exchange_code("code", "https://flo.test/g", "verifier")
    assert form(seen[0]) == {
        "grant_type": "authorization_code",
        "code": "code",
        "redirect_uri": "https://flo.test/g",
        "code_verifier": "verifier",
        "client_id": "gid",
        "client_secret": "gsecret",
    }
    assert "https://www.googleapis.com/auth/userinfo.email" in tokens.scopes
    assert missing_scopes(provider.required_scopes, tokens) == {"https://www.googleapis.com/auth/calendar.freebusy"}


def test_google_absent_scope_means_what_was_asked() -> None:
    answer = {"access_token": "a", "refresh_token": "r", "expires_in": 10}
    tokens = google(lambda r: httpx.Response(200, json=answer), []).exchange_code("c", "u", "v")
    assert tokens.scopes == GOOGLE_SCOPES


def test_google_refresh_keeps_the_refresh_token_and_maps_invalid_grant() -> None:
    answer = {"access_token": "a2", "expires_in": 3600, "scope": " ".join(GOOGLE_SCOPES)}
    assert google(lambda r: httpx.Response(200, json=answer), []).refresh("1//keep").refresh_token == "1//keep"
    refused = {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
    with pytest.raises(ProviderError) as caught:
        google(lambda r: httpx.Response(400, json=refused), []).refresh("1//keep")
    assert caught.value.kind is ErrorKind.REVOKED


def test_google_revoke_sends_only_the_token() -> None:
    seen: list[httpx.Request] = []
    google(lambda r: httpx.Response(200, json={}), seen).revoke("1//r")
    assert str(seen[0].url) == "http://sandbox.test/google/revoke"
    assert form(seen[0]) == {"token": "1//r"}
    assert "Authorization" not in seen[0].headers


def test_google_revoke_of_a_dead_token_is_done_but_outage_is_not() -> None:
    dead = {"error": "invalid_token", "error_description": "Token expired or revoked"}
    google(lambda r: httpx.Response(400, json=dead), []).revoke("1//r")
    with pytest.raises(ProviderError) as caught:
        google(lambda r: httpx.Response(503), []).revoke("1//r")
    assert caught.value.kind is ErrorKind.TRANSIENT


def test_google_account_email_from_userinfo() -> None:
    seen: list[httpx.Request] = []
    answer = {"sub": "1", "email": "c@example.com", "email_verified": True}
    assert google(lambda r: httpx.Response(200, json=answer), seen).account_email("ya29.x") == "c@example.com"
    assert str(seen[0].url) == "http://sandbox.test/google/v1/userinfo"
    assert seen[0].headers["Authorization"] == "Bearer ya29.x"


def test_reprs_hide_secrets_and_tokens() -> None:
    answer = {"access_token": "ACCESS-XYZ", "refresh_token": "REFRESH-XYZ", "expires_in": 60}
    provider = zoom(lambda r: httpx.Response(200, json=answer), [])
    tokens = provider.exchange_code("c", "u", "v")
    for text in (repr(tokens), str(tokens), repr(provider)):
        assert "ACCESS-XYZ" not in text
        assert "REFRESH-XYZ" not in text
        assert "zsecret" not in text


def test_expires_soon_leaves_a_margin() -> None:
    answer = {"access_token": "a", "refresh_token": "r", "expires_in": 3600}
    tokens = zoom(lambda r: httpx.Response(200, json=answer), []).exchange_code("c", "u", "v")
    assert not tokens.expires_soon(NOW + timedelta(minutes=54))
    assert tokens.expires_soon(NOW + timedelta(minutes=56))


def test_non_json_success_is_transient() -> None:
    with pytest.raises(ProviderError) as caught:
        zoom(lambda r: httpx.Response(200, text="<html>proxy</html>"), []).refresh("r")
    assert (caught.value.kind, caught.value.provider, caught.value.status) == (ErrorKind.TRANSIENT, "zoom", 200)


def test_pkce_challenge_matches_rfc_7636_and_the_verifier_has_86_characters() -> None:
    assert (
        pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )
    assert len(pkce_pair()[0]) == 86


def test_repr_names_the_provider_class_and_client_id_only() -> None:
    assert repr(zoom(lambda r: httpx.Response(500), [])) == "ZoomOAuth(client_id='zid', client_secret='[redacted]')"


@pytest.mark.parametrize("answer", [{"access_token": "", "refresh_token": "r"}, {"refresh_token": "r"}])
def test_a_token_answer_without_an_access_token_is_refused(answer: dict[str, str]) -> None:
    with pytest.raises(ProviderError) as caught:
        google(lambda r: httpx.Response(200, json=answer), []).exchange_code("c", "u", "v")
    error = caught.value
    assert (error.kind, error.provider, error.detail) == (
        ErrorKind.BAD_REQUEST,
        "google",
        "token answer lacked an access or refresh token",
    )


def test_a_token_answer_without_expires_in_lasts_an_hour() -> None:
    seen: list[httpx.Request] = []
    tokens = zoom(lambda r: httpx.Response(200, json={"access_token": "a", "refresh_token": "r"}), seen).exchange_code(
        "c", "u", "v"
    )
    assert tokens.expires_at == NOW + timedelta(hours=1)
    assert seen[0].method == "POST"


def test_google_refresh_posts_the_refresh_grant_with_the_client_credentials() -> None:
    seen: list[httpx.Request] = []
    answer = {"access_token": "a2", "expires_in": 3600}
    google(lambda r: httpx.Response(200, json=answer), seen).refresh("1//keep")
    assert (seen[0].method, str(seen[0].url)) == ("POST", "http://sandbox.test/google/token")
    assert form(seen[0]) == {
        "grant_type": "refresh_token",
        "refresh_token": "1//keep",
        "client_id": "gid",
        "client_secret": "gsecret",
    }


def test_waits_are_counted_from_the_injected_clock() -> None:
    limited = httpx.Response(429, headers={"Retry-After": "Thu, 02 Jan 2025 03:05:05 GMT"})
    with pytest.raises(ProviderError) as google_refusal:
        google(lambda r: limited, []).refresh("1//r")
    assert google_refusal.value.retry_after == 60
    daily = httpx.Response(429, headers={"X-RateLimit-Type": "Daily-limit"})
    with pytest.raises(ProviderError) as zoom_refusal:
        zoom(lambda r: daily, []).account_email("A1")
    assert (
        zoom_refusal.value.retry_after == (timedelta(days=1) - timedelta(hours=3, minutes=4, seconds=5)).total_seconds()
    )


def test_google_account_email_is_a_get_and_its_failures_are_googles() -> None:
    seen: list[httpx.Request] = []
    google(lambda r: httpx.Response(200, json={"email": "c@example.com"}), seen).account_email("ya29.x")
    assert seen[0].method == "GET"
    with pytest.raises(ProviderError) as refused:
        google(lambda r: httpx.Response(401), []).account_email("ya29.x")
    assert (refused.value.kind, refused.value.provider) == (ErrorKind.UNAUTHORIZED, "google")
    with pytest.raises(ProviderError) as garbled:
        google(lambda r: httpx.Response(200, text="<html>"), []).account_email("ya29.x")
    assert (garbled.value.kind, garbled.value.provider) == (ErrorKind.TRANSIENT, "google")


@pytest.mark.parametrize("email", ["", 5, None])
def test_google_account_email_that_is_not_a_non_empty_string_is_unknown(email: object) -> None:
    answer = {"sub": "1", "email": email}
    assert google(lambda r: httpx.Response(200, json=answer), []).account_email("ya29.x") is None
