import json
import logging
import re
import socket
from datetime import UTC, datetime, tzinfo
from typing import Any

import httplib2
import pytest

from shared.providers.errors import ErrorKind, ProviderError
from shared.providers.google_calendar import GoogleCalendarClient, event_id_for
from shared.providers.models import CalendarEvent, EventSpec
from tests.fakes.clock import FakeClock

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
START = datetime(2025, 6, 2, 15, 0, tzinfo=UTC)
END = datetime(2025, 6, 2, 16, 0, tzinfo=UTC)
API = "http://google.test/calendar/v3/"


class FakeHttp:
    """An httplib2.Http stand-in: records each request, answers from a script of (status, body[, headers])."""

    timeout = 10
    follow_redirects = True

    def __init__(self, script: list[tuple[Any, ...]], log: list[dict[str, Any]]) -> None:
        self.script = script
        self.log = log

    def request(self, uri: str, method: str = "GET", body: Any = None, headers: Any = None, **_: Any) -> Any:
        self.log.append({"uri": uri, "method": method, "body": body, "headers": dict(headers or {})})
        status, answer, *extra_headers = self.script.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        content = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
        headers = {"status": status, "content-type": "application/json", **(extra_headers[0] if extra_headers else {})}
        return httplib2.Response(headers), content


def calendar(*script: tuple[Any, ...]) -> tuple[GoogleCalendarClient, list[dict[str, Any]]]:
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


def test_an_event_reads_every_field() -> None:
    answer = event_answer(hangoutLink="https://meet.google.com/aaa", location="Room 1", status="tentative")
    client, _ = calendar((200, answer))
    assert client.get_event("tok", "abc") == CalendarEvent(
        id="abc",
        status="tentative",
        hangout_link="https://meet.google.com/aaa",
        meet_pending=False,
        start=START,
        end=END,
        summary="Session",
        description="Join",
        location="Room 1",
    )


def test_an_event_missing_its_optional_fields_reads_as_confirmed_and_empty() -> None:
    all_day = {"id": "abc", "start": {"date": "2025-06-02"}, "end": {"date": "2025-06-03"}}
    client, _ = calendar((200, all_day))
    assert client.get_event("tok", "abc") == CalendarEvent("abc", "confirmed", None, False, None, None, "", "", None)


def test_without_a_hangout_link_the_first_video_entry_point_is_the_meet() -> None:
    entry_points = [
        {"entryPointType": "phone", "uri": "tel:+1-555-0100"},
        {"entryPointType": "video", "uri": "https://meet.google.com/vvv"},
    ]
    client, _ = calendar((200, event_answer(conferenceData={"entryPoints": entry_points})))
    assert client.get_event("tok", "abc").hangout_link == "https://meet.google.com/vvv"


def test_an_event_without_an_id_is_an_unexpected_google_shape() -> None:
    client, _ = calendar((200, {"status": "confirmed"}))
    with pytest.raises(ProviderError) as caught:
        client.get_event("tok", "abc")
    error = caught.value
    assert (error.kind, error.provider, error.status, error.detail) == (
        ErrorKind.BAD_REQUEST,
        "google",
        None,
        "unexpected event shape",
    )


def test_insert_sends_the_whole_event_in_its_zone_and_tells_no_guest() -> None:
    client, log = calendar((200, event_answer()))
    client.insert_event("tok", spec(with_meet=False, location="https://zoom.us/j/1"))
    assert "sendUpdates=none" in log[0]["uri"]
    assert json.loads(log[0]["body"]) == {
        "id": event_id_for("b1"),
        "summary": "Session",
        "description": "Join",
        "location": "https://zoom.us/j/1",
        "start": {"dateTime": "2025-06-02T17:00:00+02:00", "timeZone": "Europe/Paris"},
        "end": {"dateTime": "2025-06-02T18:00:00+02:00", "timeZone": "Europe/Paris"},
    }


def test_patch_with_meet_asks_for_the_same_conference_and_tells_no_guest() -> None:
    client, log = calendar((200, event_answer()))
    client.patch_event("tok", spec(with_meet=True))
    assert "sendUpdates=none" in log[0]["uri"]
    request = json.loads(log[0]["body"])["conferenceData"]["createRequest"]
    assert request == {"requestId": event_id_for("b1"), "conferenceSolutionKey": {"type": "hangoutsMeet"}}


def test_calls_read_no_discovery_cache(caplog: pytest.LogCaptureFixture) -> None:
    """The bundled discovery document is the only one used: no cache is looked for (nor warned about) per call."""
    caplog.set_level(logging.DEBUG)
    client, _ = calendar((200, event_answer()))
    client.get_event("tok", "abc")
    assert [r.name for r in caplog.records if r.name.startswith("googleapiclient.discovery_cache")] == []


@pytest.mark.parametrize(("retry_after", "wait"), [("7", 7), ("Sun, 01 Jun 2025 12:01:00 GMT", 60)])
def test_an_error_answer_keeps_its_retry_after_header(retry_after: str, wait: float) -> None:
    limited = {"error": {"code": 429, "errors": [{"reason": "rateLimitExceeded"}]}}
    client, _ = calendar((429, limited, {"retry-after": retry_after}))
    with pytest.raises(ProviderError) as caught:
        client.get_event("tok", "abc")
    assert (caught.value.kind, caught.value.retry_after) == (ErrorKind.RATE_LIMITED, wait)


def test_a_network_failure_names_its_type_and_google() -> None:
    client, _ = calendar((0, TimeoutError("timed out")))
    with pytest.raises(ProviderError) as caught:
        client.get_event("tok", "abc")
    assert (caught.value.provider, caught.value.detail) == ("google", "TimeoutError talking to google")


@pytest.mark.usefixtures("far_from_utc_local_zone")
def test_event_and_busy_times_are_read_in_utc_whatever_the_local_zone() -> None:
    busy = {"calendars": {"primary": {"busy": [{"start": "2025-06-02T10:00:00+02:00", "end": "2025-06-02T11:00:00Z"}]}}}
    client, _ = calendar((200, event_answer()), (200, busy))
    event = client.get_event("tok", "abc")
    ranges = client.free_busy("tok", START, END)
    utc = [event.start, event.end, *ranges[0]]
    assert [t.isoformat() if t else None for t in utc] == [
        "2025-06-02T15:00:00+00:00",
        "2025-06-02T16:00:00+00:00",
        "2025-06-02T08:00:00+00:00",
        "2025-06-02T11:00:00+00:00",
    ]


def test_free_busy_asks_for_the_whole_window() -> None:
    client, log = calendar((200, {}))
    client.free_busy("tok", START, END)
    body = json.loads(log[0]["body"])
    assert (body["timeMin"], body["timeMax"]) == (START.isoformat(), END.isoformat())


@pytest.mark.parametrize("answer", [{}, {"calendars": {}}, {"calendars": {"primary": {}}}])
def test_free_busy_without_busy_ranges_is_free(answer: dict[str, Any]) -> None:
    client, _ = calendar((200, answer))
    assert client.free_busy("tok", START, END) == []


@pytest.mark.parametrize(
    ("reasons", "kind"),
    [(["notFound"], ErrorKind.BAD_REQUEST), (["internalError", "notFound"], ErrorKind.TRANSIENT)],
)
def test_free_busy_calendar_errors_name_their_reasons(reasons: list[str], kind: ErrorKind) -> None:
    answer = {"calendars": {"primary": {"errors": [{"reason": reason} for reason in reasons]}}}
    client, _ = calendar((200, answer))
    with pytest.raises(ProviderError) as caught:
        client.free_busy("tok", START, END)
    error = caught.value
    assert (error.kind, error.provider, error.detail) == (kind, "google", f"freeBusy errors {sorted(reasons)}")


@pytest.mark.parametrize("naive", ["start", "end"])
def test_free_busy_names_the_naive_bound(naive: str) -> None:
    client, log = calendar()
    bounds = {"start": START, "end": END, naive: datetime(2025, 6, 2, 15, 0)}
    with pytest.raises(ValueError, match=f"^{naive} must be timezone-aware$"):
        client.free_busy("tok", bounds["start"], bounds["end"])
    assert log == []


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (datetime(2025, 6, 2, 15, 0), END, "start must be timezone-aware"),
        (START, datetime(2025, 6, 2, 16, 0), "end must be timezone-aware"),
        (START, START, "end must be after start"),
    ],
)
def test_an_event_spec_says_what_is_wrong_with_its_times(start: datetime, end: datetime, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        EventSpec("abcde", "s", "d", None, start, end, "UTC", False)
    assert str(caught.value) == message


class _NoOffset(tzinfo):
    """A zone that cannot say its offset: a time in it is no instant."""

    def utcoffset(self, dt: datetime | None) -> None:
        return None

    def dst(self, dt: datetime | None) -> None:
        return None

    def tzname(self, dt: datetime | None) -> None:
        return None


def test_a_time_whose_zone_has_no_offset_is_not_an_instant() -> None:
    with pytest.raises(ValueError) as caught:
        EventSpec("abcde", "s", "d", None, datetime(2025, 6, 2, 15, 0, tzinfo=_NoOffset()), END, "UTC", False)
    assert str(caught.value) == "start must be timezone-aware"
