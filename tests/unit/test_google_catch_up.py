"""After a Google write pause ends, the scheduler tick catches up on what it skipped: a booking made meanwhile gets
its event (with its Zoom link), a rescheduled one's event moves, a cancelled one's goes, a link-less one gets its
link as after a reconnect, and a booking that has a link keeps it. Twice is as good as once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from shared.bookings.model import BOOKINGS
from shared.bookings.notices import GOOGLE_WRITES_CAUGHT_UP, NOTICES
from shared.bookings.outbox import BOOKING_EVENTS, outbox_write
from shared.bookings.service import LINK_NUDGE_INTERVAL
from shared.bootstrap import google_catch_up
from shared.meetings.google_catch_up import CATCH_UP_AFTER, GoogleCatchUp
from shared.meetings.google_pause import (
    CATCH_UP_SETTLES,
    GOOGLE_PAUSES,
    GOOGLE_WRITE_PAUSE,
    EndedPause,
    GoogleWritePause,
)
from shared.meetings.reconcile import DELETE_RETRY_WINDOW
from shared.store.port import DocStore, put, update
from tests.fakes.store import FakeDocStore, InterleavingStore
from tests.unit.test_meetings_google_limits import USAGE_LIMITS
from tests.unit.test_meetings_harness import NOW, MeetingsHarness, local

PAST_THE_PAUSE = GOOGLE_WRITE_PAUSE + CATCH_UP_AFTER


class CatchUpHarness(MeetingsHarness):
    """The meetings harness with the tick's catch-up, and the booking events it publishes delivered on demand."""

    def __init__(self, store: DocStore | None = None) -> None:
        super().__init__(store=store)
        self.catch_up: GoogleCatchUp = google_catch_up(self.runtime, self.bookings)
        self.pauses = GoogleWritePause(self.store)
        self._delivered = 0

    def pause_google(self) -> str:
        """A booking whose event insert Google refuses for its usage limits: the creator's writes pause an hour."""
        self.calendar.fail_next(USAGE_LIMITS)
        booking_id = self.book(local(3, 16))
        doc = self.settle(booking_id)
        assert doc["google_event"] is None and self.pauses.paused_until(self.creator_id, self.clock.now())
        return booking_id

    def republished(self) -> list[dict[str, Any]]:
        """The booking events published since the last call, each pushed to the meetings worker."""
        events = self.publisher.on(BOOKING_EVENTS)[self._delivered :]
        self._delivered += len(events)
        for event in events:
            assert self.push(event).status_code == 200
        return events

    def run(self) -> dict[str, int]:
        """One catch-up; the events published before it were delivered already (the tests settle each booking)."""
        self._delivered = len(self.publisher.on(BOOKING_EVENTS))
        return self.catch_up.run()


def test_a_booking_made_during_the_pause_gets_its_event_with_its_zoom_link_and_keeps_the_link() -> None:
    h = CatchUpHarness()
    h.connect("zoom", "google")
    booking_id = h.pause_google()
    decided = h.doc(booking_id)
    links = len(h.link_events())

    h.clock.advance(PAST_THE_PAUSE)
    counts = h.run()
    assert [e["booking_id"] for e in h.republished()] == [booking_id]

    event = h.event_of(booking_id)
    doc = h.doc(booking_id)
    assert counts["google_events_republished"] == 1 and counts["google_pauses_caught_up"] == 1
    assert event is not None and event.status == "confirmed"
    assert event.location == decided["meeting_url"] and decided["meeting_url"] in event.description
    assert event.hangout_link is None  # the Zoom link in it, no Meet beside it
    assert doc["google_event"]["event_id"] == event.id
    assert (doc["meeting_url"], doc["video_provider"], doc["revision"]) == (
        decided["meeting_url"],
        "zoom",
        decided["revision"],
    )
    assert len(h.link_events()) == links  # no new link: the fan is told nothing
    assert _owed(h) is False
    [notice] = h.notices()
    assert (notice["kind"], notice["message"], notice["resolved"]) == (
        "google_writes_paused",
        GOOGLE_WRITES_CAUGHT_UP,
        True,
    )


def test_the_catch_up_waits_for_the_end_of_the_pause() -> None:
    h = CatchUpHarness()
    h.connect("zoom", "google")
    booking_id = h.pause_google()

    h.clock.advance(GOOGLE_WRITE_PAUSE - timedelta(seconds=1))
    during = h.run()
    h.clock.advance(timedelta(seconds=1) + CATCH_UP_AFTER - timedelta(seconds=1))
    just_after = h.run()  # a reconcile that saw the pause last may still be writing what it decided

    assert (
        during
        == just_after
        == {
            "google_pauses_caught_up": 0,
            "google_events_republished": 0,
            "google_links_reopened": 0,
        }
    )
    assert h.republished() == [] and h.event_of(booking_id) is None
    h.clock.advance(timedelta(seconds=1))
    assert h.run()["google_pauses_caught_up"] == 1


def test_a_booking_rescheduled_during_the_pause_has_its_event_moved_to_the_new_time_and_link() -> None:
    h = CatchUpHarness()
    h.connect("zoom", "google")
    booking_id = h.book(local(3, 10))
    h.settle(booking_id)
    h.pause_google()

    h.bookings.reschedule(booking_id, local(4, 15))
    moved = h.settle(booking_id)
    stale = h.event_of(booking_id)
    assert stale is not None and stale.start == local(3, 10)  # the move was refused: the event is left behind

    h.clock.advance(PAST_THE_PAUSE)
    h.run()
    h.republished()

    event = h.event_of(booking_id)
    assert event is not None and event.start == local(4, 15)
    assert event.location == moved["meeting_url"] == h.doc(booking_id)["meeting_url"]
    assert h.doc(booking_id)["google_event"]["start"] == local(4, 15)


def test_a_link_the_creator_set_by_hand_during_the_pause_is_written_into_the_event_after_it() -> None:
    h = CatchUpHarness()
    h.connect("zoom", "google")
    booking_id = h.book(local(3, 10))
    h.settle(booking_id)
    h.pause_google()
    own = "https://example.com/my-room"
    h.bookings.set_link(h.creator_id, booking_id, own)
    h.settle(booking_id)
    stale = h.event_of(booking_id)
    assert stale is not None and stale.location != own

    h.clock.advance(PAST_THE_PAUSE)
    h.run()
    h.republished()

    event = h.event_of(booking_id)
    assert event is not None and event.location == own and own in event.description
    assert (h.doc(booking_id)["meeting_url"], h.doc(booking_id)["link_manual"]) == (own, True)


def test_a_booking_cancelled_during_the_pause_has_its_event_deleted() -> None:
    h = CatchUpHarness()
    h.connect("zoom", "google")
    booking_id = h.book(local(3, 10))
    h.settle(booking_id)
    h.pause_google()

    h.bookings.cancel(booking_id, by="fan")
    h.settle(booking_id)
    left = h.event_of(booking_id)
    assert left is not None and left.status == "confirmed"  # the delete gave up: the pause outlasts its window

    h.clock.advance(PAST_THE_PAUSE)
    h.run()
    h.republished()

    gone = h.event_of(booking_id)
    assert gone is not None and gone.status == "cancelled"
    assert h.doc(booking_id)["google_event"] is None


def test_a_google_only_booking_left_without_a_link_gets_its_meet_and_link_ready_is_owed() -> None:
    h = CatchUpHarness()
    h.connect("google")
    booking_id = h.pause_google()
    assert (h.doc(booking_id)["link_status"], h.doc(booking_id)["meeting_url"]) == ("unavailable", None)

    h.clock.advance(PAST_THE_PAUSE)
    counts = h.run()
    h.republished()

    doc = h.doc(booking_id)
    event = h.event_of(booking_id)
    assert counts["google_links_reopened"] == 1 and counts["google_events_republished"] == 0
    assert event is not None and event.hangout_link is not None
    assert (doc["change"], doc["revision"], doc["link_status"]) == ("link_retry", 2, "ready")
    assert (doc["meeting_url"], doc["video_provider"]) == (event.hangout_link, "google_meet")
    assert h.link_events()[-1] == {"type": "link.ready", "booking_id": booking_id, "revision": 2}


def test_a_google_only_booking_rescheduled_during_the_pause_is_reopened_and_its_event_moved() -> None:
    h = CatchUpHarness()
    h.connect("google")
    booking_id = h.book(local(3, 10))
    h.settle(booking_id)
    booked_during = h.pause_google()
    h.bookings.reschedule(booking_id, local(5, 9))
    assert h.settle(booking_id)["meeting_url"] is None  # its Meet lives in the event Google would not move

    h.clock.advance(PAST_THE_PAUSE)
    assert h.run()["google_links_reopened"] == 2
    assert sorted(e["booking_id"] for e in h.republished()) == sorted([booking_id, booked_during])

    event = h.event_of(booking_id)
    assert event is not None and event.start == local(5, 9)
    assert h.doc(booking_id)["meeting_url"] == event.hangout_link


def test_bookings_the_pause_did_not_touch_are_left_as_they_are() -> None:
    h = CatchUpHarness()
    h.connect("zoom")
    before = h.book(local(3, 9))
    h.settle(before)  # Zoom only then: no event, and none is owed
    h.clock.advance(timedelta(hours=2))
    h.connect("google")
    paused = h.pause_google()
    h.clock.advance(PAST_THE_PAUSE)
    after = h.book(local(3, 11))
    h.settle(after)
    cancelled_after = h.book(local(3, 13))
    h.settle(cancelled_after)
    h.bookings.cancel(cancelled_after, by="fan")
    h.settle(cancelled_after)  # its event deleted by its own reconcile: nothing is owed for it

    h.run()
    republished = [e["booking_id"] for e in h.republished()]

    assert republished == [paused]
    assert h.event_of(before) is None
    assert h.event_of(after) is not None  # made after the pause, by its own reconcile


def test_twice_delivered_and_twice_swept_is_as_good_as_once() -> None:
    h = CatchUpHarness()
    h.connect("google", "zoom")
    zoom_linked = h.book(local(3, 10))
    h.connections.statuses[(h.creator_id, "zoom")] = "reconnect_required"
    link_less = h.pause_google()
    h.connections.connect(h.creator_id, "zoom")
    h.clock.advance(PAST_THE_PAUSE)
    h.settle(zoom_linked)  # decided after the pause ended, before its catch-up: its own reconcile made the event
    h.calendar.calls.clear()

    [pause] = list(h.pauses.ended_by(h.clock.now(), 10))
    late = GoogleCatchUp(  # a second tick that read the same pause before the first marked it
        _ReadBefore(h.store, pause),
        h.runtime.bookings,
        h.bookings,
        h.runtime.outbox,
        h.connections,
        h.runtime.notices,
        h.clock,
    )
    first_counts = h.run()
    second_counts = late.run()
    events = h.republished()
    for event in events:  # every event delivered twice
        assert h.push(event).status_code == 200

    assert first_counts["google_links_reopened"] == 1 and second_counts["google_links_reopened"] == 0
    assert first_counts["google_pauses_caught_up"] == 1 and second_counts["google_pauses_caught_up"] == 0
    assert h.calendar.calls.count("insert_event") == 1  # one event for the link-less booking, made once
    assert len(h.live_events()) == 2 and len(h.live_meetings()) == 2
    doc = h.doc(link_less)
    assert (doc["revision"], doc["video_provider"]) == (2, "zoom")  # Zoom is back: the reopened link is Zoom's
    assert h.doc(zoom_linked)["revision"] == 1
    assert h.run()["google_events_republished"] == 0  # the pause is caught up: a third tick does nothing


class _ReadBefore(GoogleWritePause):
    """The pause store as a tick that read `pause` before another tick marked it caught up sees it."""

    def __init__(self, store: DocStore, pause: EndedPause) -> None:
        super().__init__(store)
        self._pause = pause

    def ended_by(self, moment: datetime, batch: int) -> Iterator[EndedPause]:
        yield self._pause


def test_a_new_pause_set_during_the_catch_up_is_kept_and_caught_up_from_the_first_start() -> None:
    h = CatchUpHarness()
    h.connect("zoom", "google")
    first = h.pause_google()
    h.clock.advance(PAST_THE_PAUSE)
    [ended] = list(h.pauses.ended_by(h.clock.now() - CATCH_UP_AFTER, 10))
    assert ended.since == NOW

    again = h.pauses.pause(h.creator_id, h.clock.now(), None)  # Google refused again before the tick marked it
    assert h.pauses.caught_up(ended, h.clock.now()) is False
    kept = h.store.get(GOOGLE_PAUSES, h.creator_id)
    assert kept is not None and (kept["since"], kept["until"]) == (NOW, again)

    h.clock.advance(PAST_THE_PAUSE)
    assert h.run()["google_pauses_caught_up"] == 1
    h.republished()
    assert h.event_of(first) is not None  # booked during the first pause, caught up with the second


def test_a_failed_republish_keeps_the_pause_owed_for_the_next_tick() -> None:
    h = CatchUpHarness()
    h.connect("zoom", "google")
    booking_id = h.pause_google()
    h.clock.advance(PAST_THE_PAUSE)
    assert isinstance(h.store, FakeDocStore)
    h.store.fail_next_commit = RuntimeError("store unavailable")

    failed = h.run()
    assert failed["google_pauses_caught_up"] == 0 and h.republished() == []
    assert _owed(h) is True

    assert h.run()["google_pauses_caught_up"] == 1
    h.republished()
    assert h.event_of(booking_id) is not None


def test_with_google_disconnected_since_the_pause_is_marked_and_nothing_republished() -> None:
    h = CatchUpHarness()
    h.connect("zoom", "google")
    h.pause_google()
    h.connections.statuses[(h.creator_id, "google")] = "not_connected"
    h.clock.advance(PAST_THE_PAUSE)

    counts = h.run()

    assert counts == {"google_pauses_caught_up": 1, "google_events_republished": 0, "google_links_reopened": 0}
    assert h.republished() == []
    [notice] = h.notices()
    assert not notice.get("resolved")  # nothing was put right: the notice still says what happened


@pytest.mark.parametrize("since", [None, NOW + timedelta(minutes=20)])
def test_a_pause_document_without_a_start_catches_up_every_upcoming_booking_it_may_have_touched(
    since: Any,
) -> None:
    """A document written before pauses recorded their start has no lower bound; one with a start has."""
    h = CatchUpHarness()
    h.connect("zoom", "google")
    booking_id = h.pause_google()
    doc = h.store.get(GOOGLE_PAUSES, h.creator_id)
    assert doc is not None
    fields = {"creator_id": h.creator_id, "until": doc["until"], **({"since": since} if since else {})}
    h.store.commit([put(GOOGLE_PAUSES, h.creator_id, fields)])
    h.clock.advance(PAST_THE_PAUSE)

    h.run()

    assert [e["booking_id"] for e in h.republished()] == ([booking_id] if since is None else [])


def test_a_pause_renewed_over_a_document_without_a_start_still_has_no_bound() -> None:
    """A renewal must not give such a pause a start, or what it refused before the renewal is never caught up."""
    h = CatchUpHarness()
    h.connect("zoom", "google")
    booking_id = h.pause_google()
    doc = h.store.get(GOOGLE_PAUSES, h.creator_id)
    assert doc is not None
    h.store.commit([put(GOOGLE_PAUSES, h.creator_id, {"creator_id": h.creator_id, "until": doc["until"]})])
    h.clock.advance(GOOGLE_WRITE_PAUSE / 2)

    h.pauses.pause(h.creator_id, h.clock.now(), None)  # Google refused again, long after the booking's reconciles
    h.clock.advance(PAST_THE_PAUSE)
    h.run()

    assert [e["booking_id"] for e in h.republished()] == [booking_id]
    assert h.event_of(booking_id) is not None


def test_a_pause_that_begins_right_after_the_catch_up_keeps_its_notice_and_the_first_start() -> None:
    h: CatchUpHarness

    def paused_again() -> None:
        now = h.clock.now()
        until = h.pauses.pause(h.creator_id, now, None)  # Google refused another write, right after the mark
        h.runtime.notices.google_writes_paused(h.creator_id, until, now)

    store = InterleavingStore(
        FakeDocStore(), lambda call: call.kind == "query" and call.collection == NOTICES, paused_again
    )
    h = CatchUpHarness(store)
    h.connect("zoom", "google")
    h.pause_google()
    h.clock.advance(PAST_THE_PAUSE)

    assert h.run()["google_pauses_caught_up"] == 1

    old, new = sorted(h.notices(), key=lambda n: n["created_at"])
    assert (old["resolved"], new.get("resolved")) == (True, None)
    kept = h.store.get(GOOGLE_PAUSES, h.creator_id)
    assert kept is not None and kept["until"] > h.clock.now() and kept["since"] == NOW  # owed, from the first start


def test_a_revision_whose_outbox_entry_still_waits_is_left_to_the_outbox_sweep() -> None:
    h = CatchUpHarness()
    h.connect("zoom", "google")
    booking_id = h.pause_google()
    h.clock.advance(PAST_THE_PAUSE)
    h.store.commit([outbox_write(booking_id, 1, h.clock.now())])  # its publisher has not got to it yet

    assert h.run()["google_pauses_caught_up"] == 1
    assert h.republished() == []  # not published twice from here

    assert h.runtime.outbox.sweep(h.clock.now() + timedelta(minutes=1)) == 1
    assert [e["booking_id"] for e in h.republished()] == [booking_id]
    assert h.event_of(booking_id) is not None


def test_what_the_catch_ups_own_writes_gave_up_on_for_a_new_pause_is_caught_up_after_that_one() -> None:
    h = CatchUpHarness()
    h.connect("zoom", "google")
    first = h.pause_google()
    second = h.book(local(3, 14))
    h.settle(second)  # paused: decided with its Zoom link, no event
    h.clock.advance(PAST_THE_PAUSE)
    h.calendar.fail_next(USAGE_LIMITS)  # the catch-up's first write is the one Google limits next

    assert h.run()["google_events_republished"] == 2
    h.republished()
    assert h.event_of(first) is None and h.event_of(second) is None
    again = h.store.get(GOOGLE_PAUSES, h.creator_id)
    assert again is not None and again["since"] == NOW

    h.clock.advance(PAST_THE_PAUSE)
    assert h.run()["google_events_republished"] == 2
    h.republished()
    assert h.event_of(first) is not None and h.event_of(second) is not None


def test_a_pause_long_after_the_last_catch_up_starts_afresh() -> None:
    h = CatchUpHarness()
    h.connect("zoom", "google")
    h.pause_google()
    h.clock.advance(PAST_THE_PAUSE)
    h.run()
    h.clock.advance(CATCH_UP_SETTLES)

    h.pauses.pause(h.creator_id, h.clock.now(), None)

    doc = h.store.get(GOOGLE_PAUSES, h.creator_id)
    assert doc is not None and doc["since"] == h.clock.now()


def _republished_after(h: CatchUpHarness, since: datetime, **booking: Any) -> list[str]:
    """The bookings the catch-up publishes again for the booking made during the pause, changed as given, once
    the pause (its start set to `since`) is over."""
    booking_id = h.pause_google()
    pause = h.store.get(GOOGLE_PAUSES, h.creator_id)
    assert pause is not None
    h.store.commit(
        [
            update(BOOKINGS, booking_id, booking),
            put(GOOGLE_PAUSES, h.creator_id, {**pause, "since": since}),
        ]
    )
    h.clock.advance(PAST_THE_PAUSE)
    h.run()
    return [e["booking_id"] for e in h.republished()]


@pytest.mark.parametrize(("changed", "caught_up"), [(timedelta(0), True), (timedelta(microseconds=1), False)])
def test_a_revision_made_as_the_pause_ends_is_caught_up_and_a_later_one_is_not(
    changed: timedelta, caught_up: bool
) -> None:
    h = CatchUpHarness()
    h.connect("zoom", "google")
    until = NOW + GOOGLE_WRITE_PAUSE

    republished = _republished_after(h, NOW, updated_at=until + changed)

    assert bool(republished) is caught_up


@pytest.mark.parametrize(("after", "caught_up"), [(timedelta(0), True), (timedelta(microseconds=1), False)])
def test_a_confirmed_booking_is_caught_up_when_its_last_nudge_reaches_the_pause(
    after: timedelta, caught_up: bool
) -> None:
    """Reconciles of a confirmed revision go on until its link deadline and one nudge after it; its age is not
    what counts (it was booked long before the pause)."""
    h = CatchUpHarness()
    h.connect("zoom", "google")
    deadline = NOW + timedelta(minutes=40)

    republished = _republished_after(
        h, deadline + LINK_NUDGE_INTERVAL + after, updated_at=NOW - timedelta(days=1), link_deadline_at=deadline
    )

    assert bool(republished) is caught_up


@pytest.mark.parametrize(("after", "caught_up"), [(timedelta(0), True), (timedelta(microseconds=1), False)])
def test_a_cancelled_booking_is_caught_up_when_its_delete_window_reaches_the_pause(
    after: timedelta, caught_up: bool
) -> None:
    """A cancel's reconciles go on for the delete window after it, whatever its old link deadline said."""
    h = CatchUpHarness()
    h.connect("zoom", "google")
    cancelled_at = NOW + timedelta(minutes=5)

    republished = _republished_after(
        h,
        cancelled_at + DELETE_RETRY_WINDOW + after,
        status="cancelled",
        updated_at=cancelled_at,
        link_deadline_at=NOW + timedelta(minutes=50),
    )

    assert bool(republished) is caught_up


def test_a_booking_whose_event_is_right_or_whose_link_is_undecided_is_not_published_again() -> None:
    h = CatchUpHarness()
    h.connect("zoom", "google")
    right = h.book(local(3, 10))
    h.settle(right)  # its event made just before the pause began
    paused = h.pause_google()
    h.book(local(3, 12))  # its own reconcile has not run yet: the link is still undecided
    h.clock.advance(PAST_THE_PAUSE)

    h.run()

    assert [e["booking_id"] for e in h.republished()] == [paused]


def test_a_failed_reopening_keeps_the_pause_owed_for_the_next_tick() -> None:
    h = CatchUpHarness()
    h.connect("google")
    booking_id = h.pause_google()  # Google only: left without a link
    h.clock.advance(PAST_THE_PAUSE)
    assert isinstance(h.store, FakeDocStore)
    h.store.fail_next_commit = RuntimeError("store unavailable")

    failed = h.run()
    assert (failed["google_links_reopened"], failed["google_pauses_caught_up"]) == (0, 0)
    assert _owed(h) is True

    assert h.run() == {"google_pauses_caught_up": 1, "google_events_republished": 0, "google_links_reopened": 1}
    h.republished()
    assert h.doc(booking_id)["meeting_url"] is not None


def test_a_republish_whose_publish_fails_is_left_to_the_outbox_sweep() -> None:
    h = CatchUpHarness()
    h.connect("zoom", "google")
    booking_id = h.pause_google()
    h.clock.advance(PAST_THE_PAUSE)
    h.publisher.fail_next = RuntimeError("Pub/Sub unavailable")

    assert h.run()["google_pauses_caught_up"] == 1
    assert h.republished() == []

    assert h.runtime.outbox.sweep(h.clock.now() + timedelta(minutes=1)) == 1
    assert [e["booking_id"] for e in h.republished()] == [booking_id]


def test_every_ended_pause_is_caught_up_and_counted_in_one_tick() -> None:
    h = CatchUpHarness()
    h.connect("zoom", "google")
    h.pause_google()
    h.pauses.pause("another-creator", h.clock.now(), None)
    h.clock.advance(PAST_THE_PAUSE)

    assert h.run()["google_pauses_caught_up"] == 2
    assert list(h.pauses.ended_by(h.clock.now(), 10)) == []


def test_a_notice_made_as_the_pause_ends_is_resolved_with_it() -> None:
    h = CatchUpHarness()
    h.connect("zoom", "google")
    h.pause_google()
    [(notice_id, _)] = h.store.query(NOTICES)
    h.store.commit([update(NOTICES, notice_id, {"created_at": NOW + GOOGLE_WRITE_PAUSE})])
    h.clock.advance(PAST_THE_PAUSE)

    h.run()

    [notice] = h.notices()
    assert notice["resolved"] is True


def _owed(h: CatchUpHarness) -> bool:
    """Whether the creator's pause still waits for its catch-up."""
    doc = h.store.get(GOOGLE_PAUSES, h.creator_id)
    return doc is not None and doc["until"] is not None
