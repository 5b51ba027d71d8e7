import json
import re
import socket
from datetime import UTC, datetime
from typing import Any

import httplib2
import pytest

from shared.providers.errors import ErrorKind, ProviderError
from shared.providers.google_calendar import GoogleCalendarClient, event_id_for
from shared.providers.models import EventSpec
from tests.fakes.clock import FakeClock

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
START = datetime(2025, 6, 2, 15, 0, tzinfo=UTC)
END = datetime(2025, 6, 2, 16, 0, tzinfo=UTC)
API = "http://google.test/calendar/v3/"


class FakeHttp:
    """An httplib2.Http stand-in: records each request, answers from a script."""

    timeout = 10
    follow_redirects = True

    def __init__(self, script: list[tuple[int, Any]], log: list[dict[str, Any]]) -> None:
        self.script = script
        self.log = log

    def request(self, uri: str, method: str = "GET", body: Any = None, headers: Any = None, **_: Any) -> Any:
        self.log.append({"uri": uri, "method": method, "body": body, "headers": dict(headers or {})})
        status, answer = self.script.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        content = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
        return httplib2.Response({"status": status, "content-type": "application/json"}), content


def calendar(*script: tuple[int, Any]) -> tuple[GoogleCalendarClient, list[dict[str, Any]]]:
    log: list[dict[str, Any]] = []
    steps = list(script)
    return GoogleCalendarClient(API, lambda: FakeHttp(steps, log), FakeClock(NOW)), log


def event_answer(**extra: Any) -> dict[str, Any]:
    return {
        "id": "abc",
        "status": "confirmed",
        "summary": "Session",
        "description": "Join",
        "start": {"dateTime": "2025-06-02T17:00:00+02:00", "timeZone": "Europe/Paris"},
        "end": {"dateTime": "2025-06-02T18:00:00+02:00", "timeZone": "Europe/Paris"},
        **extra,
    }


def spec(with_meet: bool, location: str | None = None) -> EventSpec:
    return EventSpec(
        event_id=event_id_for("b1"),
        summary="Session",
        description="Join",
        location=location,
        start=START,
        end=END,
        timezone="Europe/Paris",
        with_meet=with_meet,
    )


def test_event_id_is_deterministic_base32hex() -> None:
    first = event_id_for("booking-1")
    assert first == event_id_for("booking-1")
    assert first != event_id_for("booking-2")
    assert re.fullmatch(r"[0-9a-v]{5,1024}", first)


def test_insert_with_meet_asks_for_a_conference() -> None:
    meet = {
        "createRequest": {"requestId": "x", "status": {"statusCode": "success"}},
        "entryPoints": [{"entryPointType": "video", "uri": "https://meet.google.com/aaa-bbbb-ccc"}],
    }
    client, log = calendar((200, event_answer(hangoutLink="https://meet.google.com/aaa-bbbb-ccc", conferenceData=meet)))
    event = client.insert_event("tok", spec(with_meet=True))
    (request,) = log
    assert request["method"] == "POST"
    assert request["uri"].startswith(API + "calendars/primary/events?")
    assert "conferenceDataVersion=1" in request["uri"]
    assert "tok" not in request["uri"]
    assert request["headers"]["authorization"] == "Bearer tok"
    body = json.loads(request["body"])
    assert body["id"] == event_id_for("b1")
    assert body["start"] == {"dateTime": "2025-06-02T17:00:00+02:00", "timeZone": "Europe/Paris"}
    assert body["conferenceData"]["createRequest"]["conferenceSolutionKey"] == {"type": "hangoutsMeet"}
    assert body["conferenceData"]["createRequest"]["requestId"] == event_id_for("b1")
    assert event.hangout_link == "https://meet.google.com/aaa-bbbb-ccc"
    assert event.start == START
    assert not event.meet_pending


def test_insert_without_meet_sends_no_conference_and_puts_zoom_in_location() -> None:
    client, log = calendar((200, event_answer(location="https://zoom.us/j/1")))
    event = client.insert_event("tok", spec(with_meet=False, location="https://zoom.us/j/1"))
    body = json.loads(log[0]["body"])
    assert "conferenceData" not in body
    assert "conferenceDataVersion" not in log[0]["uri"]
    assert body["location"] == "https://zoom.us/j/1"
    assert event.hangout_link is None


def test_pending_meet_is_reported() -> None:
    pending = {"createRequest": {"requestId": "x", "status": {"statusCode": "pending"}}}
    client, _ = calendar((200, event_answer(conferenceData=pending)))
    assert client.insert_event("tok", spec(with_meet=True)).meet_pending


def test_repeat_insert_is_conflict() -> None:
    duplicate = {
        "error": {
            "code": 409,
            "message": "The requested identifier already exists.",
            "errors": [{"reason": "duplicate"}],
        }
    }
    client, _ = calendar((409, duplicate))
    with pytest.raises(ProviderError) as caught:
        client.insert_event("tok", spec(with_meet=False))
    assert caught.value.kind is ErrorKind.CONFLICT


def test_patch_without_meet_removes_the_conference() -> None:
    client, log = calendar((200, event_answer(location="https://zoom.us/j/2")))
    client.patch_event("tok", spec(with_meet=False, location="https://zoom.us/j/2"))
    request = log[0]
    assert request["method"] == "PATCH"
    assert f"calendars/primary/events/{event_id_for('b1')}?" in request["uri"]
    assert "conferenceDataVersion=1" in request["uri"]
    assert json.loads(request["body"])["conferenceData"] is None


@pytest.mark.parametrize("status", [404, 410])
def test_delete_of_a_gone_event_is_not_found(status: int) -> None:
    gone = {"error": {"code": status, "message": "Resource has been deleted", "errors": [{"reason": "deleted"}]}}
    client, log = calendar((204, b""), (status, gone))
    client.delete_event("tok", "abc")
    with pytest.raises(ProviderError) as caught:
        client.delete_event("tok", "abc")
    assert caught.value.kind is ErrorKind.NOT_FOUND
    assert log[0]["method"] == "DELETE"
    assert "sendUpdates=none" in log[0]["uri"]


def test_401_is_not_refreshed_by_the_library_but_classified() -> None:
    client, log = calendar(
        (401, {"error": {"code": 401, "message": "Invalid Credentials", "errors": [{"reason": "authError"}]}})
    )
    with pytest.raises(ProviderError) as caught:
        client.get_event("tok", "abc")
    assert caught.value.kind is ErrorKind.UNAUTHORIZED
    assert len(log) == 1


def test_rate_limit_and_retry_after() -> None:
    limited = {"error": {"code": 429, "message": "Too Many Requests", "errors": [{"reason": "rateLimitExceeded"}]}}
    client, _ = calendar((429, limited))
    with pytest.raises(ProviderError) as caught:
        client.get_event("tok", "abc")
    assert caught.value.kind is ErrorKind.RATE_LIMITED


@pytest.mark.parametrize(
    "failure",
    [TimeoutError("timed out"), ConnectionRefusedError(), socket.gaierror(), httplib2.ServerNotFoundError("x")],
)
def test_network_failures_are_transient(failure: BaseException) -> None:
    client, _ = calendar((0, failure))
    with pytest.raises(ProviderError) as caught:
        client.get_event("tok", "abc")
    assert caught.value.kind is ErrorKind.TRANSIENT


def test_free_busy_queries_primary_and_returns_utc_ranges() -> None:
    answer = {
        "kind": "calendar#freeBusy",
        "calendars": {"primary": {"busy": [{"start": "2025-06-02T10:00:00+02:00", "end": "2025-06-02T11:00:00Z"}]}},
    }
    client, log = calendar((200, answer))
    busy = client.free_busy("tok", START, END)
    assert busy == [(datetime(2025, 6, 2, 8, 0, tzinfo=UTC), datetime(2025, 6, 2, 11, 0, tzinfo=UTC))]
    assert log[0]["uri"].startswith(API + "freeBusy")
    body = json.loads(log[0]["body"])
    assert body["items"] == [{"id": "primary"}]
    assert body["timeMin"] == START.isoformat()


def test_free_busy_calendar_errors_are_raised() -> None:
    answer = {"calendars": {"primary": {"busy": [], "errors": [{"domain": "global", "reason": "backendError"}]}}}
    client, _ = calendar((200, answer))
    with pytest.raises(ProviderError) as caught:
        client.free_busy("tok", START, END)
    assert caught.value.kind is ErrorKind.TRANSIENT


def test_event_spec_validation() -> None:
    with pytest.raises(ValueError, match="after"):
        EventSpec("abcde", "s", "d", None, END, START, "UTC", False)
