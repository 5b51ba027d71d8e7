"""After Google's "Calendar usage limits exceeded" pause ends, through the whole local stack: what the pause
skipped is put right in the creator's Google Calendar (the sandbox's), and a booking left without a link gets
one, with link_ready to the fan and the creator.

The sandbox refuses the first event insert with Google's usage-limits answer. Without a Retry-After the creator's
Google writes pause for an hour (longer than a cancel's 15 minutes of delete retries: its delete gives up); the
hour is made to pass by moving the pause's end to now in the stack's Firestore (as the e2e tests move a hold's
expiry). With a Retry-After a little longer than the link deadline the pause is waited out for real. Either way
the stack's own scheduler tick catches up.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.bookings.model import BOOKINGS
from shared.bookings.notices import GOOGLE_WRITES_CAUGHT_UP
from shared.meetings.google_catch_up import CATCH_UP_AFTER
from shared.meetings.google_pause import GOOGLE_PAUSES
from shared.providers.google_calendar import event_id_for
from shared.store.port import update
from tests.e2e.conftest import E2E_ENV
from tests.e2e.flo import Creator, Flo, event_start, eventually, parse_time, stack_store

USAGE_LIMITS = {
    "error": {
        "code": 403,
        "message": "Calendar usage limits exceeded.",
        "errors": [{"domain": "usageLimits", "reason": "quotaExceeded", "message": "Calendar usage limits exceeded."}],
    }
}
LINK_DEADLINE_SECONDS = int(E2E_ENV["LINK_DEADLINE_SECONDS"])
CATCH_UP_SECONDS = CATCH_UP_AFTER.total_seconds() + 45
"""The catch-up waits CATCH_UP_AFTER past the pause's end; the tick runs every 2 s on this stack, then one
reconcile per booking."""


@pytest.fixture
def clean_faults(flo: Flo) -> Iterator[None]:
    """Faults are global in the sandbox: none is left for the next test."""
    try:
        yield
    finally:
        flo.sandbox.clear_faults()


def _events(flo: Flo, creator: Creator) -> dict[str, dict[str, Any]]:
    return {str(e["id"]): e for e in flo.google_events(creator)}


def _pause_google_with_a_booking(
    flo: Flo, creator: Creator, offer: str, index: int, retry_after: int | None = None
) -> dict[str, Any]:
    """A booking whose event insert Google refuses for its usage limits: the creator's writes pause an hour, or
    for Google's Retry-After."""
    headers = {"Retry-After": str(retry_after)} if retry_after else None
    flo.sandbox.add_fault("google", r"/events$", method="POST", status=403, body=USAGE_LIMITS, headers=headers, times=1)
    made = flo.book(offer, flo.first_slot(creator, offer, index=index))
    booking = flo.settled(creator, made["booking_id"])
    [notice] = [n for n in flo.notices(creator) if n["kind"] == "google_writes_paused"]
    assert "usage limits" in notice["message"]
    return {**made, **booking}


def _cleanup_done(flo: Flo, booking_id: str) -> None:
    """The meetings worker has finished a cancel's cleanup (it clears the nudge timer once it is done)."""
    store = stack_store(flo.stack)
    eventually(
        lambda: (doc := store.get(BOOKINGS, booking_id)) is not None and doc.get("link_nudge_at") is None,
        what="the cancel's cleanup",
    )


def _end_the_pause(flo: Flo, creator: Creator) -> None:
    """The hour passes: the pause ends now, after everything the test did during it."""
    stack_store(flo.stack).commit([update(GOOGLE_PAUSES, creator.creator_id, {"until": datetime.now(UTC)})])


@pytest.mark.usefixtures("clean_faults")
def test_after_the_pause_a_booking_made_meanwhile_gets_its_event_a_moved_one_moves_a_cancelled_one_goes(
    flo: Flo,
) -> None:
    creator = flo.creator()
    flo.connected(creator, "zoom", "google")
    offer = flo.offer(creator)
    starts = flo.slot_starts(creator, offer, 4)
    cancelled = flo.book(offer, starts[0])
    moved = flo.book(offer, starts[1])
    for made in (cancelled, moved):
        flo.settled(creator, made["booking_id"])
    assert set(_events(flo, creator)) == {event_id_for(b["booking_id"]) for b in (cancelled, moved)}

    during = _pause_google_with_a_booking(flo, creator, offer, index=2)
    assert (during["link_status"], during["video_provider"]) == ("ready", "zoom")  # Zoom's link stays
    assert flo.creator_cancel(creator, cancelled["booking_id"]).status_code == 200
    _cleanup_done(flo, cancelled["booking_id"])
    new_start = flo.slot_starts(creator, offer, 4)[3]
    assert flo.reschedule(moved, new_start).status_code == 200
    rescheduled = flo.settled(creator, moved["booking_id"])
    # What the pause left: no event for the new booking, the cancelled one's still there, the moved one's behind.
    left = _events(flo, creator)
    assert event_id_for(during["booking_id"]) not in left
    assert event_id_for(cancelled["booking_id"]) in left
    assert event_start(left[event_id_for(moved["booking_id"])]) != parse_time(rescheduled["start"])

    _end_the_pause(flo, creator)

    def put_right() -> dict[str, dict[str, Any]] | None:
        events = _events(flo, creator)
        wanted = {event_id_for(b["booking_id"]) for b in (during, moved)}
        if set(events) != wanted:
            return None
        later = events[event_id_for(moved["booking_id"])]
        return events if event_start(later) == parse_time(rescheduled["start"]) else None

    events = eventually(put_right, timeout=CATCH_UP_SECONDS, what="the calendar put right after the pause")
    made_meanwhile = events[event_id_for(during["booking_id"])]
    assert made_meanwhile["location"] == during["meeting_url"]
    assert during["meeting_url"] in made_meanwhile["description"]
    assert "hangoutLink" not in made_meanwhile or not made_meanwhile["hangoutLink"]
    assert events[event_id_for(moved["booking_id"])]["location"] == rescheduled["meeting_url"]
    # The links stay as they were: nothing is told again, nothing swapped.
    assert flo.booking(creator, during["booking_id"])["meeting_url"] == during["meeting_url"]
    assert flo.booking(creator, moved["booking_id"])["meeting_url"] == rescheduled["meeting_url"]
    assert flo.emails(during["booking_id"], "link_ready") == []
    pause = stack_store(flo.stack).get(GOOGLE_PAUSES, creator.creator_id)
    assert pause is not None and pause["until"] is None  # caught up
    [notice] = [n for n in flo.notices(creator) if n["kind"] == "google_writes_paused"]
    assert notice["message"] == GOOGLE_WRITES_CAUGHT_UP


@pytest.mark.usefixtures("clean_faults")
def test_a_google_only_booking_left_without_a_link_by_the_pause_gets_its_meet_and_both_are_told(flo: Flo) -> None:
    """A pause as Google names it (Retry-After), waited out for real: longer than the link deadline, so the
    booking decides at once with no link, and short enough to watch it end."""
    creator = flo.creator()
    flo.connected(creator, "google")
    offer = flo.offer(creator)
    pause_seconds = LINK_DEADLINE_SECONDS + 5
    booking = _pause_google_with_a_booking(flo, creator, offer, index=0, retry_after=pause_seconds)
    assert (booking["link_status"], booking["meeting_url"]) == ("unavailable", None)
    assert flo.google_events(creator) == []

    healed = eventually(
        lambda: b if (b := flo.booking(creator, booking["booking_id"]))["link_status"] == "ready" else None,
        timeout=pause_seconds + CATCH_UP_SECONDS,
        what="the Meet link after the pause",
    )
    [event] = flo.google_events(creator)
    assert (healed["video_provider"], healed["meeting_url"]) == ("google_meet", event["hangoutLink"])
    told = eventually(
        lambda: m if len(m := flo.emails(booking["booking_id"], "link_ready")) == 2 else None,
        what="link_ready to the fan and the creator",
    )
    recipients = sorted(str(m["To"].addresses[0].addr_spec) for m in told)
    assert recipients == sorted([booking["fan"]["email"], creator.email])
    for message in told:
        body = message.get_body(("plain", "html"))
        assert body is not None and event["hangoutLink"] in body.get_content()
