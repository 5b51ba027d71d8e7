"""When Zoom or Google fail: retry while the link can still come in time, fall back once it cannot,
never make a second meeting after a crash, and never let two workers reconcile one booking at once."""

from __future__ import annotations

from datetime import timedelta

from shared.meetings.reconcile import DELETE_RETRY_WINDOW, LEASE_TTL, RetryLater
from shared.providers.errors import ErrorKind, ProviderError
from shared.providers.models import MeetingSpec, ZoomMeeting
from shared.store.lease import LEASES
from shared.store.port import put
from tests.fakes.providers import FakeZoom
from tests.fakes.store import FakeDocStore
from tests.unit.test_meetings_harness import LINK_DEADLINE, MeetingsHarness, local

DAILY_LIMIT = ProviderError(ErrorKind.RATE_LIMITED, "zoom", 429, 6 * 3600.0, "code 429: daily limit reached")
SHORT_429 = ProviderError(ErrorKind.RATE_LIMITED, "zoom", 429, 30.0, "code 429: too many requests")
ZOOM_DOWN = ProviderError(ErrorKind.TRANSIENT, "zoom", 503, None, "service unavailable")
REVOKED = ProviderError(ErrorKind.REVOKED, "zoom", 400, None, "invalid_grant: Invalid Token!")


def _status(h: MeetingsHarness, booking_id: str) -> int:
    return h.deliver(booking_id).status_code


# ---- rate limits ----------------------------------------------------------------------------------------------


def test_a_rate_limit_past_the_deadline_falls_back_to_meet_at_once() -> None:
    h = MeetingsHarness()
    h.connect("zoom", "google")
    booking_id = h.book(local(3, 10))
    h.zoom.fail_next(DAILY_LIMIT)

    assert _status(h, booking_id) == 200

    doc = h.doc(booking_id)
    event = h.event_of(booking_id)
    assert event is not None
    assert event.hangout_link is not None
    assert doc["meeting_url"] == event.hangout_link
    assert doc["video_provider"] == "google_meet"
    assert doc["link_status"] == "ready"
    assert doc["zoom_failed_revision"] == 1
    assert h.live_meetings() == []
    assert h.connections.status(h.creator_id, "zoom") == "connected"
    assert h.link_events() == [{"type": "link.ready", "booking_id": booking_id, "revision": 1}]


def test_a_rate_limit_past_the_deadline_without_google_is_unavailable() -> None:
    h = MeetingsHarness()
    h.connect("zoom")
    booking_id = h.book(local(3, 10))
    h.zoom.fail_next(DAILY_LIMIT)

    assert _status(h, booking_id) == 200

    doc = h.doc(booking_id)
    assert doc["status"] == "confirmed"
    assert doc["link_status"] == "unavailable"
    assert doc["meeting_url"] is None
    assert h.live_meetings() == []
    assert h.link_events() == [{"type": "link.unavailable", "booking_id": booking_id, "revision": 1}]
    # Redelivery of the same revision does not try Zoom again, nor announce again.
    calls = len(h.zoom.calls)
    assert _status(h, booking_id) == 200
    assert h.zoom.calls[calls:].count("create_meeting") == 0
    assert len(h.link_events()) == 1


def test_a_short_rate_limit_before_the_deadline_is_retried_later() -> None:
    h = MeetingsHarness()
    h.connect("zoom", "google")
    booking_id = h.book(local(3, 10))
    h.zoom.fail_next(SHORT_429)

    response = h.deliver(booking_id)

    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "retry_later"
    doc = h.doc(booking_id)
    assert doc["link_status"] == "pending"
    assert doc["meeting_url"] is None
    assert h.live_meetings() == []
    assert h.link_events() == []
    assert h.store.query(LEASES) == []  # the lease is given back, so the redelivery can run

    h.clock.advance(timedelta(seconds=30))
    doc = h.settle(booking_id)
    [meeting] = h.live_meetings()
    assert doc["meeting_url"] == meeting.join_url
    assert doc["video_provider"] == "zoom"


def test_the_reconciler_raises_retry_later_for_a_short_rate_limit() -> None:
    h = MeetingsHarness()
    h.connect("zoom")
    booking_id = h.book(local(3, 10))
    h.zoom.fail_next(SHORT_429)

    try:
        h.reconciler.reconcile(booking_id)
    except RetryLater:
        pass
    else:
        raise AssertionError("a 429 well before the deadline must be retried, not given up")


# ---- transient failures -----------------------------------------------------------------------------------------


def test_zoom_down_is_retried_until_the_deadline_then_falls_back() -> None:
    h = MeetingsHarness()
    h.connect("zoom", "google")
    booking_id = h.book(local(3, 10))
    deadline = h.doc(booking_id)["link_deadline_at"]
    assert deadline == h.clock.now() + LINK_DEADLINE
    h.zoom.fail_next(ZOOM_DOWN, times=1000)

    assert _status(h, booking_id) == 503
    h.clock.advance(LINK_DEADLINE - timedelta(seconds=1))
    assert _status(h, booking_id) == 503
    doc = h.doc(booking_id)
    assert doc["link_status"] == "pending"
    assert h.calendar.events == {}  # no Meet yet: Zoom may still come in time
    assert h.link_events() == []

    h.clock.advance(timedelta(seconds=2))
    assert h.clock.now() > deadline
    assert _status(h, booking_id) == 503  # decided on Meet, but a create that timed out may have gone through

    doc = h.doc(booking_id)
    event = h.event_of(booking_id)
    assert event is not None
    assert doc["meeting_url"] == event.hangout_link is not None
    assert doc["video_provider"] == "google_meet"
    assert doc["link_status"] == "ready"
    assert h.live_meetings() == []
    assert h.link_events() == [{"type": "link.ready", "booking_id": booking_id, "revision": 1}]

    h.zoom.clear_faults()  # Zoom is back and, the window for a late listing past, lists none of the booking's
    assert h.clock.now() >= h.doc(booking_id)["updated_at"] + DELETE_RETRY_WINDOW
    assert _status(h, booking_id) == 200
    assert h.doc(booking_id)["zoom_intent"] is None
    assert h.doc(booking_id)["meeting_url"] == event.hangout_link  # the decided link never changes


def test_a_create_answered_too_late_for_the_link_is_found_and_deleted_after_the_fall_back() -> None:
    h = MeetingsHarness()
    h.connect("zoom", "google")
    booking_id = h.book(local(3, 10))
    h.clock.advance(LINK_DEADLINE - timedelta(seconds=5))
    h.zoom.lose_next_answer("create_meeting")  # Zoom makes it; the answer never comes
    h.zoom.fail_next(ZOOM_DOWN)  # nor does the list that would have found it in time

    assert _status(h, booking_id) == 503
    h.clock.advance(timedelta(seconds=10))
    assert _status(h, booking_id) == 503  # past the deadline: decided on Meet, the meeting still unfound
    assert h.doc(booking_id)["video_provider"] == "google_meet"
    [made] = h.live_meetings()

    assert _status(h, booking_id) == 200  # the next look lists it, deletes it, and is done

    assert h.live_meetings() == []
    assert h.zoom.calls.count("delete_meeting") == 1
    assert h.doc(booking_id)["zoom_intent"] is None
    assert h.doc(booking_id)["video_provider"] == "google_meet"
    assert made.id not in [m.id for m in h.live_meetings()]


def test_zoom_down_then_back_ends_with_one_zoom_meeting() -> None:
    h = MeetingsHarness()
    h.connect("zoom", "google")
    booking_id = h.book(local(3, 10))
    h.zoom.fail_next(ZOOM_DOWN, times=2)

    statuses = []
    for _ in range(5):
        statuses.append(_status(h, booking_id))
        h.clock.advance(timedelta(seconds=10))

    # The failed create left its intent: the first redelivery looks for the meeting (Zoom still down),
    # the second finds none and creates it; every later one is a no-op.
    assert statuses == [503, 503, 200, 200, 200]
    assert h.zoom.calls.count("create_meeting") == 2
    doc = h.doc(booking_id)
    [meeting] = h.live_meetings()
    assert doc["meeting_url"] == meeting.join_url
    assert doc["video_provider"] == "zoom"
    assert doc["link_status"] == "ready"
    assert doc.get("zoom_intent") is None
    event = h.event_of(booking_id)
    assert event is not None
    assert event.location == meeting.join_url
    assert h.link_events() == [{"type": "link.ready", "booking_id": booking_id, "revision": 1}]


def test_google_down_is_retried_and_keeps_the_zoom_meeting_it_made() -> None:
    h = MeetingsHarness()
    h.connect("zoom", "google")
    booking_id = h.book(local(3, 10))
    h.calendar.fail_next(ProviderError(ErrorKind.TRANSIENT, "google", 500, None, "backendError"))

    assert _status(h, booking_id) == 503
    assert len(h.live_meetings()) == 1
    doc = h.settle(booking_id)

    [meeting] = h.live_meetings()
    assert h.zoom.calls.count("create_meeting") == 1
    assert doc["meeting_url"] == meeting.join_url
    event = h.event_of(booking_id)
    assert event is not None
    assert event.location == meeting.join_url


# ---- revoked access ----------------------------------------------------------------------------------------------


def test_revoked_zoom_turns_reconnect_required_and_falls_back_at_once() -> None:
    h = MeetingsHarness()
    h.connect("zoom", "google")
    booking_id = h.book(local(3, 10))
    h.zoom.fail_next(REVOKED)

    assert _status(h, booking_id) == 200

    assert h.connections.status(h.creator_id, "zoom") == "reconnect_required"
    doc = h.doc(booking_id)
    assert doc["video_provider"] == "google_meet"
    assert doc["link_status"] == "ready"
    assert h.live_meetings() == []


def test_revoked_zoom_without_google_is_unavailable_and_the_next_booking_skips_zoom() -> None:
    h = MeetingsHarness()
    h.connect("zoom")
    first = h.book(local(3, 10))
    h.zoom.fail_next(REVOKED)
    assert _status(h, first) == 200
    assert h.doc(first)["link_status"] == "unavailable"

    calls = len(h.zoom.calls)
    second = h.book(local(3, 11))
    assert _status(h, second) == 200
    assert h.doc(second)["link_status"] == "unavailable"
    assert h.zoom.calls[calls:] == []  # a connection known to be broken is not called


# ---- crash between "Zoom created it" and "the booking recorded it" -----------------------------------------------


class CrashAfterCreate(FakeZoom):
    """Zoom makes the meeting, then the process dies before the booking records it."""

    def __init__(self) -> None:
        super().__init__()
        self.crashes = 1

    def create_meeting(self, token: str, spec: MeetingSpec) -> ZoomMeeting:
        meeting = super().create_meeting(token, spec)
        if self.crashes:
            self.crashes -= 1
            raise RuntimeError("the process died")
        return meeting


class CommitFailsAfterCreate(FakeZoom):
    """Zoom makes the meeting, then the store's next commit (the one recording it) fails."""

    def __init__(self) -> None:
        super().__init__()
        self.store: FakeDocStore | None = None

    def create_meeting(self, token: str, spec: MeetingSpec) -> ZoomMeeting:
        meeting = super().create_meeting(token, spec)
        if self.store is not None:
            self.store.fail_next_commit, self.store = RuntimeError("Firestore unavailable"), None
        return meeting


def _crashing_harness(kind: str) -> MeetingsHarness:
    if kind == "process":
        return MeetingsHarness(zoom=CrashAfterCreate())
    zoom, store = CommitFailsAfterCreate(), FakeDocStore()
    zoom.store = store
    return MeetingsHarness(zoom=zoom, store=store)


def test_a_crash_after_the_create_adopts_the_meeting_instead_of_making_another() -> None:
    for kind in ("process", "commit"):
        h = _crashing_harness(kind)
        h.connect("zoom", "google")
        booking_id = h.book(local(3, 10))

        assert _status(h, booking_id) == 500, kind
        [orphan] = h.live_meetings()
        doc = h.doc(booking_id)
        assert doc.get("zoom") is None, kind
        assert doc["zoom_intent"], kind  # the intent was recorded before the call
        assert orphan.agenda.startswith(doc["zoom_intent"]), kind
        assert h.store.query(LEASES) == [], kind

        doc = h.settle(booking_id)

        assert h.live_meetings() == [orphan], kind
        assert h.zoom.calls.count("create_meeting") == 1, kind
        assert doc["zoom"]["meeting_id"] == orphan.id, kind
        assert doc["meeting_url"] == orphan.join_url, kind
        assert doc["video_provider"] == "zoom", kind
        assert doc["zoom_intent"] is None, kind
        event = h.event_of(booking_id)
        assert event is not None
        assert event.location == orphan.join_url, kind


def test_a_meeting_made_before_a_crash_is_deleted_when_the_booking_was_cancelled_meanwhile() -> None:
    h = _crashing_harness("process")
    h.connect("zoom")
    booking_id = h.book(local(3, 10))
    assert _status(h, booking_id) == 500
    assert len(h.live_meetings()) == 1

    h.bookings.cancel(booking_id, by="fan")
    h.settle(booking_id)

    assert h.live_meetings() == []
    assert h.doc(booking_id)["zoom_intent"] is None
    assert h.notices() == []


def test_a_meeting_made_before_a_crash_is_replaced_after_a_reschedule() -> None:
    h = _crashing_harness("process")
    h.connect("zoom")
    booking_id = h.book(local(3, 10))
    assert _status(h, booking_id) == 500
    [orphan] = h.live_meetings()

    new_start = local(4, 10)
    h.bookings.reschedule(booking_id, new_start)
    doc = h.settle(booking_id)

    [meeting] = h.live_meetings()
    assert meeting.id != orphan.id
    assert meeting.start_time == new_start
    assert doc["meeting_url"] == meeting.join_url


# ---- one worker per booking -----------------------------------------------------------------------------------------


def test_a_lease_held_by_another_worker_answers_503_and_touches_nothing() -> None:
    h = MeetingsHarness()
    h.connect("zoom")
    booking_id = h.book(local(3, 10))
    lease = {"holder": "other-worker", "expires_at": h.clock.now() + timedelta(seconds=60)}
    h.store.commit([put(LEASES, f"meetings-{booking_id}", lease)])

    response = h.deliver(booking_id)

    assert response.status_code == 503
    assert h.live_meetings() == []
    assert h.zoom.calls == []
    assert h.store.get(LEASES, f"meetings-{booking_id}") == lease  # the other worker's lease stays
    try:
        h.reconciler.reconcile(booking_id)
    except RetryLater:
        pass
    else:
        raise AssertionError("a held lease must make the delivery retry later")


def test_a_lease_left_by_a_dead_worker_expires() -> None:
    h = MeetingsHarness()
    h.connect("zoom")
    booking_id = h.book(local(3, 10))
    h.store.commit(
        [put(LEASES, f"meetings-{booking_id}", {"holder": "dead-worker", "expires_at": h.clock.now() + LEASE_TTL})]
    )
    assert _status(h, booking_id) == 503

    h.clock.advance(LEASE_TTL + timedelta(seconds=1))
    doc = h.settle(booking_id)

    assert len(h.live_meetings()) == 1
    assert doc["link_status"] == "ready"
    assert h.store.query(LEASES) == []


# ---- deletes that fail for a while ---------------------------------------------------------------------------------


def test_a_short_rate_limit_on_a_cancel_delete_is_retried_not_given_up() -> None:
    h = MeetingsHarness()
    h.connect("zoom")
    booking_id = h.book(local(3, 10))
    h.settle(booking_id)
    h.bookings.cancel(booking_id, by="fan")
    h.zoom.fail_next(ProviderError(ErrorKind.RATE_LIMITED, "zoom", 429, 1.0, "code 429: too many requests"))

    assert _status(h, booking_id) == 503
    h.clock.advance(timedelta(seconds=2))
    h.settle(booking_id)

    assert h.live_meetings() == []
    assert h.notices() == []
    assert h.doc(booking_id)["zoom"] is None


def test_zoom_down_for_long_on_a_cancel_delete_ends_with_a_notice() -> None:
    h = MeetingsHarness()
    h.connect("zoom")
    booking_id = h.book(local(3, 10))
    h.settle(booking_id)
    [meeting] = h.live_meetings()
    h.bookings.cancel(booking_id, by="creator")
    h.zoom.fail_next(ZOOM_DOWN, times=1000)

    assert _status(h, booking_id) == 503
    assert h.notices() == []
    # Pub/Sub gives up after its attempts (about 25 minutes with the topology's backoff): the worker must
    # have told the creator before then.
    h.clock.advance(timedelta(minutes=20))
    assert _status(h, booking_id) == 200

    [notice] = h.notices()
    assert notice["meeting_id"] == str(meeting.id)
    assert h.doc(booking_id)["zoom"] is None
