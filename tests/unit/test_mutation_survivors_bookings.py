"""Tests that kill mutants which survived the unit tier in the booking use cases and Google busy times.

Each test names the planted bug it catches; all go through the bookings routes of the harness.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.bookings.busy import CACHE_TTL
from shared.providers.errors import ErrorKind, ProviderError
from tests.unit.test_bookings_harness import TUESDAY, Harness, at, error_of


def nine_to_quarter_past() -> tuple[datetime, datetime]:
    return datetime(2026, 3, 2, 9, tzinfo=UTC), datetime(2026, 3, 2, 9, 15, tzinfo=UTC)


def test_a_rescheduled_booking_gives_its_old_time_back_to_other_fans() -> None:
    """Planted bug: reschedule keeps the old slot cells, so the old time is listed free but answers 409."""
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    _, token = h.booked(offer_id, at(9))
    moved = h.client.post(f"/api/manage/{token}/reschedule", json={"start": at(10)})
    assert moved.status_code == 200, moved.get_data(as_text=True)
    assert at(9) in h.slot_starts(creator.creator_id, offer_id)
    again = h.book(offer_id, at(9), email="second@example.com")
    assert again.status_code == 201, again.get_data(as_text=True)


def test_a_reschedule_racing_a_cancel_answers_booking_changed_and_leaves_the_cancel(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Planted bug: the revision check of the conditional write dropped (the fan cancels in another tab
    while the reschedule is between reading the booking and writing it)."""
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    booking_id, token = h.booked(offer_id, at(9))
    h.connections.connect(creator.creator_id, "google")
    real_free_busy = h.calendar.free_busy
    cancelled: list[int] = []

    def free_busy_while_the_fan_cancels(access: str, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        if not cancelled:  # the reschedule has read the booking and now checks Google: the cancel lands here
            response = h.client.post(f"/api/manage/{token}/cancel")
            cancelled.append(response.status_code)
        return real_free_busy(access, start, end)

    monkeypatch.setattr(h.calendar, "free_busy", free_busy_while_the_fan_cancels)
    response = h.client.post(f"/api/manage/{token}/reschedule", json={"start": at(10)})
    assert cancelled == [200]
    assert response.status_code == 409
    assert error_of(response)["code"] == "booking_changed"
    doc = h.doc(booking_id)
    assert (doc["status"], doc["start"]) == ("cancelled", datetime(2026, 3, 2, 9, tzinfo=UTC))
    assert at(9) in h.slot_starts(creator.creator_id, offer_id)
    assert at(10) in h.slot_starts(creator.creator_id, offer_id)


def test_slot_views_within_the_cache_time_read_google_once_and_later_ones_read_it_again() -> None:
    """Planted bugs: the busy cache never hit (every slot view spends quota) or never expiring."""
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    h.connections.connect(creator.creator_id, "google")
    assert at(9) in h.slot_starts(creator.creator_id, offer_id)
    h.calendar.busy.append(nine_to_quarter_past())
    h.clock.advance(CACHE_TTL - timedelta(seconds=1))
    assert at(9) in h.slot_starts(creator.creator_id, offer_id)
    assert h.calendar.calls.count("free_busy") == 1
    h.clock.advance(timedelta(seconds=1))
    assert at(9) not in h.slot_starts(creator.creator_id, offer_id)
    assert h.calendar.calls.count("free_busy") == 2


def test_booking_reads_google_afresh_even_with_busy_times_cached() -> None:
    """Planted bug: the `fresh` flag ignored, so a booking trusts busy times cached by an earlier one."""
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    h.connections.connect(creator.creator_id, "google")
    _, token = h.booked(offer_id, at(9))
    assert h.client.post(f"/api/manage/{token}/cancel").status_code == 200
    h.calendar.busy.append(nine_to_quarter_past())
    response = h.book(offer_id, at(9), email="second@example.com")
    assert response.status_code == 409
    assert error_of(response)["code"] == "slot_unavailable"


def test_an_unreadable_calendar_is_not_cached() -> None:
    """A failed Google read serves slots from hours alone once; the next view asks Google again."""
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    h.connections.connect(creator.creator_id, "google")
    h.calendar.busy.append(nine_to_quarter_past())
    h.calendar.fail_next(ProviderError(ErrorKind.TRANSIENT, "google", 503))
    assert at(9) in h.slot_starts(creator.creator_id, offer_id)
    assert at(9) not in h.slot_starts(creator.creator_id, offer_id)


def test_a_session_between_one_and_twenty_four_hours_ahead_gets_only_the_one_hour_reminder_armed() -> None:
    """Planted bug: a 24 h reminder whose time already passed is armed (and would go at once)."""
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    booking_id, _ = h.booked(offer_id, at(11))  # three hours after NOW
    assert h.doc(booking_id)["next_reminder_at"] == datetime(2026, 3, 2, 10, tzinfo=UTC)


def test_the_busy_cache_keeps_each_range_apart() -> None:
    """Planted bug: one cache entry for every range, so Tuesday's view is served Monday's busy times."""
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    h.connections.connect(creator.creator_id, "google")
    assert at(9) in h.slot_starts(creator.creator_id, offer_id)
    h.calendar.busy.append((datetime(2026, 3, 3, 9, tzinfo=UTC), datetime(2026, 3, 3, 10, tzinfo=UTC)))
    tuesday = h.slot_starts(creator.creator_id, offer_id, TUESDAY, TUESDAY)
    assert at(9, day=3) not in tuesday
    assert at(10, day=3) in tuesday
