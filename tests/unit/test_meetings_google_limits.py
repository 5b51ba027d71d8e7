"""Google's slow and limited sides: a Meet that Google reports `pending` is looked for again until the link
deadline instead of the booking settling with no link, and "Calendar usage limits exceeded" pauses the
creator's Google calls (with one notice) instead of every redelivery trying again."""

from __future__ import annotations

from datetime import timedelta

from shared.meetings.google_pause import GOOGLE_WRITE_PAUSE
from shared.providers.errors import ErrorKind, ProviderError
from tests.unit.test_meetings_harness import LINK_DEADLINE, MeetingsHarness, local

USAGE_LIMITS = ProviderError(ErrorKind.USAGE_LIMITED, "google", 403, None, "['quotaExceeded']: usage limits")


def test_a_pending_meet_is_looked_for_again_until_its_link_is_there() -> None:
    h = MeetingsHarness()
    h.connect("google")
    h.calendar.meet_pending_reads = 2
    booking_id = h.book(local(3, 10))

    first = h.deliver(booking_id)
    recorded = h.doc(booking_id)
    second = h.deliver(booking_id)
    doc = h.settle(booking_id)

    assert (first.status_code, second.status_code) == (503, 503)
    assert first.get_json()["error"]["code"] == "retry_later"
    assert recorded["link_status"] == "pending" and recorded["google_event"]["meet_url"] is None
    assert h.calendar.calls.count("insert_event") == 1  # then only reads: no second Meet is asked for
    assert h.calendar.calls.count("get_event") == 2
    assert "patch_event" not in h.calendar.calls
    event = h.event_of(booking_id)
    assert event is not None and event.hangout_link is not None
    assert (doc["link_status"], doc["video_provider"], doc["meeting_url"]) == (
        "ready",
        "google_meet",
        event.hangout_link,
    )
    assert h.link_events() == [{"type": "link.ready", "booking_id": booking_id, "revision": 1}]


def test_a_meet_still_pending_at_the_link_deadline_settles_without_a_link() -> None:
    h = MeetingsHarness()
    h.connect("google")
    h.calendar.meet_pending_reads = 1000
    booking_id = h.book(local(3, 10))
    assert h.deliver(booking_id).status_code == 503

    h.clock.advance(LINK_DEADLINE + timedelta(seconds=1))
    doc = h.settle(booking_id)

    assert (doc["link_status"], doc["meeting_url"]) == ("unavailable", None)
    assert doc["google_event"] is not None  # the event stays in the creator's calendar
    assert h.link_events() == [{"type": "link.unavailable", "booking_id": booking_id, "revision": 1}]


def test_usage_limits_pause_the_creators_google_calls_and_say_so_once() -> None:
    h = MeetingsHarness()
    h.connect("google")
    h.calendar.fail_next(USAGE_LIMITS)
    refused = h.book(local(3, 10))

    doc = h.settle(refused)  # a pause longer than the link deadline: decided at once, not retried
    calls = len(h.calendar.calls)
    during = h.settle(h.book(local(3, 11)))

    assert (doc["link_status"], during["link_status"]) == ("unavailable", "unavailable")
    assert len(h.calendar.calls) == calls  # the paused creator's next booking asked Google nothing
    [notice] = h.notices()
    assert notice["kind"] == "google_writes_paused"
    assert "usage limits" in notice["message"]

    h.clock.advance(GOOGLE_WRITE_PAUSE)
    after = h.settle(h.book(local(3, 12)))
    assert (after["link_status"], after["video_provider"]) == ("ready", "google_meet")
    assert len(h.notices()) == 1


def test_with_zoom_too_usage_limits_leave_the_zoom_link_and_skip_the_event() -> None:
    h = MeetingsHarness()
    h.connect("zoom", "google")
    h.calendar.fail_next(USAGE_LIMITS)
    booking_id = h.book(local(3, 10))

    doc = h.settle(booking_id)

    [meeting] = h.live_meetings()
    assert (doc["video_provider"], doc["meeting_url"]) == ("zoom", meeting.join_url)
    assert doc["google_event"] is None and h.live_events() == []


def test_a_short_pause_named_by_google_is_waited_out_by_redelivery() -> None:
    h = MeetingsHarness()
    h.connect("google")
    h.calendar.fail_next(ProviderError(ErrorKind.USAGE_LIMITED, "google", 429, 60.0, "['quotaExceeded']"))
    booking_id = h.book(local(3, 10))

    assert h.deliver(booking_id).status_code == 503
    calls = len(h.calendar.calls)
    assert h.deliver(booking_id).status_code == 503  # still paused: Google is not asked
    assert len(h.calendar.calls) == calls
    h.clock.advance(timedelta(seconds=60))
    doc = h.settle(booking_id)

    assert (doc["link_status"], doc["video_provider"]) == ("ready", "google_meet")
