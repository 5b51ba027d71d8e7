"""Reconcile, don't replay: duplicated and shuffled booking events leave exactly what the bookings say."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from shared.meetings.reconcile import zoom_marker
from shared.providers.models import MeetingSpec, ZoomMeeting
from shared.store.port import DocStore
from tests.fakes.providers import FakeZoom
from tests.unit.test_meetings_harness import MeetingsHarness, local


def _deliver_shuffled(h: MeetingsHarness, events: list[dict[str, Any]], rng: random.Random, copies: int) -> None:
    deliveries = [event for event in events for _ in range(copies)]
    rng.shuffle(deliveries)
    for event in deliveries:
        response = h.push(event)
        assert response.status_code == 200, response.get_data(as_text=True)


def _start_of(store: DocStore, booking_id: str) -> datetime:
    doc = store.get("bookings", booking_id)
    assert doc is not None
    start: datetime = doc["start"]
    return start


def _assert_linked(h: MeetingsHarness, booking_id: str, meetings_by_id: dict[int, ZoomMeeting]) -> None:
    """A confirmed booking has exactly its meeting and event, at its time, and the link recorded."""
    doc = h.doc(booking_id)
    meeting = meetings_by_id[doc["zoom"]["meeting_id"]]
    assert meeting.start_time == doc["start"] == _start_of(h.store, booking_id)
    assert meeting.agenda.split("\n")[0] == zoom_marker(booking_id)
    assert doc["meeting_url"] == meeting.join_url
    assert doc["video_provider"] == "zoom"
    assert doc["link_status"] == "ready"
    assert doc["link_revision"] == doc["revision"]
    event = h.event_of(booking_id)
    assert event is not None
    assert event.status == "confirmed"
    assert event.start == doc["start"]
    assert event.location == meeting.join_url


def _assert_unlinked(h: MeetingsHarness, booking_id: str, meetings: list[ZoomMeeting]) -> None:
    """A cancelled or unpaid booking has no meeting and no live event."""
    doc = h.doc(booking_id)
    assert doc["meeting_url"] is None
    assert doc.get("zoom") is None
    assert not any(m.agenda.split("\n")[0] == zoom_marker(booking_id) for m in meetings)
    event = h.event_of(booking_id)
    assert event is None or event.status == "cancelled"


@pytest.mark.parametrize("seed", [1, 7, 2026])
def test_duplicated_shuffled_events_leave_one_meeting_per_confirmed_booking(seed: int) -> None:
    rng = random.Random(seed)
    h = MeetingsHarness()
    h.connect("zoom", "google")

    free = [h.book(local(3, hour)) for hour in range(9, 16)]  # Tuesday 09:00..15:00
    paid = [h.book(local(4, hour), paid=True) for hour in (9, 10, 11)]  # Wednesday, held for payment
    # Some events are delivered before the changes, so some meetings exist and must be moved or removed.
    _deliver_shuffled(h, h.booking_events()[: len(free) // 2 + 2], rng, copies=1)

    h.bookings.confirm_payment(paid[0])
    h.bookings.confirm_payment(paid[1])  # paid[2] stays pending
    h.bookings.reschedule(free[0], local(5, 9))
    h.bookings.reschedule(free[1], local(5, 10))
    h.bookings.reschedule(free[1], local(5, 11))  # moved twice
    h.bookings.cancel(free[2], by="fan")
    h.bookings.cancel(free[3], by="creator")
    h.bookings.reschedule(paid[0], local(5, 14))
    h.bookings.reschedule(free[4], local(6, 9))
    h.bookings.cancel(free[4], by="fan")  # moved, then cancelled

    events = h.booking_events()
    assert len(events) == 10 + 10  # 10 bookings; 2 payments, 5 moves, 3 cancels
    _deliver_shuffled(h, events, rng, copies=3)

    every = free + paid
    confirmed = [b for b in every if h.doc(b)["status"] == "confirmed"]
    cancelled = [b for b in every if h.doc(b)["status"] == "cancelled"]
    assert sorted(cancelled) == sorted([free[2], free[3], free[4]])
    assert h.doc(paid[2])["status"] == "pending_payment"
    assert len(confirmed) == 6

    meetings = h.live_meetings()
    assert len(meetings) == len(confirmed)
    by_id = {m.id: m for m in meetings}
    for booking_id in confirmed:
        _assert_linked(h, booking_id, by_id)
    for booking_id in [*cancelled, paid[2]]:
        _assert_unlinked(h, booking_id, meetings)
    assert len(h.live_events()) == len(confirmed)
    assert h.notices() == []

    # Each booking's link is announced once per revision it settled at, never twice.
    announced = [(e["booking_id"], e["revision"]) for e in h.link_events()]
    assert len(announced) == len(set(announced))
    assert {b for b, _ in announced} >= set(confirmed)
    for booking_id in confirmed:
        assert (booking_id, h.doc(booking_id)["revision"]) in announced


class _ChangesDuringCreate(FakeZoom):
    """Zoom is slow: while it creates the meeting, the fan changes the booking."""

    def __init__(self) -> None:
        super().__init__()
        self.during_create: Callable[[], object] | None = None

    def create_meeting(self, token: str, spec: MeetingSpec) -> ZoomMeeting:
        meeting = super().create_meeting(token, spec)
        if self.during_create is not None:
            change, self.during_create = self.during_create, None
            change()
        return meeting


@pytest.mark.parametrize("change", ["cancel", "reschedule"])
def test_a_change_made_while_zoom_was_creating_is_not_overwritten(change: str) -> None:
    zoom = _ChangesDuringCreate()
    h = MeetingsHarness(zoom=zoom)
    h.connect("zoom")
    booking_id = h.book(local(3, 10))
    new_start = local(4, 10)
    if change == "cancel":
        zoom.during_create = lambda: h.bookings.cancel(booking_id, by="fan")
    else:
        zoom.during_create = lambda: h.bookings.reschedule(booking_id, new_start)

    h.settle(booking_id)  # the event for revision 1, reconciled while revision 2 was written

    doc = h.doc(booking_id)
    assert doc["revision"] == 2
    assert doc["meeting_url"] is None  # revision 1's link is not written onto revision 2
    assert doc["link_status"] == "pending"
    assert h.link_events() == []
    assert len(h.live_meetings()) == 1  # made, and recorded so the next reconcile can find it

    doc = h.settle(booking_id)

    meetings = h.live_meetings()
    if change == "cancel":
        assert meetings == []
        assert doc["meeting_url"] is None
    else:
        [meeting] = meetings
        assert meeting.start_time == new_start
        assert doc["meeting_url"] == meeting.join_url
        assert h.link_events() == [{"type": "link.ready", "booking_id": booking_id, "revision": 2}]
