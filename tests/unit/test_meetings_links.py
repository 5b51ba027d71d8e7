"""Which link a confirmed booking gets, and how reschedules and cancellations move or remove it.

The product's "Zoom vs Google Meet", "Reschedules" and "Cancellations" tables, checked on the fakes'
live meetings and events and on the booking document.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.bookings.booking import CancelledBy
from shared.bookings.model import BOOKINGS
from shared.bookings.notices import ZOOM_DELETE_FAILED
from shared.bookings.sweeps import nudge_stuck_links
from shared.meetings.reconcile import zoom_marker
from shared.providers.errors import ErrorKind, ProviderError
from shared.providers.models import MeetingSpec, ZoomMeeting
from shared.store.lease import LEASES
from shared.store.port import update
from tests.fakes.providers import FakeZoom
from tests.unit.test_meetings_harness import (
    DURATION,
    FAN,
    LINK_DEADLINE,
    OFFER_TITLE,
    TIMEZONE,
    MeetingsHarness,
    local,
)

REVOKED = ProviderError(ErrorKind.REVOKED, "zoom", 400, None, "invalid_grant: Invalid Token!")


# ---- Zoom vs Google Meet --------------------------------------------------------------------------------


def test_zoom_only_schedules_one_meeting_and_no_calendar_event() -> None:
    h = MeetingsHarness()
    h.connect("zoom")
    start = local(3, 10)
    booking_id = h.book(start)

    doc = h.settle(booking_id)

    [meeting] = h.live_meetings()
    assert meeting.start_time == start
    assert meeting.timezone == TIMEZONE
    assert meeting.duration_minutes == DURATION
    assert meeting.topic == f"{OFFER_TITLE} with {FAN['name']}"
    assert doc["meeting_url"] == meeting.join_url
    assert doc["video_provider"] == "zoom"
    assert doc["link_status"] == "ready"
    assert doc["zoom"] == {"meeting_id": meeting.id, "join_url": meeting.join_url, "start": start}
    assert doc.get("zoom_intent") is None
    assert doc.get("google_event") is None
    assert h.calendar.events == {}
    assert h.calendar.calls == []
    assert h.link_events() == [{"type": "link.ready", "booking_id": booking_id, "revision": 1}]
    assert h.store.query(LEASES) == []


def test_google_only_creates_an_event_with_meet() -> None:
    h = MeetingsHarness()
    h.connect("google")
    start = local(3, 11)
    booking_id = h.book(start)

    doc = h.settle(booking_id)

    event = h.event_of(booking_id)
    assert event is not None
    assert event.status == "confirmed"
    assert event.hangout_link is not None
    assert event.start == start
    assert event.end == start + timedelta(minutes=DURATION)
    assert event.location is None
    assert h.live_meetings() == []
    assert h.zoom.calls == []
    assert doc["meeting_url"] == event.hangout_link
    assert doc["video_provider"] == "google_meet"
    assert doc["link_status"] == "ready"
    assert doc["google_event"]["meet_url"] == event.hangout_link
    assert h.link_events() == [{"type": "link.ready", "booking_id": booking_id, "revision": 1}]


def test_zoom_and_google_put_the_zoom_link_in_the_calendar_event() -> None:
    h = MeetingsHarness()
    h.connect("zoom", "google")
    start = local(3, 12)
    booking_id = h.book(start)

    doc = h.settle(booking_id)

    [meeting] = h.live_meetings()
    event = h.event_of(booking_id)
    assert event is not None
    assert event.hangout_link is None  # with_meet False: no separate Meet link
    assert event.location == meeting.join_url
    assert meeting.join_url in event.description
    assert event.start == start
    assert doc["meeting_url"] == meeting.join_url
    assert doc["video_provider"] == "zoom"
    assert doc["link_status"] == "ready"
    assert doc["google_event"]["zoom_url"] == meeting.join_url
    assert doc["google_event"]["meet_url"] is None


def test_neither_connected_settles_unavailable_and_says_so() -> None:
    h = MeetingsHarness()
    booking_id = h.book(local(3, 9))

    doc = h.settle(booking_id)

    assert doc["status"] == "confirmed"
    assert doc["link_status"] == "unavailable"
    assert doc["meeting_url"] is None
    assert doc["video_provider"] is None
    assert h.live_meetings() == []
    assert h.calendar.events == {}
    assert h.link_events() == [{"type": "link.unavailable", "booking_id": booking_id, "revision": 1}]
    # A redelivery changes nothing and announces nothing again.
    h.settle(booking_id)
    assert len(h.link_events()) == 1


# ---- paid sessions ----------------------------------------------------------------------------------------


def test_a_paid_booking_gets_its_meeting_only_after_payment() -> None:
    h = MeetingsHarness()
    h.connect("zoom", "google")
    start = local(3, 14)
    booking_id = h.book(start, paid=True)

    doc = h.settle(booking_id)

    assert doc["status"] == "pending_payment"
    assert doc["link_status"] == "pending"
    assert h.live_meetings() == []
    assert h.calendar.events == {}
    assert h.zoom.calls == []
    assert h.link_events() == []

    h.bookings.confirm_payment(booking_id)
    doc = h.settle(booking_id)

    [meeting] = h.live_meetings()
    assert meeting.start_time == start
    assert doc["meeting_url"] == meeting.join_url
    assert doc["link_status"] == "ready"
    assert h.link_events() == [{"type": "link.ready", "booking_id": booking_id, "revision": 2}]


# ---- reschedules -------------------------------------------------------------------------------------------


def test_a_reschedule_replaces_the_meeting_and_moves_the_event() -> None:
    h = MeetingsHarness()
    h.connect("zoom", "google")
    booking_id = h.book(local(3, 10))
    h.settle(booking_id)
    [old] = h.live_meetings()

    new_start = local(4, 15)
    h.bookings.reschedule(booking_id, new_start)
    assert h.doc(booking_id)["meeting_url"] is None  # cleared until the worker settles the new time
    doc = h.settle(booking_id)

    [new] = h.live_meetings()
    assert new.id != old.id
    assert old.id not in h.zoom.meetings
    assert new.start_time == new_start
    assert new.duration_minutes == DURATION
    assert doc["meeting_url"] == new.join_url
    assert doc["video_provider"] == "zoom"
    assert doc["link_status"] == "ready"
    event = h.event_of(booking_id)
    assert event is not None
    assert event.status == "confirmed"
    assert event.start == new_start
    assert event.location == new.join_url
    assert new.join_url in event.description
    assert old.join_url not in event.description
    assert h.calendar.calls.count("patch_event") == 1
    assert len(h.calendar.events) == 1
    assert h.link_events()[-1] == {"type": "link.ready", "booking_id": booking_id, "revision": 2}


def test_a_google_only_reschedule_moves_the_event_and_keeps_meet() -> None:
    h = MeetingsHarness()
    h.connect("google")
    booking_id = h.book(local(3, 10))
    first = h.settle(booking_id)

    new_start = local(5, 9)
    h.bookings.reschedule(booking_id, new_start)
    doc = h.settle(booking_id)

    event = h.event_of(booking_id)
    assert event is not None
    assert event.start == new_start
    assert event.hangout_link is not None
    assert doc["meeting_url"] == event.hangout_link == first["meeting_url"]
    assert doc["video_provider"] == "google_meet"
    assert doc["link_status"] == "ready"


# ---- cancellations -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("by", ["fan", "creator"])
def test_a_cancellation_deletes_the_meeting_and_the_event(by: CancelledBy) -> None:
    h = MeetingsHarness()
    h.connect("zoom", "google")
    booking_id = h.book(local(3, 10))
    h.settle(booking_id)
    assert len(h.live_meetings()) == 1

    h.bookings.cancel(booking_id, by=by)
    doc = h.settle(booking_id)

    assert doc["status"] == "cancelled"
    assert doc["cancelled_by"] == by
    assert h.live_meetings() == []
    assert doc["meeting_url"] is None
    assert doc["video_provider"] is None
    assert doc["zoom"] is None
    assert doc["google_event"] is None
    event = h.event_of(booking_id)
    assert event is not None
    assert event.status == "cancelled"
    assert h.live_events() == []
    assert h.notices() == []
    # Redelivered: nothing left to do, nothing fails.
    h.settle(booking_id)
    assert h.zoom.calls.count("delete_meeting") == 1


def test_a_cancellation_before_the_worker_ran_makes_nothing() -> None:
    h = MeetingsHarness()
    h.connect("zoom", "google")
    booking_id = h.book(local(3, 10))
    h.bookings.cancel(booking_id, by="fan")

    h.settle(booking_id)

    assert h.live_meetings() == []
    assert h.calendar.events == {}
    assert h.link_events() == []


def test_a_failed_zoom_delete_still_cancels_and_leaves_one_notice() -> None:
    h = MeetingsHarness()
    h.connect("zoom", "google")
    booking_id = h.book(local(3, 10))
    h.settle(booking_id)
    [meeting] = h.live_meetings()

    h.bookings.cancel(booking_id, by="fan")
    h.zoom.fail_next(REVOKED)
    doc = h.settle(booking_id)

    assert doc["status"] == "cancelled"
    assert doc["meeting_url"] is None
    assert doc["zoom"] is None
    assert h.connections.status(h.creator_id, "zoom") == "reconnect_required"
    # The meeting is still on Zoom; the creator is told which one.
    assert meeting.id in h.zoom.meetings
    [notice] = h.notices()
    assert notice["kind"] == "zoom_delete_failed"
    assert notice["meeting_id"] == str(meeting.id)
    assert notice["message"] == ZOOM_DELETE_FAILED == "We could not remove a Zoom meeting for a cancelled session"
    assert notice["creator_id"] == h.creator_id
    assert notice["booking_id"] == booking_id
    assert notice["dismissed"] is False
    # The Google event is removed all the same.
    assert h.live_events() == []

    for _ in range(3):
        h.settle(booking_id)
    assert len(h.notices()) == 1


def test_a_cancellation_after_zoom_was_disconnected_leaves_a_notice() -> None:
    h = MeetingsHarness()
    h.connect("zoom")
    booking_id = h.book(local(3, 10))
    h.settle(booking_id)
    [meeting] = h.live_meetings()

    h.connections.statuses[(h.creator_id, "zoom")] = "not_connected"
    h.bookings.cancel(booking_id, by="creator")
    doc = h.settle(booking_id)

    assert doc["status"] == "cancelled"
    assert doc["zoom"] is None
    [notice] = h.notices()
    assert notice["meeting_id"] == str(meeting.id)
    h.settle(booking_id)
    assert len(h.notices()) == 1


# ---- broken connections keep existing links ------------------------------------------------------------------


def test_existing_bookings_keep_their_links_when_zoom_access_is_revoked() -> None:
    h = MeetingsHarness()
    h.connect("zoom", "google")
    kept = h.book(local(3, 10))
    settled = h.settle(kept)
    [meeting] = h.live_meetings()

    # Access is revoked: the next booking's create finds out, and that booking falls back to Meet.
    h.zoom.fail_next(REVOKED)
    later = h.book(local(3, 13))
    fallback = h.settle(later)
    assert h.connections.status(h.creator_id, "zoom") == "reconnect_required"
    assert fallback["video_provider"] == "google_meet"
    assert fallback["link_status"] == "ready"

    events_before = list(h.link_events())
    again = h.settle(kept)

    assert again["meeting_url"] == settled["meeting_url"] == meeting.join_url
    assert again["video_provider"] == "zoom"
    assert again["link_status"] == "ready"
    assert again["zoom"] == settled["zoom"]
    assert again["google_event"] == settled["google_event"]
    assert h.live_meetings() == [meeting]
    assert h.link_events() == events_before


def test_a_reschedule_after_the_creator_deleted_the_calendar_event_still_settles() -> None:
    h = MeetingsHarness()
    h.connect("google")
    booking_id = h.book(local(3, 10))
    h.settle(booking_id)
    event = h.event_of(booking_id)
    assert event is not None
    h.calendar.delete_event("token", event.id)  # removed by hand in Google Calendar

    h.bookings.reschedule(booking_id, local(4, 11))
    doc = h.settle(booking_id)

    assert doc["link_status"] in ("ready", "unavailable")
    assert doc["link_revision"] == 2
    assert h.link_events()[-1]["revision"] == 2


def test_a_zoom_reschedule_after_the_creator_deleted_the_calendar_event_keeps_zoom() -> None:
    h = MeetingsHarness()
    h.connect("zoom", "google")
    booking_id = h.book(local(3, 10))
    h.settle(booking_id)
    event = h.event_of(booking_id)
    assert event is not None
    h.calendar.delete_event("token", event.id)

    h.bookings.reschedule(booking_id, local(4, 11))
    doc = h.settle(booking_id)

    [meeting] = h.live_meetings()
    assert doc["meeting_url"] == meeting.join_url
    assert doc["link_status"] == "ready"


@pytest.mark.parametrize("change", ["cancel", "reschedule"])
def test_a_change_whose_event_was_dead_lettered_is_cleaned_up_by_the_link_nudge(change: str) -> None:
    """Every delivery of the new revision's event was lost (workers killed until Pub/Sub dead-lettered it):
    the scheduler's nudge publishes it again, so the old meeting and event still go."""
    h = MeetingsHarness()
    h.connect("zoom", "google")
    booking_id = h.book(local(3, 10))
    h.settle(booking_id)
    (old_meeting,) = h.live_meetings()

    if change == "cancel":
        h.bookings.cancel(booking_id, by="fan")
    else:
        h.bookings.reschedule(booking_id, local(3, 14))
    assert nudge_stuck_links(h.runtime.bookings, h.runtime.outbox, h.clock.now()) == 0, "not due yet"
    h.clock.advance(LINK_DEADLINE + timedelta(minutes=2))
    h.publisher.published.clear()

    assert nudge_stuck_links(h.runtime.bookings, h.runtime.outbox, h.clock.now()) == 1
    revision = h.doc(booking_id)["revision"]
    assert h.booking_events() == [{"type": "booking.changed", "booking_id": booking_id, "revision": revision}]
    doc = h.settle(booking_id)

    assert old_meeting.id not in h.zoom.meetings
    assert doc["link_nudge_at"] is None, "the reconcile of the revision clears its timer"
    h.clock.advance(timedelta(hours=1))
    assert nudge_stuck_links(h.runtime.bookings, h.runtime.outbox, h.clock.now()) == 0, "nothing left to nudge"
    if change == "cancel":
        assert h.live_meetings() == []
        assert h.live_events() == []
    else:
        (moved,) = h.live_meetings()
        assert doc["zoom"]["meeting_id"] == moved.id
        event = h.event_of(booking_id)
        assert event is not None and event.start == local(3, 14)


class _RevokedOnceCreated(FakeZoom):
    """The grant is revoked right after Zoom made the meeting: every later list is refused, until restored."""

    revoked = False

    def create_meeting(self, token: str, spec: MeetingSpec) -> ZoomMeeting:
        made = super().create_meeting(token, spec)
        self.revoked = True
        return made

    def list_meetings(self, token: str) -> list[ZoomMeeting]:
        if self.revoked:
            raise REVOKED  # every token: a refused cached token is retried through the connection, and refused again
        return super().list_meetings(token)


def test_a_zoom_meeting_made_while_the_link_settled_on_meet_is_deleted_once_zoom_is_back() -> None:
    """After an earlier attempt (its intent outstanding, so Zoom must be listed), Zoom made the meeting, then the
    grant was revoked before Zoom listed it: the link settles on Meet and the fan is told Meet, so the recorded
    meeting is one nobody will join; it goes once Zoom can be reached again."""
    zoom = _RevokedOnceCreated()
    h = MeetingsHarness(zoom=zoom)
    h.connect("zoom", "google")
    booking_id = h.book(local(3, 10))
    h.store.commit([update(BOOKINGS, booking_id, {"zoom_intent": zoom_marker(booking_id)})])

    h.deliver(booking_id)
    doc = h.doc(booking_id)
    event = h.event_of(booking_id)
    assert event is not None and doc["meeting_url"] == event.hangout_link
    assert doc["zoom"] is not None and len(h.live_meetings()) == 1

    zoom.revoked = False
    h.connect("zoom")
    doc = h.settle(booking_id)

    assert h.live_meetings() == []
    assert doc["zoom"] is None
    assert doc["video_provider"] == "google_meet", "the link the fan was told stays"
    assert [e["type"] for e in h.link_events()] == ["link.ready"]
