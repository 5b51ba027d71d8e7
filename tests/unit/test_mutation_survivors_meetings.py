"""The meetings worker's edges that mutation testing found untested: which Zoom meeting is the booking's, the
deadlines each provider call waits for (and their exact ends), why a Zoom link was given up (the test booking
shows it), the calendar event's wording, a redelivery that changes nothing, and the heartbeat that keeps a slow
reconcile's lease."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TypeVar

from shared.bookings.booking import Fan
from shared.bookings.catalog import new_offer
from shared.meetings.google_pause import GoogleWritePause
from shared.meetings.quota import ZOOM_DAILY_WRITES, ZOOM_QUOTA, ZoomQuota
from shared.meetings.reconcile import DELETE_RETRY_WINDOW, LEASE_TTL, MeetingReconciler, RetryLater, zoom_marker
from shared.providers.errors import ErrorKind, Provider, ProviderError
from shared.providers.google_calendar import event_id_for
from shared.providers.models import MeetingSpec, ZoomMeeting
from shared.store.lease import LEASES
from shared.store.port import DocStore, Txn, put
from tests.fakes.providers import BusyZoom, FakeZoom
from tests.fakes.store import DelegatingStore
from tests.unit.test_meetings_harness import DURATION, FAN, LINK_DEADLINE, NOW, MeetingsHarness, local

T = TypeVar("T")
GOOGLE_429 = ProviderError(ErrorKind.RATE_LIMITED, "google", 429, 30.0, "rateLimitExceeded")
ZOOM_429 = ProviderError(ErrorKind.RATE_LIMITED, "zoom", 429, 30.0, "code 429: too many requests")
ZOOM_DOWN = ProviderError(ErrorKind.TRANSIENT, "zoom", 503, None, "service unavailable")
OWN_ZOOM = "https://zoom.us/j/5550001111?pwd=abc"
OWN_ROOM = "https://whereby.com/cee-room"


# ---- which Zoom meeting is the booking's ------------------------------------------------------------------------


def test_a_meeting_whose_agenda_the_creator_added_lines_to_is_still_found_as_the_bookings() -> None:
    h = MeetingsHarness()
    h.connect("zoom")
    booking_id = h.book(local(3, 10))
    h.zoom.lose_next_answer("create_meeting")
    assert h.deliver(booking_id).status_code == 503
    [made] = h.live_meetings()
    h.zoom.meetings[made.id] = replace(made, agenda=f"{made.agenda}\nNotes: bring the draft\nRoom 2")

    doc = h.settle(booking_id)

    assert h.live_meetings() == [h.zoom.meetings[made.id]]  # adopted, no second meeting made
    assert (doc["zoom"]["meeting_id"], doc["meeting_url"], doc["zoom_intent"]) == (made.id, made.join_url, None)
    assert h.zoom.calls.count("create_meeting") == 1


def test_a_lost_create_marked_with_an_attempt_id_is_adopted_and_other_sessions_meetings_are_left_alone() -> None:
    """Earlier releases put an attempt id after the marker; the account also holds other sessions' meetings."""
    h = MeetingsHarness()
    h.connect("zoom")
    other = h.book(local(3, 9))
    h.settle(other)
    [others] = h.live_meetings()
    booking_id = h.book(local(3, 10))
    h.zoom.lose_next_answer("create_meeting")
    assert h.deliver(booking_id).status_code == 503
    [made] = [m for m in h.live_meetings() if m.id != others.id]
    h.zoom.meetings[made.id] = replace(made, agenda=made.agenda.replace("\n", " attempt-1\n", 1))

    doc = h.settle(booking_id)

    assert (doc["zoom"]["meeting_id"], doc["zoom_intent"]) == (made.id, None)
    assert sorted(m.id for m in h.live_meetings()) == sorted([others.id, made.id])
    assert h.zoom.calls.count("create_meeting") == 2


def _marked_meeting(h: MeetingsHarness, booking_id: str, hour: int) -> ZoomMeeting:
    """A meeting made for the booking whose create answer never came back (it carries the booking's marker)."""
    agenda = f"{zoom_marker(booking_id)}\nBooked with Flo."
    spec = MeetingSpec("Coaching with Ada Lovelace", agenda, local(3, hour), DURATION, "Europe/Berlin")
    return h.zoom.create_meeting("token", spec)


def test_of_two_lost_creates_the_meeting_at_the_bookings_start_is_adopted_and_the_other_deleted() -> None:
    h = MeetingsHarness()
    h.connect("zoom")
    booking_id = h.book(local(3, 10))
    h.zoom.lose_next_answer("create_meeting")
    assert h.deliver(booking_id).status_code == 503  # a meeting at 10:00, its answer lost
    h.bookings.reschedule(booking_id, local(3, 14))
    at_new_start = _marked_meeting(h, booking_id, 14)  # and one at 14:00, made for the new revision
    creates = h.zoom.calls.count("create_meeting")

    doc = h.settle(booking_id)

    assert h.live_meetings() == [at_new_start]
    assert (doc["zoom"]["meeting_id"], doc["meeting_url"]) == (at_new_start.id, at_new_start.join_url)
    assert h.zoom.calls.count("create_meeting") == creates  # the one that fits is used, none made


def test_a_lost_create_never_listed_is_given_up_exactly_when_the_cleanup_window_ends() -> None:
    h = MeetingsHarness(zoom=FakeZoom(list_lag=1000))  # Zoom never lists it
    h.connect("zoom")
    booking_id = h.book(local(3, 10))
    h.zoom.lose_next_answer("create_meeting")
    assert h.deliver(booking_id).status_code == 503
    cancelled = h.bookings.cancel(booking_id, by="fan")
    h.clock.advance(cancelled.updated_at + DELETE_RETRY_WINDOW - timedelta(seconds=1) - h.clock.now())
    assert h.deliver(booking_id).status_code == 503  # it may still be listed: keep looking
    h.clock.advance(timedelta(seconds=1))  # the window's very end

    doc = h.settle(booking_id)

    assert doc["zoom_intent"] is None


def test_a_zoom_link_set_by_hand_replaces_flos_own_meeting() -> None:
    h = MeetingsHarness()
    h.connect("zoom")
    booking_id = h.book(local(3, 10))
    h.settle(booking_id)
    [flos] = h.live_meetings()

    h.bookings.set_link(h.creator_id, booking_id, OWN_ZOOM)  # the creator's own Zoom room: a Zoom link too
    doc = h.settle(booking_id)

    assert h.live_meetings() == []
    assert "delete_meeting" in h.zoom.calls and flos.id not in h.zoom.meetings
    assert (doc["meeting_url"], doc["video_provider"], doc.get("zoom")) == (OWN_ZOOM, "zoom", None)


def test_a_long_title_is_cut_to_zooms_200_character_topic() -> None:
    h = MeetingsHarness()
    h.connect("zoom")
    title = "Deep work session " * 12  # 216 characters
    offer_id = new_offer(h.store, h.creator_id, title, DURATION, 0, NOW)
    booking_id = h.bookings.book(offer_id, local(3, 10), Fan(**FAN)).booking_id

    h.settle(booking_id)

    [meeting] = h.live_meetings()
    assert meeting.topic == f"{title} with Ada Lovelace"[:200]
    assert len(meeting.topic) == 200


# ---- deadlines -------------------------------------------------------------------------------------------------


def test_a_rate_limit_whose_wait_ends_exactly_at_the_deadline_falls_back_at_once() -> None:
    h = MeetingsHarness()
    h.connect("zoom")
    booking_id = h.book(local(3, 10))
    wait = LINK_DEADLINE.total_seconds()
    h.zoom.fail_next(ProviderError(ErrorKind.RATE_LIMITED, "zoom", 429, wait, "code 429: daily limit reached"))

    doc = h.settle(booking_id)  # retrying would land on the deadline itself: too late for the link

    assert (doc["link_status"], doc["zoom_failed_revision"], doc["zoom_failed_reason"]) == (
        "unavailable",
        1,
        "zoom rate_limited",
    )


def test_a_google_pause_ending_exactly_at_the_deadline_is_not_waited_for() -> None:
    h = MeetingsHarness()
    h.connect("google")
    booking_id = h.book(local(3, 10))
    wait = LINK_DEADLINE.total_seconds()
    h.calendar.fail_next(ProviderError(ErrorKind.USAGE_LIMITED, "google", 403, wait, "usageLimits"))

    doc = h.settle(booking_id)

    assert (doc["link_status"], doc["meeting_url"]) == ("unavailable", None)
    [notice] = h.notices()
    assert (notice["kind"], notice["creator_id"], notice["created_at"]) == ("google_writes_paused", h.creator_id, NOW)


def test_a_meet_still_pending_exactly_at_the_deadline_settles_without_a_link() -> None:
    h = MeetingsHarness()
    h.connect("google")
    h.calendar.meet_pending_reads = 1000
    booking_id = h.book(local(3, 10))
    assert h.deliver(booking_id).status_code == 503
    h.clock.advance(h.doc(booking_id)["link_deadline_at"] - h.clock.now())

    doc = h.settle(booking_id)

    assert (doc["link_status"], doc["meeting_url"]) == ("unavailable", None)


def test_a_short_rate_limit_on_moving_the_event_is_retried_and_the_meet_kept() -> None:
    h = MeetingsHarness()
    h.connect("google")
    booking_id = h.book(local(3, 10))
    meet = h.settle(booking_id)["meeting_url"]
    h.bookings.reschedule(booking_id, local(3, 14))
    h.calendar.fail_next(GOOGLE_429)

    assert h.deliver(booking_id).status_code == 503
    h.clock.advance(timedelta(seconds=30))
    doc = h.settle(booking_id)

    event = h.event_of(booking_id)
    assert event is not None and event.start == local(3, 14)
    assert (doc["link_status"], doc["meeting_url"]) == ("ready", event.hangout_link)
    assert meet == event.hangout_link


def test_a_short_rate_limit_while_looking_for_a_pending_meet_is_retried() -> None:
    h = MeetingsHarness()
    h.connect("google")
    h.calendar.meet_pending_reads = 1
    booking_id = h.book(local(3, 10))
    assert h.deliver(booking_id).status_code == 503  # Google is still making the Meet
    h.calendar.fail_next(GOOGLE_429)

    assert h.deliver(booking_id).status_code == 503
    h.clock.advance(timedelta(seconds=30))
    doc = h.settle(booking_id)

    event = h.event_of(booking_id)
    assert event is not None and event.hangout_link is not None
    assert (doc["link_status"], doc["meeting_url"]) == ("ready", event.hangout_link)


def test_a_short_rate_limit_on_the_cancel_of_the_event_is_retried_not_given_up() -> None:
    h = MeetingsHarness()
    h.connect("google")
    booking_id = h.book(local(3, 10))
    h.settle(booking_id)
    h.bookings.cancel(booking_id, by="fan")
    h.calendar.fail_next(GOOGLE_429)

    assert h.deliver(booking_id).status_code == 503
    h.clock.advance(timedelta(seconds=30))
    doc = h.settle(booking_id)

    assert h.live_events() == []
    assert doc["google_event"] is None


def test_zooms_listing_down_past_the_link_deadline_decides_the_link_but_keeps_looking() -> None:
    h = MeetingsHarness(link_deadline=timedelta(minutes=5))  # shorter than the 15 min cleanup window
    h.connect("zoom", "google")
    booking_id = h.book(local(3, 10))
    h.zoom.lose_next_answer("create_meeting")
    assert h.deliver(booking_id).status_code == 503
    h.clock.advance(timedelta(minutes=5, seconds=1))
    h.zoom.fail_next(ZOOM_DOWN)

    assert h.deliver(booking_id).status_code == 503  # the lost create is still looked for

    doc = h.doc(booking_id)  # but the fan is not kept waiting past the link deadline
    assert (doc["link_status"], doc["video_provider"]) == ("ready", "google_meet")
    assert doc["zoom_failed_reason"] == "zoom transient"
    assert h.link_events() == [{"type": "link.ready", "booking_id": booking_id, "revision": 1}]


def test_zooms_listing_rate_limited_after_a_late_cancel_waits_and_keeps_the_cleanup_owed() -> None:
    h = MeetingsHarness(link_deadline=timedelta(minutes=5))
    h.connect("zoom")
    booking_id = h.book(local(3, 10))
    h.zoom.lose_next_answer("create_meeting")
    assert h.deliver(booking_id).status_code == 503
    h.clock.advance(timedelta(minutes=6))  # past the link deadline
    h.bookings.cancel(booking_id, by="fan")
    h.zoom.fail_next(ZOOM_429)

    assert h.deliver(booking_id).status_code == 503

    doc = h.doc(booking_id)
    assert doc["link_nudge_at"] is not None  # the cleanup is not done: the nudge still republishes it
    assert doc["zoom_failed_revision"] is None
    h.clock.advance(timedelta(seconds=30))
    h.settle(booking_id)
    assert h.live_meetings() == []


# ---- why Zoom was given up (the test booking's report shows it) ------------------------------------------------


def test_a_spent_zoom_budget_is_the_reason_recorded_and_the_notice_is_the_creators() -> None:
    h = MeetingsHarness()
    h.connect("zoom")
    today = NOW.date().isoformat()
    h.store.commit([put(ZOOM_QUOTA, f"{h.creator_id}_{today}", {"count": ZOOM_DAILY_WRITES})])

    doc = h.settle(h.book(local(3, 10)))

    assert doc["zoom_failed_reason"] == "zoom daily meeting limit spent"
    [notice] = h.notices()
    assert (notice["kind"], notice["creator_id"], notice["created_at"]) == ("zoom_quota_spent", h.creator_id, NOW)


def test_zoom_broken_between_the_status_read_and_the_token_read_gives_up_without_a_meeting_to_look_for() -> None:
    h = MeetingsHarness()
    h.connect("zoom")
    connections = h.connections
    status = connections.status

    def broken_right_after_reading(creator_id: str, provider: Provider) -> str:
        seen = status(creator_id, provider)
        if provider == "zoom" and seen == "connected":  # another worker's refresh found the grant revoked
            connections.statuses[(creator_id, provider)] = "reconnect_required"
        return seen

    connections.status = broken_right_after_reading  # type: ignore[assignment,method-assign]
    booking_id = h.book(local(3, 10))

    doc = h.settle(booking_id)

    assert h.zoom.calls == []
    assert (doc["link_status"], doc["zoom_intent"]) == ("unavailable", None)
    assert doc["zoom_failed_reason"] == "zoom is reconnect required"


# ---- the calendar event ---------------------------------------------------------------------------------------


def test_the_event_names_the_session_and_the_fan_and_says_how_to_join() -> None:
    h = MeetingsHarness()
    h.connect("zoom", "google")
    booking_id = h.book(local(3, 10))

    doc = h.settle(booking_id)

    event = h.event_of(booking_id)
    assert event is not None
    assert event.summary == "Coaching with Ada Lovelace"
    assert event.description == (
        f"Coaching with Ada Lovelace (ada@example.com), booked with Flo.\nJoin with Zoom: {doc['meeting_url']}"
    )
    assert doc["google_event"]["event_id"] == event.id == event_id_for(booking_id)

    h.bookings.set_link(h.creator_id, booking_id, OWN_ROOM)
    h.settle(booking_id)
    event = h.event_of(booking_id)
    assert event is not None
    assert event.description == f"Coaching with Ada Lovelace (ada@example.com), booked with Flo.\nJoin: {OWN_ROOM}"


def test_an_insert_whose_answer_was_lost_is_taken_over_by_a_patch_on_the_next_try() -> None:
    h = MeetingsHarness()
    h.connect("google")
    booking_id = h.book(local(3, 10))
    h.calendar.lose_next_answer("insert_event")
    assert h.deliver(booking_id).status_code == 503

    doc = h.settle(booking_id)

    assert h.calendar.calls == ["insert_event", "insert_event", "patch_event"]  # the id exists: patched instead
    [event] = h.live_events()
    assert event.hangout_link is not None
    assert (doc["link_status"], doc["meeting_url"]) == ("ready", event.hangout_link)


def test_a_reschedule_after_the_creator_deleted_the_event_forgets_the_event() -> None:
    h = MeetingsHarness()
    h.connect("google")
    booking_id = h.book(local(3, 10))
    h.settle(booking_id)
    h.calendar.delete_event("token", event_id_for(booking_id))  # removed by hand in Google Calendar

    h.bookings.reschedule(booking_id, local(3, 14))
    doc = h.settle(booking_id)

    assert doc["google_event"] is None  # none to move any more: a later cancel has nothing recorded to delete


# ---- redeliveries and changes that come back to where they were --------------------------------------------------


def test_a_redelivered_meet_booking_leaves_its_event_and_meet_alone() -> None:
    h = MeetingsHarness()
    h.connect("google")
    booking_id = h.book(local(3, 10))
    meet = h.settle(booking_id)["meeting_url"]
    calls = len(h.calendar.calls)

    doc = h.settle(booking_id)

    assert h.calendar.calls[calls:] == []
    event = h.event_of(booking_id)
    assert event is not None and event.hangout_link == meet == doc["meeting_url"]


def test_a_booking_moved_away_and_back_before_the_worker_ran_keeps_its_meet_without_asking_google() -> None:
    h = MeetingsHarness()
    h.connect("google")
    booking_id = h.book(local(3, 10))
    meet = h.settle(booking_id)["meeting_url"]
    h.bookings.reschedule(booking_id, local(3, 14))
    h.bookings.reschedule(booking_id, local(3, 10))
    calls = len(h.calendar.calls)

    doc = h.settle(booking_id)

    assert (doc["link_status"], doc["meeting_url"], doc["video_provider"]) == ("ready", meet, "google_meet")
    assert h.calendar.calls[calls:] == []


def test_a_zoom_booking_moved_away_and_back_keeps_its_meeting_and_event_without_a_call() -> None:
    h = MeetingsHarness()
    h.connect("zoom", "google")
    booking_id = h.book(local(3, 10))
    url = h.settle(booking_id)["meeting_url"]
    h.bookings.reschedule(booking_id, local(3, 14))
    h.bookings.reschedule(booking_id, local(3, 10))
    calls = len(h.calendar.calls)

    doc = h.settle(booking_id)

    assert (doc["link_status"], doc["meeting_url"], doc["video_provider"]) == ("ready", url, "zoom")
    assert h.calendar.calls[calls:] == []
    assert h.zoom.calls.count("create_meeting") == 1


def test_a_booking_awaiting_payment_or_gone_is_left_alone() -> None:
    h = MeetingsHarness()
    h.connect("zoom", "google")
    booking_id = h.book(local(3, 10), paid=True)
    before = h.doc(booking_id)

    assert h.deliver(booking_id).status_code == 200
    assert h.push({"type": "booking.changed", "booking_id": "no-such-booking", "revision": 1}).status_code == 200

    assert h.doc(booking_id) == before
    assert (h.zoom.calls, h.calendar.calls) == ([], [])


# ---- the heartbeat -------------------------------------------------------------------------------------------


class _LeaseWrites(DelegatingStore):
    """The worker's lease store: says when a lease transaction (a renewal, while the worker is busy) went through."""

    def __init__(self, inner: DocStore) -> None:
        super().__init__(inner)
        self.written = threading.Event()

    def transaction(self, fn: Callable[[Txn], T]) -> T:
        result = super().transaction(fn)
        self.written.set()
        return result


def test_the_workers_heartbeat_renews_its_lease_so_a_slow_reconcile_keeps_the_booking() -> None:
    zoom = BusyZoom()
    h = MeetingsHarness(zoom=zoom)
    h.connect("zoom")
    leases = _LeaseWrites(h.store)
    r = h.runtime
    worker = MeetingReconciler(
        r.bookings,
        leases,
        r.notices,
        h.publisher,
        h.clock,
        h.connections,
        zoom,
        h.calendar,
        ZoomQuota(h.store),
        GoogleWritePause(h.store),
        heartbeat_every=0.001,
    )
    booking_id = h.book(local(3, 10))
    lease_id = f"meetings-{booking_id}"
    renewed: list[bool] = []
    other: list[str] = []

    def renewed_to(expiry_at_least: datetime) -> bool:
        """Wait (on the lease store's writes, bounded) until the heartbeat has moved the lease's expiry."""
        for _ in range(200):
            lease = h.store.get(LEASES, lease_id)
            if lease is not None and lease["expires_at"] >= expiry_at_least:
                return True
            leases.written.clear()
            leases.written.wait(0.05)
        return False

    def slow_zoom() -> None:
        for _ in range(3):  # 60 s in all, twice the lease's TTL
            h.clock.advance(timedelta(seconds=20))
            renewed.append(renewed_to(h.clock.now() + LEASE_TTL))
        try:
            h.reconciler.reconcile(booking_id)  # a second worker, on a redelivery
        except RetryLater:
            other.append("stood back")

    zoom.during = slow_zoom
    worker.reconcile(booking_id)

    assert renewed == [True, True, True]
    assert other == ["stood back"]
    [meeting] = h.live_meetings()
    assert h.doc(booking_id)["meeting_url"] == meeting.join_url
    assert h.store.get(LEASES, lease_id) is None  # given back once done


def test_a_cancel_with_no_event_made_and_google_disconnected_is_done_at_once_even_while_paused() -> None:
    h = MeetingsHarness()
    h.connect("google")
    booking_id = h.book(local(3, 10))
    h.calendar.fail_next(ProviderError(ErrorKind.USAGE_LIMITED, "google", 403, 600.0, "usageLimits"))
    assert h.deliver(booking_id).status_code == 503  # paused for 10 minutes: the event waits
    h.bookings.cancel(booking_id, by="fan")
    h.connections.statuses[(h.creator_id, "google")] = "not_connected"  # the creator removed Google

    doc = h.settle(booking_id)

    assert (doc["google_event"], doc["link_nudge_at"]) == (None, None)  # nothing of it in Google: done
    assert h.calendar.events == {}
