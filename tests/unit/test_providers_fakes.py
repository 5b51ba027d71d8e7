from datetime import UTC, datetime, timedelta

import pytest

from shared.providers.errors import ErrorKind, ProviderError
from shared.providers.models import EventSpec, MeetingSpec
from shared.providers.oauth import pkce_pair
from shared.providers.ports import CalendarProvider, OAuthProvider, VideoProvider
from tests.fakes.clock import FakeClock
from tests.fakes.providers import FakeGoogleCalendar, FakeOAuthProvider, FakeZoom

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def test_fakes_satisfy_the_ports() -> None:
    video: VideoProvider = FakeZoom()
    calendar: CalendarProvider = FakeGoogleCalendar()
    oauth: OAuthProvider = FakeOAuthProvider("zoom", FakeClock(NOW))
    assert video and calendar and oauth.name == "zoom"


def test_fake_oauth_checks_pkce_single_use_codes_and_rotates() -> None:
    provider = FakeOAuthProvider("zoom", FakeClock(NOW), granted_scopes=frozenset({"meeting:write"}))
    verifier, challenge = pkce_pair()
    provider.authorize_url("https://flo.test/cb", "state-1", challenge)
    code = provider.consent("state-1")
    tokens = provider.exchange_code(code, "https://flo.test/cb", verifier)
    assert tokens.expires_at == NOW + timedelta(hours=1)
    assert provider.account_email(tokens.access_token) == "creator@example.com"
    with pytest.raises(ProviderError):
        provider.exchange_code(code, "https://flo.test/cb", verifier)
    provider.authorize_url("https://flo.test/cb", "state-2", challenge)
    with pytest.raises(ProviderError):  # the token endpoint wants the redirect URI the consent was asked with
        provider.exchange_code(provider.consent("state-2"), "https://flo.test/other", verifier)
    rotated = provider.refresh(tokens.refresh_token)
    assert rotated.refresh_token != tokens.refresh_token
    with pytest.raises(ProviderError) as caught:
        provider.refresh(tokens.refresh_token)
    assert caught.value.kind is ErrorKind.REVOKED


def test_fake_oauth_wrong_verifier_and_revoke() -> None:
    provider = FakeOAuthProvider("google", FakeClock(NOW), rotate_refresh_tokens=False)
    _, challenge = pkce_pair()
    provider.authorize_url("u", "s", challenge)
    with pytest.raises(ProviderError):
        provider.exchange_code(provider.consent("s"), "u", "wrong-verifier")
    verifier, challenge = pkce_pair()
    provider.authorize_url("u", "s2", challenge)
    tokens = provider.exchange_code(provider.consent("s2"), "u", verifier)
    assert provider.refresh(tokens.refresh_token).refresh_token == tokens.refresh_token
    provider.revoke(tokens.refresh_token)
    with pytest.raises(ProviderError) as caught:
        provider.refresh(tokens.refresh_token)
    assert caught.value.kind is ErrorKind.REVOKED


def test_fake_zoom_injected_failures_then_normal() -> None:
    zoom = FakeZoom()
    spec = MeetingSpec("t", "[flo:b1]" + "x" * 400, NOW, 30, "UTC")
    zoom.fail_next(ProviderError(ErrorKind.TRANSIENT, "zoom", 503), times=2)
    for _ in range(2):
        with pytest.raises(ProviderError):
            zoom.create_meeting("tok", spec)
    meeting = zoom.create_meeting("tok", spec)
    assert zoom.calls == ["create_meeting"] * 3
    assert list(zoom.meetings) == [meeting.id]
    assert len(zoom.list_meetings("tok")[0].agenda) == 250
    zoom.delete_meeting("tok", meeting.id)
    with pytest.raises(ProviderError) as caught:
        zoom.delete_meeting("tok", meeting.id)
    assert caught.value.kind is ErrorKind.NOT_FOUND


def test_fake_calendar_follows_googles_id_rules() -> None:
    calendar = FakeGoogleCalendar()
    spec = EventSpec("abcde", "s", "d", None, NOW, NOW + timedelta(hours=1), "UTC", with_meet=True)
    event = calendar.insert_event("tok", spec)
    assert event.hangout_link
    assert calendar.free_busy("tok", NOW - timedelta(hours=1), NOW + timedelta(hours=2)) == [
        (NOW, NOW + timedelta(hours=1))
    ]
    with pytest.raises(ProviderError) as conflict:
        calendar.insert_event("tok", spec)
    assert conflict.value.kind is ErrorKind.CONFLICT
    calendar.delete_event("tok", "abcde")
    assert calendar.get_event("tok", "abcde").status == "cancelled"
    assert calendar.free_busy("tok", NOW - timedelta(hours=1), NOW + timedelta(hours=2)) == []
    with pytest.raises(ProviderError) as gone:
        calendar.delete_event("tok", "abcde")
    assert gone.value.kind is ErrorKind.NOT_FOUND
