"""Google OAuth (google-auth-oauthlib, httpx) and Calendar v3 (google-api-python-client)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from google.oauth2.credentials import Credentials
from google_auth_oauthlib.flow import Flow
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from devstack.sandbox.client import SandboxControl, authorize
from tests.integration.sandbox.helpers import query_of

CLIENT_ID, CLIENT_SECRET = "flo-google-client.apps.googleusercontent.com", "flo-google-secret"
REDIRECT_URI = "http://127.0.0.1:9/oauth/google/callback"
EVENTS = "https://www.googleapis.com/auth/calendar.events"
FREEBUSY = "https://www.googleapis.com/auth/calendar.freebusy"
SCOPES = ["openid", "https://www.googleapis.com/auth/userinfo.email", FREEBUSY, EVENTS]
USER = "creator@example.com"


@pytest.fixture(autouse=True)
def _oauthlib_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """oauthlib refuses http:// URLs unless told it is a local test."""
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


def _flow(base_url: str, scopes: list[str]) -> Flow:
    config = {
        "web": {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "auth_uri": base_url + "/google/o/oauth2/v2/auth",
            "token_uri": base_url + "/google/token",
            "redirect_uris": [REDIRECT_URI],
        }
    }
    return Flow.from_client_config(config, scopes=scopes, redirect_uri=REDIRECT_URI)


def connect(base_url: str, granted: list[str] | None = None, **extra: str) -> dict[str, Any]:
    """The Google connect flow with google-auth-oauthlib: authorize URL, consent, code exchange."""
    flow = _flow(base_url, SCOPES)
    url, state = flow.authorization_url(**({"access_type": "offline", "prompt": "consent"} | extra))
    location = authorize(url, USER, granted_scopes=granted)
    assert query_of(location)["state"] == state
    token: dict[str, Any] = flow.fetch_token(authorization_response=location.replace("http://", "https://"))
    return token


def calendar(base_url: str, token: str) -> Any:
    return build(
        "calendar",
        "v3",
        credentials=Credentials(token=token),  # type: ignore[no-untyped-call]
        client_options={"api_endpoint": base_url + "/google/calendar/v3/"},
        static_discovery=True,
        cache_discovery=False,
    )


@pytest.fixture
def token(control: SandboxControl, base_url: str) -> dict[str, Any]:
    return connect(base_url)


@pytest.fixture
def cal(base_url: str, token: dict[str, Any]) -> Iterator[Any]:
    service = calendar(base_url, token["access_token"])
    yield service
    service.close()


def test_consent_page_lists_each_scope_with_a_checkbox(http: httpx.Client, base_url: str) -> None:
    url, _ = _flow(base_url, SCOPES).authorization_url()
    page = http.get(url)
    assert page.status_code == 200
    for scope in SCOPES:
        assert f'name="granted_scope" value="{scope}"' in page.text


def test_offline_consent_gives_refresh_token_and_userinfo(
    http: httpx.Client, base_url: str, token: dict[str, Any]
) -> None:
    assert token["refresh_token"]
    assert token["token_type"] == "Bearer" and token["expires_in"] == 3600
    assert set(token["scope"]) == set(SCOPES)
    info = http.get(base_url + "/google/v1/userinfo", headers={"Authorization": "Bearer " + token["access_token"]})
    assert info.status_code == 200
    assert info.json()["email"] == USER and info.json()["email_verified"] is True and info.json()["sub"]


def test_without_offline_there_is_no_refresh_token(control: SandboxControl, base_url: str) -> None:
    flow = _flow(base_url, SCOPES)
    url, _ = flow.authorization_url(access_type="online")  # google-auth-oauthlib defaults to offline
    location = authorize(url, USER)
    token = flow.fetch_token(authorization_response=location.replace("http://", "https://"))
    assert "refresh_token" not in token
    assert token["access_token"]


def test_deny_redirects_with_access_denied(control: SandboxControl, base_url: str) -> None:
    url, state = _flow(base_url, SCOPES).authorization_url()
    assert query_of(authorize(url, USER, "deny")) == {"error": "access_denied", "state": state}


def test_granular_consent_grants_only_ticked_scopes(
    monkeypatch: pytest.MonkeyPatch, http: httpx.Client, base_url: str
) -> None:
    monkeypatch.setenv("OAUTHLIB_RELAX_TOKEN_SCOPE", "1")
    token = connect(base_url, granted=[FREEBUSY])
    assert EVENTS not in token["scope"] and FREEBUSY in token["scope"]
    service = calendar(base_url, token["access_token"])
    with pytest.raises(HttpError) as refused:
        service.events().insert(calendarId="primary", body=_event("abcde12345")).execute()
    assert refused.value.resp.status == 403
    assert refused.value.error_details[0]["reason"] == "insufficientPermissions"
    free = {"timeMin": "2030-01-01T00:00:00Z", "timeMax": "2030-01-02T00:00:00Z", "items": [{"id": "primary"}]}
    assert service.freebusy().query(body=free).execute()["calendars"]["primary"]["busy"] == []


def _refresh(http: httpx.Client, base_url: str, refresh_token: str) -> httpx.Response:
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return http.post(base_url + "/google/token", data=data, auth=(CLIENT_ID, CLIENT_SECRET))


def test_refresh_keeps_refresh_token_until_revoked(
    http: httpx.Client, base_url: str, control: SandboxControl, token: dict[str, Any]
) -> None:
    form = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    first = http.post(
        base_url + "/google/token",
        data={**form, "grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
    )
    assert first.status_code == 200
    assert "refresh_token" not in first.json()
    assert _refresh(http, base_url, token["refresh_token"]).status_code == 200
    control.revoke("google", USER)
    refused = _refresh(http, base_url, token["refresh_token"])
    assert refused.status_code == 400
    assert refused.json() == {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}


def test_revoke_endpoint_with_access_token_kills_grant(
    http: httpx.Client, base_url: str, token: dict[str, Any]
) -> None:
    assert http.post(base_url + "/google/revoke", params={"token": token["access_token"]}).status_code == 200
    assert _refresh(http, base_url, token["refresh_token"]).json()["error"] == "invalid_grant"
    assert http.post(base_url + "/google/revoke", data={"token": token["refresh_token"]}).status_code == 400


def test_expired_or_missing_token_gets_auth_error(
    http: httpx.Client, base_url: str, control: SandboxControl, token: dict[str, Any]
) -> None:
    control.expire_access_tokens("google")
    answer = http.get(
        base_url + "/google/calendar/v3/calendars/primary/events",
        headers={"Authorization": "Bearer " + token["access_token"]},
    )
    assert answer.status_code == 401
    assert answer.json()["error"]["errors"][0]["reason"] == "authError"
    assert http.get(base_url + "/google/calendar/v3/calendars/primary/events").status_code == 401


def _event(event_id: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "summary": "Session with Fan",
        "description": "Join: https://us05web.zoom.us/j/123",
        "location": "https://us05web.zoom.us/j/123",
        "start": {"dateTime": "2030-02-01T10:00:00", "timeZone": "Europe/Berlin"},
        "end": {"dateTime": "2030-02-01T10:30:00+01:00"},
        **extra,
    }
    if event_id:
        body["id"] = event_id
    return body


def test_event_life_cycle_with_meet(cal: Any, control: SandboxControl) -> None:
    conference = {"createRequest": {"requestId": "req-1", "conferenceSolutionKey": {"type": "hangoutsMeet"}}}
    created = (
        cal.events()
        .insert(calendarId="primary", body=_event("flobooking0001", conferenceData=conference), conferenceDataVersion=1)
        .execute()
    )
    assert created["id"] == "flobooking0001"
    assert created["status"] == "confirmed"
    assert created["hangoutLink"].startswith("https://meet.google.com/")
    entry = created["conferenceData"]["entryPoints"][0]
    assert (entry["entryPointType"], entry["uri"]) == ("video", created["hangoutLink"])
    assert created["conferenceData"]["conferenceSolution"]["key"]["type"] == "hangoutsMeet"
    assert {"htmlLink", "iCalUID", "etag", "updated"} <= created.keys()

    with pytest.raises(HttpError) as repeat:
        cal.events().insert(calendarId=USER, body=_event("flobooking0001")).execute()
    assert repeat.value.resp.status == 409

    got = cal.events().get(calendarId="primary", eventId="flobooking0001").execute()
    assert got["summary"] == "Session with Fan"
    patched = (
        cal.events()
        .patch(calendarId="primary", eventId="flobooking0001", body={"location": "https://zoom.us/j/9"})
        .execute()
    )
    assert patched["location"] == "https://zoom.us/j/9" and patched["etag"] != created["etag"]
    assert [e["id"] for e in control.google_events(USER)[USER]] == ["flobooking0001"]

    listed = (
        cal.events()
        .list(calendarId="primary", timeMin="2030-02-01T00:00:00Z", timeMax="2030-02-02T00:00:00Z", singleEvents=True)
        .execute()
    )
    assert [e["id"] for e in listed["items"]] == ["flobooking0001"]

    cal.events().delete(calendarId="primary", eventId="flobooking0001").execute()
    with pytest.raises(HttpError) as deleted:
        cal.events().delete(calendarId="primary", eventId="flobooking0001").execute()
    assert deleted.value.resp.status == 410
    with pytest.raises(HttpError) as never:
        cal.events().delete(calendarId="primary", eventId="neverexisted1").execute()
    assert never.value.resp.status == 404
    assert control.google_events() == {}
    with pytest.raises(HttpError) as again:
        cal.events().insert(calendarId="primary", body=_event("flobooking0001")).execute()
    assert again.value.resp.status == 409


def test_meet_only_with_conference_data_version_1(cal: Any) -> None:
    conference = {"createRequest": {"requestId": "req-2", "conferenceSolutionKey": {"type": "hangoutsMeet"}}}
    plain = cal.events().insert(calendarId="primary", body=_event(conferenceData=conference)).execute()
    assert "hangoutLink" not in plain and "conferenceData" not in plain


@pytest.mark.parametrize("event_id", ["abcd", "UPPERCASE1", "has-dash-99", "wxyz12345"])
def test_custom_ids_must_be_base32hex(cal: Any, event_id: str) -> None:
    with pytest.raises(HttpError) as refused:
        cal.events().insert(calendarId="primary", body=_event(event_id)).execute()
    assert refused.value.resp.status == 400


def test_freebusy_merges_events_and_busy_blocks(cal: Any, control: SandboxControl) -> None:
    cal.events().insert(calendarId="primary", body=_event()).execute()
    cancelled = (
        cal.events()
        .insert(
            calendarId="primary",
            body=_event(start={"dateTime": "2030-02-01T14:00:00Z"}, end={"dateTime": "2030-02-01T15:00:00Z"}),
        )
        .execute()
    )
    cal.events().delete(calendarId="primary", eventId=cancelled["id"]).execute()
    control.add_busy(USER, "2030-02-01T09:20:00+00:00", "2030-02-01T09:45:00+00:00")
    control.add_busy(USER, "2030-02-01T18:00:00+00:00", "2030-02-01T19:00:00+00:00")
    body = {
        "timeMin": "2030-02-01T00:00:00Z",
        "timeMax": "2030-02-01T18:30:00Z",
        "items": [{"id": "primary"}, {"id": "nobody@example.com"}],
    }
    answer = cal.freebusy().query(body=body).execute()
    assert answer["calendars"]["primary"]["busy"] == [
        {"start": "2030-02-01T09:00:00Z", "end": "2030-02-01T09:45:00Z"},
        {"start": "2030-02-01T18:00:00Z", "end": "2030-02-01T18:30:00Z"},
    ]
    assert answer["calendars"]["nobody@example.com"]["errors"][0]["reason"] == "notFound"
    control.clear_busy(USER)
    cleared = cal.freebusy().query(body=body).execute()
    assert cleared["calendars"]["primary"]["busy"] == [{"start": "2030-02-01T09:00:00Z", "end": "2030-02-01T09:30:00Z"}]


def test_freebusy_refuses_more_than_90_days(cal: Any) -> None:
    body = {"timeMin": "2030-01-01T00:00:00Z", "timeMax": "2030-04-02T00:00:00Z", "items": [{"id": "primary"}]}
    with pytest.raises(HttpError) as refused:
        cal.freebusy().query(body=body).execute()
    assert refused.value.resp.status == 400
    assert refused.value.error_details[0]["reason"] == "timeRangeTooLong"
    assert "too long" in str(refused.value)


def test_second_offline_consent_without_prompt_gives_no_refresh_token(base_url: str, token: dict[str, Any]) -> None:
    flow = _flow(base_url, SCOPES)
    url, _ = flow.authorization_url(access_type="offline")
    again = flow.fetch_token(authorization_response=authorize(url, USER).replace("http://", "https://"))
    assert "refresh_token" not in again
    assert connect(base_url)["refresh_token"] != token["refresh_token"]
