"""The scheduler's booking sweeps: a link still pending past its deadline, or a cancel whose cleanup the meetings
worker has not finished, gets its event published again."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import pytest

from shared.bookings.batch import guarded
from shared.bookings.model import BOOKINGS
from shared.bookings.sweeps import nudge_stuck_links
from shared.store.port import update
from tests.unit.test_bookings_harness import Harness, at

NOW = Harness().clock.now()


def _booking(h: Harness, offer_id: str, start: str, status: str, link_status: str, nudge_at: datetime) -> str:
    """A real booking, then set to the state the sweep must judge."""
    booking_id, _ = h.booked(offer_id, start)
    fields = {"status": status, "link_status": link_status, "revision": 3, "link_nudge_at": nudge_at}
    h.store.commit([update(BOOKINGS, booking_id, fields)])
    return booking_id


def test_pending_links_and_unfinished_cancels_past_their_time_are_republished() -> None:
    h = Harness()
    offer_id = h.offer(h.creator())
    stuck = _booking(h, offer_id, at(9), "confirmed", "pending", NOW - timedelta(seconds=1))
    _booking(h, offer_id, at(10), "confirmed", "pending", NOW + timedelta(minutes=5))
    settled = _booking(h, offer_id, at(11), "confirmed", "ready", NOW - timedelta(seconds=1))
    uncleaned = _booking(h, offer_id, at(11, 30), "cancelled", "ready", NOW - timedelta(seconds=1))
    h.publisher.published.clear()
    bookings, outbox = h.runtime.bookings, h.runtime.outbox
    assert nudge_stuck_links(bookings, outbox, NOW) == 2
    assert sorted(e["booking_id"] for e in h.publisher.on("booking-events")) == sorted([stuck, uncleaned])
    assert all(e["revision"] == 3 for e in h.publisher.on("booking-events"))
    assert h.doc(stuck)["link_nudge_at"] > NOW, "the next nudge waits an interval"
    assert h.doc(uncleaned)["link_nudge_at"] > NOW, "until the meetings worker clears it"
    assert h.doc(settled)["link_nudge_at"] is None
    assert nudge_stuck_links(bookings, outbox, NOW) == 0, "no second nudge within the interval"


def test_a_cleanup_finished_after_the_sweep_read_it_is_neither_nudged_nor_rearmed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    h = Harness()
    cancelled = _booking(h, h.offer(h.creator()), at(9), "cancelled", "ready", NOW - timedelta(seconds=1))
    h.publisher.published.clear()
    store, read = h.store, h.store.query

    def read_then_cleaned_up(*args: Any, **kwargs: Any) -> Any:
        rows = read(*args, **kwargs)
        monkeypatch.setattr(store, "query", read)  # the meetings worker finishes the deletes right after the read
        store.commit([update(BOOKINGS, cancelled, {"link_nudge_at": None})])
        return rows

    monkeypatch.setattr(store, "query", read_then_cleaned_up)
    assert nudge_stuck_links(h.runtime.bookings, h.runtime.outbox, NOW) == 0
    assert h.publisher.on("booking-events") == []
    assert h.doc(cancelled)["link_nudge_at"] is None


def test_a_link_decided_after_the_sweep_read_it_is_neither_nudged_nor_rearmed(monkeypatch: pytest.MonkeyPatch) -> None:
    h = Harness()
    stuck = _booking(h, h.offer(h.creator()), at(9), "confirmed", "pending", NOW - timedelta(seconds=1))
    h.publisher.published.clear()
    store, read = h.store, h.store.query

    def read_then_link_decided(*args: Any, **kwargs: Any) -> Any:
        rows = read(*args, **kwargs)
        monkeypatch.setattr(store, "query", read)  # the meetings worker records the link right after the sweep's read
        decided = {
            "link_status": "ready",
            "link_revision": 3,
            "meeting_url": "https://zoom.us/j/1",
            "link_nudge_at": None,
        }
        store.commit([update(BOOKINGS, stuck, decided)])
        return rows

    monkeypatch.setattr(store, "query", read_then_link_decided)
    assert nudge_stuck_links(h.runtime.bookings, h.runtime.outbox, NOW) == 0
    assert h.publisher.on("booking-events") == []
    assert h.doc(stuck)["link_nudge_at"] is None


@pytest.mark.parametrize(("subject", "field"), [(None, "booking_id"), ("entry", "entry_id")])
def test_a_failed_step_is_logged_naming_what_it_was_for_and_answers_none(
    subject: str | None, field: str, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> int:
        raise RuntimeError("bad data")

    with caplog.at_level(logging.WARNING):
        named = guarded("b1", broken, "a step") if subject is None else guarded("b1", broken, "a step", subject=subject)
        assert named is None  # a booking unless told otherwise
    [logged] = caplog.records
    assert getattr(logged, field, None) == "b1"
