import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from shared.providers.errors import ErrorKind, ProviderError
from shared.providers.models import MeetingSpec, ZoomMeeting, ZoomUser
from shared.providers.zoom import ZoomClient
from tests.fakes.clock import FakeClock

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
MEETING = {
    "id": 85746065123,
    "join_url": "https://us05web.zoom.us/j/85746065123?pwd=x",
    "start_url": "https://us05web.zoom.us/s/85746065123?zak=SECRET",
    "start_time": "2025-06-02T07:00:00Z",
    "duration": 45,
    "timezone": "America/New_York",
    "topic": "Session with Ann",
    "agenda": "[flo:b1] Coaching",
}


class Recorder:
    def __init__(self, *answers: httpx.Response) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answers.pop(0)

    def client(self) -> ZoomClient:
        return ZoomClient("http://zoom.test/v2/", httpx.Client(transport=httpx.MockTransport(self)), FakeClock(NOW))


def spec(start: datetime, timezone: str = "America/New_York") -> MeetingSpec:
    return MeetingSpec(
        topic="Session with Ann", agenda="[flo:b1] Coaching", start=start, duration_minutes=45, timezone=timezone
    )


def sent_json(request: httpx.Request) -> Any:
    return json.loads(request.content)


def test_create_meeting_sends_scheduled_wall_time_in_creator_zone() -> None:
    rec = Recorder(httpx.Response(201, json=MEETING))
    meeting = rec.client().create_meeting("tok", spec(datetime(2025, 6, 2, 7, 0, tzinfo=UTC)))
    request = rec.requests[0]
    assert request.method == "POST"
    assert str(request.url) == "http://zoom.test/v2/users/me/meetings"
    assert request.headers["Authorization"] == "Bearer tok"
    assert "tok" not in str(request.url)
    assert sent_json(request) == {
        "topic": "Session with Ann",
        "type": 2,
        "start_time": "2025-06-02T03:00:00",
        "timezone": "America/New_York",
        "duration": 45,
        "agenda": "[flo:b1] Coaching",
    }
    assert meeting.id == 85746065123
    assert meeting.start_time == datetime(2025, 6, 2, 7, 0, tzinfo=UTC)
    assert meeting.duration_minutes == 45
    assert "SECRET" not in repr(meeting)


def test_ambiguous_wall_time_at_dst_fold_is_sent_in_utc() -> None:
    rec = Recorder(httpx.Response(201, json=MEETING))
    # 01:30 on 2 Nov 2025 happens twice in New York; the second one is 06:30 UTC.
    rec.client().create_meeting("tok", spec(datetime(2025, 11, 2, 6, 30, tzinfo=UTC)))
    assert sent_json(rec.requests[0])["start_time"] == "2025-11-02T06:30:00Z"


def test_spec_validation() -> None:
    with pytest.raises(ValueError, match="aware"):
        spec(datetime(2025, 6, 2, 7, 0))
    with pytest.raises(ValueError, match="timezone"):
        spec(datetime(2025, 6, 2, 7, 0, tzinfo=UTC), timezone="Mars/Olympus")
    with pytest.raises(ValueError, match="2000"):
        MeetingSpec("t", "x" * 2001, NOW, 30, "UTC")


def test_delete_meeting_and_already_deleted_is_not_found() -> None:
    gone = httpx.Response(404, json={"code": 3001, "message": "Meeting does not exist: 85746065123."})
    rec = Recorder(httpx.Response(204), gone)
    client = rec.client()
    client.delete_meeting("tok", 85746065123)
    with pytest.raises(ProviderError) as caught:
        client.delete_meeting("tok", 85746065123)
    assert caught.value.kind is ErrorKind.NOT_FOUND
    assert [r.method for r in rec.requests] == ["DELETE", "DELETE"]
    assert str(rec.requests[0].url) == "http://zoom.test/v2/meetings/85746065123"


def test_expired_token_is_unauthorized() -> None:
    rec = Recorder(httpx.Response(401, json={"code": 124, "message": "Invalid access token."}))
    with pytest.raises(ProviderError) as caught:
        rec.client().get_meeting("tok", 1)
    assert caught.value.kind is ErrorKind.UNAUTHORIZED


def test_daily_limit_on_create() -> None:
    message = "You have exceeded the daily rate limit (100) of Meeting Create/Update API requests"
    rec = Recorder(httpx.Response(429, json={"code": 429, "message": message}))
    with pytest.raises(ProviderError) as caught:
        rec.client().create_meeting("tok", spec(datetime(2025, 6, 2, 7, 0, tzinfo=UTC)))
    assert caught.value.kind is ErrorKind.RATE_LIMITED
    assert caught.value.retry_after == 12 * 3600


def test_timeout_is_transient() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    client = ZoomClient("http://zoom.test/v2", httpx.Client(transport=httpx.MockTransport(slow)), FakeClock(NOW))
    with pytest.raises(ProviderError) as caught:
        client.get_me("tok")
    assert caught.value.kind is ErrorKind.TRANSIENT


def test_get_me() -> None:
    rec = Recorder(httpx.Response(200, json={"id": "u1", "email": "h@example.com", "timezone": "UTC", "pmi": 1}))
    user = rec.client().get_me("tok")
    assert (user.id, user.email, user.timezone) == ("u1", "h@example.com", "UTC")
    assert str(rec.requests[0].url) == "http://zoom.test/v2/users/me"


def test_list_meetings_follows_pages_and_keeps_agenda() -> None:
    listed = {k: MEETING[k] for k in ("id", "join_url", "start_time", "duration", "timezone", "topic", "agenda")}
    first = {"page_size": 300, "next_page_token": "P2", "meetings": [listed]}
    second = {"page_size": 300, "next_page_token": "", "meetings": [{**listed, "id": 2, "agenda": None}]}
    rec = Recorder(httpx.Response(200, json=first), httpx.Response(200, json=second))
    meetings = rec.client().list_meetings("tok")
    assert [m.id for m in meetings] == [85746065123, 2]
    assert meetings[0].agenda.startswith("[flo:b1]")
    assert meetings[1].agenda == ""
    assert dict(rec.requests[0].url.params) == {"type": "scheduled", "page_size": "300"}
    assert dict(rec.requests[1].url.params) == {"type": "scheduled", "page_size": "300", "next_page_token": "P2"}


def test_unexpected_meeting_shape_is_a_provider_error() -> None:
    rec = Recorder(httpx.Response(200, json={"topic": "no id"}))
    with pytest.raises(ProviderError) as caught:
        rec.client().get_meeting("tok", 5)
    assert caught.value.kind is ErrorKind.BAD_REQUEST


def test_every_call_sends_the_token_and_asks_for_json_at_its_own_method_and_path() -> None:
    listed = {"meetings": [], "next_page_token": ""}
    rec = Recorder(
        httpx.Response(200, json={"id": "u1"}),
        httpx.Response(201, json=MEETING),
        httpx.Response(200, json=MEETING),
        httpx.Response(204),
        httpx.Response(200, json=listed),
    )
    client = rec.client()
    client.get_me("tok")
    client.create_meeting("tok", spec(datetime(2025, 6, 2, 7, 0, tzinfo=UTC)))
    client.get_meeting("tok", 7)
    client.delete_meeting("tok", 7)
    client.list_meetings("tok")
    sent = [(r.method, r.url.path, r.headers["Authorization"], r.headers["Accept"]) for r in rec.requests]
    assert sent == [
        ("GET", "/v2/users/me", "Bearer tok", "application/json"),
        ("POST", "/v2/users/me/meetings", "Bearer tok", "application/json"),
        ("GET", "/v2/meetings/7", "Bearer tok", "application/json"),
        ("DELETE", "/v2/meetings/7", "Bearer tok", "application/json"),
        ("GET", "/v2/users/me/meetings", "Bearer tok", "application/json"),
    ]


def test_only_trailing_slashes_leave_the_api_url() -> None:
    rec = Recorder(httpx.Response(200, json={"id": "u1"}))
    ZoomClient("http://zoom.test/APIX//", httpx.Client(transport=httpx.MockTransport(rec))).get_me("tok")
    assert str(rec.requests[0].url) == "http://zoom.test/APIX/users/me"


ZOOM_READS: list[Callable[[ZoomClient], object]] = [
    lambda client: client.get_me("tok"),
    lambda client: client.create_meeting("tok", spec(datetime(2025, 6, 2, 7, 0, tzinfo=UTC))),
    lambda client: client.get_meeting("tok", 7),
    lambda client: client.list_meetings("tok"),
]


@pytest.mark.parametrize("call", ZOOM_READS, ids=["get_me", "create_meeting", "get_meeting", "list_meetings"])
def test_a_success_that_is_not_a_json_object_is_a_transient_zoom_error(call: Callable[[ZoomClient], object]) -> None:
    with pytest.raises(ProviderError) as caught:
        call(Recorder(httpx.Response(200, text="<html>proxy</html>")).client())
    error = caught.value
    assert (error.kind, error.provider, error.status, error.detail) == (
        ErrorKind.TRANSIENT,
        "zoom",
        200,
        "answer was not a JSON object",
    )


def test_a_user_without_id_email_or_zone_reads_as_empty() -> None:
    assert Recorder(httpx.Response(200, json={})).client().get_me("tok") == ZoomUser(id="", email=None, timezone=None)


def test_a_meeting_reads_every_field_and_defaults_the_missing_ones() -> None:
    rec = Recorder(httpx.Response(200, json=MEETING), httpx.Response(200, json={"id": "3", "join_url": "https://j/3"}))
    client = rec.client()
    assert client.get_meeting("tok", 1) == ZoomMeeting(
        id=85746065123,
        join_url="https://us05web.zoom.us/j/85746065123?pwd=x",
        start_time=datetime(2025, 6, 2, 7, 0, tzinfo=UTC),
        duration_minutes=45,
        timezone="America/New_York",
        topic="Session with Ann",
        agenda="[flo:b1] Coaching",
    )
    assert client.get_meeting("tok", 3) == ZoomMeeting(3, "https://j/3", None, 0, None, "", "")


@pytest.mark.usefixtures("far_from_utc_local_zone")
def test_meeting_start_times_read_and_sent_in_utc_whatever_the_local_zone() -> None:
    rec = Recorder(httpx.Response(200, json=MEETING), httpx.Response(201, json=MEETING))
    client = rec.client()
    start = client.get_meeting("tok", 1).start_time
    assert start is not None and start.isoformat() == "2025-06-02T07:00:00+00:00"
    client.create_meeting("tok", spec(datetime(2025, 11, 2, 6, 30, tzinfo=UTC)))  # at the DST fold: sent in UTC
    assert sent_json(rec.requests[1])["start_time"] == "2025-11-02T06:30:00Z"


def test_a_meeting_without_a_join_url_is_an_unexpected_zoom_shape() -> None:
    rec = Recorder(httpx.Response(200, json={"id": 1}))
    with pytest.raises(ProviderError) as caught:
        rec.client().get_meeting("tok", 1)
    error = caught.value
    assert (error.kind, error.provider, error.status, error.detail) == (
        ErrorKind.BAD_REQUEST,
        "zoom",
        None,
        "unexpected meeting shape",
    )


def test_a_timeout_names_its_type_and_zoom() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    client = ZoomClient("http://zoom.test/v2", httpx.Client(transport=httpx.MockTransport(slow)), FakeClock(NOW))
    with pytest.raises(ProviderError) as caught:
        client.get_me("tok")
    assert (caught.value.provider, caught.value.detail) == ("zoom", "ReadTimeout talking to zoom")


@pytest.mark.parametrize(
    ("duration", "topic", "agenda"), [(1, "t" * 200, "a" * 2000), (1440, "t", "a")], ids=["shortest", "longest"]
)
def test_a_meeting_spec_accepts_zooms_limits_themselves(duration: int, topic: str, agenda: str) -> None:
    assert MeetingSpec(topic, agenda, NOW, duration, "UTC").duration_minutes == duration


@pytest.mark.parametrize(
    ("duration", "topic", "agenda", "message"),
    [
        (0, "t", "a", "duration_minutes must be 1..1440"),
        (1441, "t", "a", "duration_minutes must be 1..1440"),
        (30, "t" * 201, "a", "Zoom topics are at most 200 characters"),
        (30, "t", "a" * 2001, "Zoom agendas are at most 2000 characters"),
    ],
)
def test_a_meeting_spec_past_zooms_limits_says_which(duration: int, topic: str, agenda: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        MeetingSpec(topic, agenda, NOW, duration, "UTC")
    assert str(caught.value) == message


def test_a_meeting_spec_with_a_naive_start_says_so() -> None:
    with pytest.raises(ValueError) as caught:
        spec(datetime(2025, 6, 2, 7, 0))
    assert str(caught.value) == "start must be timezone-aware"
