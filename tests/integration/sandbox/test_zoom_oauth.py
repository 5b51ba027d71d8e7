"""Zoom OAuth against the sandbox: consent, PKCE, refresh rotation, revocation, expiry."""

from __future__ import annotations

import httpx

from devstack.sandbox.client import SandboxControl, authorize
from tests.integration.sandbox.helpers import (
    REDIRECT_URI,
    ZOOM_CLIENT,
    ZoomTokens,
    pkce_pair,
    query_of,
    zoom_authorize_url,
    zoom_connect,
)

INVALID_TOKEN = {"code": 124, "message": "Invalid access token."}


def _exchange(http: httpx.Client, base_url: str, code: str, verifier: str) -> httpx.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, "code_verifier": verifier}
    return http.post(base_url + "/zoom/oauth/token", auth=ZOOM_CLIENT, data=data)


def _refresh(http: httpx.Client, base_url: str, refresh_token: str) -> httpx.Response:
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return http.post(base_url + "/zoom/oauth/token", auth=ZOOM_CLIENT, data=data)


def _me(http: httpx.Client, base_url: str, token: str) -> httpx.Response:
    return http.get(base_url + "/zoom/v2/users/me", headers={"Authorization": "Bearer " + token})


def test_consent_page_shows_client_and_scopes(http: httpx.Client, base_url: str) -> None:
    page = http.get(zoom_authorize_url(base_url, "c" * 43) + "&scope=meeting:write+user:read")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert ZOOM_CLIENT[0] in page.text
    assert "meeting:write" in page.text and "user:read" in page.text
    assert 'value="allow"' in page.text and 'value="deny"' in page.text


def test_deny_redirects_with_access_denied_and_state(http: httpx.Client, base_url: str) -> None:
    location = authorize(zoom_authorize_url(base_url, "c" * 43, state="s-9"), "a@example.com", "deny")
    assert location.startswith(REDIRECT_URI + "?")
    assert query_of(location) == {"error": "access_denied", "state": "s-9"}


def test_full_connect_gives_working_tokens_and_user(http: httpx.Client, base_url: str) -> None:
    verifier, challenge = pkce_pair()
    location = authorize(zoom_authorize_url(base_url, challenge, state="abc"), "New.Host@example.com")
    query = query_of(location)
    assert query["state"] == "abc"
    answer = _exchange(http, base_url, query["code"], verifier)
    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert body["api_url"] == base_url + "/zoom"
    me = _me(http, base_url, body["access_token"])
    assert me.status_code == 200
    assert me.json()["email"] == "New.Host@example.com"
    assert {"id", "first_name", "last_name", "timezone", "account_id", "type"} <= me.json().keys()
    # A code is single use.
    assert _exchange(http, base_url, query["code"], verifier).json()["error"] == "invalid_grant"


def test_pkce_and_redirect_uri_are_checked(http: httpx.Client, base_url: str) -> None:
    verifier, challenge = pkce_pair()
    code = query_of(authorize(zoom_authorize_url(base_url, challenge), "a@example.com"))["code"]
    wrong = _exchange(http, base_url, code, verifier + "x")
    assert wrong.status_code == 400
    code = query_of(authorize(zoom_authorize_url(base_url, challenge), "a@example.com"))["code"]
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI + "/other"}
    mismatch = http.post(base_url + "/zoom/oauth/token", auth=ZOOM_CLIENT, data={**data, "code_verifier": verifier})
    assert mismatch.status_code == 400


def test_plain_pkce_is_accepted(http: httpx.Client, base_url: str) -> None:
    url = zoom_authorize_url(base_url, "plain-verifier-value-that-is-long-enough-1234").replace("S256", "plain")
    code = query_of(authorize(url, "a@example.com"))["code"]
    assert _exchange(http, base_url, code, "plain-verifier-value-that-is-long-enough-1234").status_code == 200


def test_token_endpoint_needs_basic_client_auth(http: httpx.Client, base_url: str) -> None:
    answer = http.post(base_url + "/zoom/oauth/token", data={"grant_type": "refresh_token", "refresh_token": "x"})
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"


def test_refresh_rotates_and_old_refresh_token_is_refused(http: httpx.Client, base_url: str, zoom: ZoomTokens) -> None:
    first = _refresh(http, base_url, zoom.refresh_token)
    assert first.status_code == 200
    rotated = first.json()["refresh_token"]
    assert rotated != zoom.refresh_token
    again = _refresh(http, base_url, zoom.refresh_token)
    assert again.status_code == 400
    assert again.json() == {"reason": "Invalid Token!", "error": "invalid_grant"}
    assert _refresh(http, base_url, rotated).status_code == 200


def test_token_in_query_string_is_refused(http: httpx.Client, base_url: str, zoom: ZoomTokens) -> None:
    answer = http.get(base_url + "/zoom/v2/users/me", params={"access_token": zoom.access_token})
    assert answer.status_code == 401
    assert answer.json() == INVALID_TOKEN
    assert http.get(base_url + "/zoom/v2/users/me").json() == INVALID_TOKEN


def test_expired_tokens_answer_124_and_refresh_recovers(
    http: httpx.Client, base_url: str, control: SandboxControl, zoom: ZoomTokens
) -> None:
    control.advance_clock(3601)
    expired = _me(http, base_url, zoom.access_token)
    assert expired.status_code == 401
    assert expired.json() == INVALID_TOKEN
    fresh = _refresh(http, base_url, zoom.refresh_token).json()["access_token"]
    assert _me(http, base_url, fresh).status_code == 200
    assert control.expire_access_tokens("zoom") >= 1
    assert _me(http, base_url, fresh).status_code == 401


def test_lifetime_setting_applies_to_new_tokens(
    http: httpx.Client, base_url: str, control: SandboxControl, zoom: ZoomTokens
) -> None:
    control.settings(access_token_lifetime=60)
    body = _refresh(http, base_url, zoom.refresh_token).json()
    assert body["expires_in"] == 60
    control.advance_clock(61)
    assert _me(http, base_url, body["access_token"]).status_code == 401


def test_revoke_endpoint_kills_the_grant(http: httpx.Client, base_url: str, zoom: ZoomTokens) -> None:
    answer = http.post(base_url + "/zoom/oauth/revoke", params={"token": zoom.access_token}, auth=ZOOM_CLIENT)
    assert answer.status_code == 200
    assert answer.json() == {"status": "success"}
    assert _me(http, base_url, zoom.access_token).json() == INVALID_TOKEN
    assert _refresh(http, base_url, zoom.refresh_token).json()["error"] == "invalid_grant"


def test_control_revoke_kills_only_that_users_grants(
    http: httpx.Client, base_url: str, control: SandboxControl, zoom: ZoomTokens
) -> None:
    other = zoom_connect(http, base_url, "other@example.com")
    assert control.revoke("zoom", "host@example.com") == 1
    assert _me(http, base_url, zoom.access_token).status_code == 401
    assert _refresh(http, base_url, zoom.refresh_token).status_code == 400
    assert _me(http, base_url, other.access_token).status_code == 200


def test_call_log_names_grants_but_never_holds_secrets(
    http: httpx.Client, base_url: str, control: SandboxControl, zoom: ZoomTokens
) -> None:
    http.post(base_url + "/zoom/oauth/revoke", params={"token": zoom.refresh_token}, auth=ZOOM_CLIENT)
    http.get(base_url + "/zoom/v2/users/me", params={"access_token": zoom.access_token})
    calls = control.calls("zoom")
    assert [c["path"] for c in calls][-2:] == ["/zoom/oauth/revoke", "/zoom/v2/users/me"]
    assert any(c["grant_id"] for c in calls)
    assert calls[-1]["status"] == 401
    dumped = repr(calls)
    issued = control.issued_tokens()
    assert zoom.access_token in issued and zoom.refresh_token in issued
    assert not [t for t in issued if t in dumped]
    control.clear_calls()
    assert control.calls() == []
