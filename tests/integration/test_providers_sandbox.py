"""The provider layer against the provider sandbox: real HTTP, real OAuth, real googleapiclient."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httplib2
import httpx
import pytest

from devstack.sandbox import SandboxServer
from devstack.sandbox.client import SandboxControl, authorize
from devstack.sandbox.conformance import ENV_VAR, ZoomOpenAPI
from shared.providers.errors import ErrorKind, ProviderError, retry_once_after_refresh
from shared.providers.google_calendar import GoogleCalendarClient, event_id_for
from shared.providers.models import EventSpec, MeetingSpec, TokenSet
from shared.providers.oauth import GoogleOAuth, ZoomOAuth, missing_scopes, pkce_pair
from shared.providers.urls import ProviderUrls
from shared.providers.zoom import ZoomClient

pytestmark = pytest.mark.integration

REDIRECT = "http://127.0.0.1:9/oauth/callback"
HOST = "host@example.com"
START = (datetime.now(UTC) + timedelta(days=3)).replace(hour=14, minute=0, second=0, microsecond=0)
# The reference documents live beside the project (read only); ZOOM_OPENAPI_DIR overrides.
DEFAULT_OPENAPI_DIR = Path(__file__).resolve().parents[3] / "shared" / "reference" / "zoom"


@pytest.fixture
def urls(sandbox_server: SandboxServer, control: SandboxControl) -> ProviderUrls:
    return ProviderUrls.from_env({"PROVIDER_SANDBOX_URL": sandbox_server.url})


@pytest.fixture
def sent() -> list[httpx.Request]:
    return []


@pytest.fixture
def http(sent: list[httpx.Request]) -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0, event_hooks={"request": [sent.append]}) as client:
        yield client


@pytest.fixture
def zoom_oauth(urls: ProviderUrls, http: httpx.Client) -> ZoomOAuth:
    return ZoomOAuth(urls, "flo-zoom-client", "flo-zoom-secret", http)


@pytest.fixture
def google_oauth(urls: ProviderUrls, http: httpx.Client) -> GoogleOAuth:
    return GoogleOAuth(urls, "flo-google-client", "flo-google-secret", http)


@pytest.fixture
def calendar(urls: ProviderUrls) -> GoogleCalendarClient:
    return GoogleCalendarClient(urls.google_calendar_api, lambda: httplib2.Http(timeout=5))


def connect(oauth: ZoomOAuth | GoogleOAuth, user: str, granted: list[str] | None = None) -> TokenSet:
    """The browser round trip: authorize URL, consent page, redirect back with code and state."""
    verifier, challenge = pkce_pair()
    location = authorize(oauth.authorize_url(REDIRECT, "state-123", challenge), user, granted_scopes=granted)
    params = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert location.startswith(REDIRECT)
    assert params["state"] == "state-123"
    return oauth.exchange_code(params["code"], REDIRECT, verifier)


@contextmanager
def raises(kind: ErrorKind) -> Iterator[None]:
    with pytest.raises(ProviderError) as caught:
        yield
    assert caught.value.kind is kind, caught.value


def zoom_openapi() -> ZoomOpenAPI:
    folder = os.environ.get(ENV_VAR) or str(DEFAULT_OPENAPI_DIR)
    return ZoomOpenAPI(Path(folder))


def test_zoom_connect_meeting_lifecycle_and_rotation(
    zoom_oauth: ZoomOAuth, urls: ProviderUrls, http: httpx.Client, sent: list[httpx.Request], control: SandboxControl
) -> None:
    control.create_zoom_user(HOST, timezone="Europe/Berlin")
    tokens = connect(zoom_oauth, HOST)
    assert zoom_oauth.account_email(tokens.access_token) == HOST
    zoom = ZoomClient(urls.zoom_api, http)
    me = zoom.get_me(tokens.access_token)
    assert me.email == HOST and me.id

    spec = MeetingSpec("Session with Ann", "[flo:booking-1] 45 min coaching", START, 45, "America/New_York")
    meeting = zoom.create_meeting(tokens.access_token, spec)
    assert meeting.start_time == START
    assert meeting.duration_minutes == 45
    assert meeting.id > 2**31  # a 64-bit id survives intact
    create = next(r for r in sent if r.method == "POST" and r.url.path.endswith("/meetings"))
    zoom_openapi().validate_request("POST", "/users/me/meetings", json.loads(create.content))

    assert zoom.get_meeting(tokens.access_token, meeting.id) == meeting
    found = [m for m in zoom.list_meetings(tokens.access_token) if m.agenda.startswith("[flo:booking-1]")]
    assert [m.id for m in found] == [meeting.id]

    zoom.delete_meeting(tokens.access_token, meeting.id)
    assert control.zoom_meetings(HOST).get(HOST, []) == []
    with raises(ErrorKind.NOT_FOUND):
        zoom.delete_meeting(tokens.access_token, meeting.id)

    rotated = zoom_oauth.refresh(tokens.refresh_token)
    assert rotated.refresh_token != tokens.refresh_token
    assert zoom.get_me(rotated.access_token).email == HOST
    with raises(ErrorKind.REVOKED):
        zoom_oauth.refresh(tokens.refresh_token)
    assert all(token not in str(request.url) for request in sent for token in control.issued_tokens())


def test_zoom_list_pages_through_many_meetings(
    zoom_oauth: ZoomOAuth, urls: ProviderUrls, http: httpx.Client, control: SandboxControl
) -> None:
    control.settings(zoom_daily_write_limit=1000)
    tokens = connect(zoom_oauth, HOST)
    zoom = ZoomClient(urls.zoom_api, http)
    created = {
        zoom.create_meeting(tokens.access_token, MeetingSpec(f"m{i}", f"[flo:b{i}]", START, 30, "UTC")).id
        for i in range(305)
    }
    assert {m.id for m in zoom.list_meetings(tokens.access_token)} == created


def test_zoom_daily_limit_and_outage_are_classified(
    zoom_oauth: ZoomOAuth, urls: ProviderUrls, http: httpx.Client, control: SandboxControl
) -> None:
    control.settings(zoom_daily_write_limit=1, zoom_rate_limit_headers=False)
    tokens = connect(zoom_oauth, HOST)
    zoom = ZoomClient(urls.zoom_api, http)
    spec = MeetingSpec("t", "[flo:b]", START, 30, "UTC")
    zoom.create_meeting(tokens.access_token, spec)
    with pytest.raises(ProviderError) as limited:
        zoom.create_meeting(tokens.access_token, spec)
    assert limited.value.kind is ErrorKind.RATE_LIMITED
    assert limited.value.retry_after is not None and 0 < limited.value.retry_after <= 86400

    control.add_fault("zoom", r"/users/me$", status=503, times=1)
    with raises(ErrorKind.TRANSIENT):
        zoom.get_me(tokens.access_token)
    assert zoom.get_me(tokens.access_token).email == HOST


def test_zoom_revoked_grant_is_revoked_after_one_refresh(
    zoom_oauth: ZoomOAuth, urls: ProviderUrls, http: httpx.Client, control: SandboxControl
) -> None:
    tokens = connect(zoom_oauth, HOST)
    zoom = ZoomClient(urls.zoom_api, http)
    control.revoke("zoom", HOST)
    with raises(ErrorKind.UNAUTHORIZED):
        zoom.get_me(tokens.access_token)
    with raises(ErrorKind.REVOKED):
        retry_once_after_refresh(
            zoom.get_me, tokens.access_token, lambda: zoom_oauth.refresh(tokens.refresh_token).access_token
        )


def test_zoom_expired_access_token_recovers_with_a_refresh(
    zoom_oauth: ZoomOAuth, urls: ProviderUrls, http: httpx.Client, control: SandboxControl
) -> None:
    tokens = connect(zoom_oauth, HOST)
    zoom = ZoomClient(urls.zoom_api, http)
    control.expire_access_tokens("zoom")
    me = retry_once_after_refresh(
        zoom.get_me, tokens.access_token, lambda: zoom_oauth.refresh(tokens.refresh_token).access_token
    )
    assert me.email == HOST


def test_zoom_revoke_is_idempotent(zoom_oauth: ZoomOAuth, control: SandboxControl) -> None:
    tokens = connect(zoom_oauth, HOST)
    zoom_oauth.revoke(tokens.refresh_token)
    zoom_oauth.revoke(tokens.refresh_token)
    with raises(ErrorKind.REVOKED):
        zoom_oauth.refresh(tokens.refresh_token)


def test_google_connect_event_lifecycle(
    google_oauth: GoogleOAuth, calendar: GoogleCalendarClient, control: SandboxControl
) -> None:
    tokens = connect(google_oauth, HOST)
    assert missing_scopes(google_oauth.required_scopes, tokens) == frozenset()
    assert google_oauth.account_email(tokens.access_token) == HOST
    token = tokens.access_token

    spec = EventSpec(
        event_id=event_id_for("booking-1"),
        summary="Session with Ann",
        description="Booked on Flo",
        location=None,
        start=START,
        end=START + timedelta(minutes=45),
        timezone="Europe/Paris",
        with_meet=True,
    )
    event = calendar.insert_event(token, spec)
    assert event.id == spec.event_id
    assert event.hangout_link is not None and event.hangout_link.startswith("https://meet.google.com/")
    assert (event.start, event.end) == (spec.start, spec.end)
    with raises(ErrorKind.CONFLICT):
        calendar.insert_event(token, spec)

    control.add_busy(HOST, (START - timedelta(hours=3)).isoformat(), (START - timedelta(hours=2)).isoformat())
    busy = calendar.free_busy(token, START - timedelta(hours=4), START + timedelta(hours=4))
    assert (START - timedelta(hours=3), START - timedelta(hours=2)) in busy
    assert (spec.start, spec.end) in busy

    moved = EventSpec(
        spec.event_id,
        spec.summary,
        "Join: https://zoom.us/j/1",
        "https://zoom.us/j/1",
        START + timedelta(days=1),
        START + timedelta(days=1, minutes=45),
        spec.timezone,
        with_meet=True,
    )
    patched = calendar.patch_event(token, moved)
    assert patched.start == moved.start
    assert patched.hangout_link == event.hangout_link  # the same requestId never makes a second Meet
    assert calendar.get_event(token, spec.event_id).location == "https://zoom.us/j/1"

    calendar.delete_event(token, spec.event_id)
    with raises(ErrorKind.NOT_FOUND):
        calendar.delete_event(token, spec.event_id)
    with raises(ErrorKind.NOT_FOUND):
        calendar.delete_event(token, event_id_for("never-booked"))

    refreshed = google_oauth.refresh(tokens.refresh_token)
    assert refreshed.refresh_token == tokens.refresh_token
    assert refreshed.access_token != tokens.access_token


def test_google_unticked_permission_is_reported(google_oauth: GoogleOAuth, control: SandboxControl) -> None:
    granted = sorted(google_oauth.required_scopes - {"https://www.googleapis.com/auth/calendar.freebusy"})
    tokens = connect(google_oauth, HOST, granted=granted)
    assert missing_scopes(google_oauth.required_scopes, tokens) == {"https://www.googleapis.com/auth/calendar.freebusy"}


def test_google_revoked_grant(
    google_oauth: GoogleOAuth, calendar: GoogleCalendarClient, control: SandboxControl
) -> None:
    tokens = connect(google_oauth, HOST)
    control.revoke("google", HOST)
    with raises(ErrorKind.UNAUTHORIZED):
        calendar.get_event(tokens.access_token, event_id_for("b"))
    with raises(ErrorKind.REVOKED):
        retry_once_after_refresh(
            lambda t: calendar.get_event(t, event_id_for("b")),
            tokens.access_token,
            lambda: google_oauth.refresh(tokens.refresh_token).access_token,
        )


def test_google_disconnect_revokes_and_is_idempotent(google_oauth: GoogleOAuth, control: SandboxControl) -> None:
    tokens = connect(google_oauth, HOST)
    google_oauth.revoke(tokens.refresh_token)
    google_oauth.revoke(tokens.refresh_token)
    with raises(ErrorKind.REVOKED):
        google_oauth.refresh(tokens.refresh_token)


def test_google_outages_are_transient(
    google_oauth: GoogleOAuth, calendar: GoogleCalendarClient, control: SandboxControl
) -> None:
    tokens = connect(google_oauth, HOST)
    control.add_fault("google", r"/events/", status=503, times=1)
    with raises(ErrorKind.TRANSIENT):
        calendar.get_event(tokens.access_token, event_id_for("b"))
    # httplib2 quietly retries a dropped connection once, so the fault outlasts that retry.
    control.add_fault("google", r"/freeBusy", timeout_seconds=0.1, timeout_action="drop", times=3)
    with raises(ErrorKind.TRANSIENT):
        calendar.free_busy(tokens.access_token, START, START + timedelta(hours=1))
    control.add_fault("google", r"/token", status=500, times=1)
    with raises(ErrorKind.TRANSIENT):
        google_oauth.refresh(tokens.refresh_token)
