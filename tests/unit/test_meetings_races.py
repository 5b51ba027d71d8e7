"""The meetings worker when things overlap: a create whose answer was lost or that Zoom lists late, a cancel
after an insert whose answer was lost, a redelivery after the creator connected Zoom, and a worker that
outlasted its lease while another took over. Each interleaving is set up by the fakes, never by timing."""

from __future__ import annotations

from datetime import timedelta

from shared.meetings.reconcile import HEARTBEAT_SECONDS, LEASE_TTL, zoom_marker
from shared.store.lease import LEASES, Lease, renew_lease
from shared.store.port import DocStore
from tests.fakes.providers import BusyZoom, FakeZoom
from tests.fakes.store import FakeDocStore
from tests.unit.test_meetings_harness import MeetingsHarness, local


def test_a_lost_create_that_zoom_lists_late_ends_with_one_tracked_meeting() -> None:
    h = MeetingsHarness(zoom=FakeZoom(list_lag=1))
    h.connect("zoom")
    booking_id = h.book(local(3, 10))
    h.zoom.lose_next_answer("create_meeting")

    assert h.deliver(booking_id).status_code == 503  # made at Zoom, but the answer timed out
    assert h.deliver(booking_id).status_code == 503  # not listed yet: a second one is made, the first found
    doc = h.settle(booking_id)

    [meeting] = h.live_meetings()
    assert doc["zoom"]["meeting_id"] == meeting.id
    assert doc["meeting_url"] == meeting.join_url
    assert doc["zoom_intent"] is None
    assert meeting.agenda.split("\n")[0] == zoom_marker(booking_id)
    assert h.zoom.calls.count("create_meeting") == 2
    assert h.link_events() == [{"type": "link.ready", "booking_id": booking_id, "revision": 1}]


def test_a_cancel_deletes_the_google_event_whose_insert_answer_was_lost() -> None:
    h = MeetingsHarness()
    h.connect("google")
    booking_id = h.book(local(3, 10))
    h.calendar.lose_next_answer("insert_event")
    assert h.deliver(booking_id).status_code == 503
    assert h.doc(booking_id)["google_event"] is None
    event = h.event_of(booking_id)
    assert event is not None and event.status == "confirmed"  # made, never recorded

    h.bookings.cancel(booking_id, by="fan")
    h.settle(booking_id)

    event = h.event_of(booking_id)
    assert event is not None and event.status == "cancelled"
    assert h.settle(booking_id)["status"] == "cancelled"  # gone already is done


def test_a_google_only_booking_redelivered_after_zoom_was_connected_keeps_its_meet_link() -> None:
    h = MeetingsHarness()
    h.connect("google")
    booking_id = h.book(local(3, 10))
    meet = h.settle(booking_id)["meeting_url"]
    assert meet and meet.startswith("https://meet.google.com/")

    h.connect("zoom")
    doc = h.settle(booking_id)

    assert (doc["meeting_url"], doc["video_provider"], doc["link_status"]) == (meet, "google_meet", "ready")
    assert h.live_meetings() == []
    assert h.link_events() == [{"type": "link.ready", "booking_id": booking_id, "revision": 1}]


def test_a_worker_that_outlasted_its_lease_writes_nothing_and_leaves_no_second_meeting() -> None:
    check_a_worker_past_its_lease_is_fenced(FakeDocStore())


def check_a_worker_past_its_lease_is_fenced(store: DocStore) -> None:
    """Also run on the Firestore emulator: the lease, its takeover and the fenced writes are store transactions."""
    zoom = BusyZoom()
    h = MeetingsHarness(zoom=zoom, store=store)
    h.connect("zoom")
    booking_id = h.book(local(3, 10))
    other: list[int] = []

    def stall_while_another_worker_takes_over() -> None:
        h.clock.advance(LEASE_TTL + timedelta(seconds=1))
        other.append(h.deliver(booking_id).status_code)

    zoom.during = stall_while_another_worker_takes_over
    assert h.deliver(booking_id).status_code == 503  # fenced: its lease was taken over

    assert other == [200]
    [meeting] = h.live_meetings()
    doc = h.doc(booking_id)
    assert doc["zoom"]["meeting_id"] == meeting.id and doc["meeting_url"] == meeting.join_url
    assert h.link_events() == [{"type": "link.ready", "booking_id": booking_id, "revision": 1}]


WORST_RECONCILE = timedelta(minutes=6)
"""Two token waits (45 s each) and eight provider calls at their worst (30 s each), with room to spare."""


def test_a_reconcile_taking_its_worst_time_keeps_the_lease_its_heartbeat_renews() -> None:
    zoom = BusyZoom()
    h = MeetingsHarness(zoom=zoom)
    h.connect("zoom")
    booking_id = h.book(local(3, 10))
    other: list[int] = []

    def slowest_reconcile() -> None:
        lease_id = f"meetings-{booking_id}"
        lease = Lease(lease_id, h.store.get(LEASES, lease_id)["holder"])  # type: ignore[index]
        beat = timedelta(seconds=HEARTBEAT_SECONDS)
        for _ in range(int(WORST_RECONCILE / beat)):  # what the worker's heartbeat does every 10 s
            h.clock.advance(beat)
            assert renew_lease(h.store, lease, h.clock.now(), LEASE_TTL)
        other.append(h.deliver(booking_id).status_code)

    zoom.during = slowest_reconcile
    doc = h.settle(booking_id)

    assert other == [503]  # the second worker stood back
    [meeting] = h.live_meetings()
    assert doc["meeting_url"] == meeting.join_url
