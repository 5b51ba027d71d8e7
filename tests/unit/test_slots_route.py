"""GET /api/public/creators/{creator_id}/offers/{offer_id}/slots: hours minus bookings, holds and Google busy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.providers.errors import ErrorKind, ProviderError
from shared.store.port import update
from tests.unit.test_bookings_harness import MONDAY, TUESDAY, Harness, at, error_of

MONDAY_30 = [at(9), at(9, 30), at(10), at(10, 30), at(11), at(11, 30)]


def test_slots_follow_the_hours_in_the_creators_timezone() -> None:
    h = Harness()
    creator = h.creator(timezone="America/New_York")
    offer_id = h.offer(creator, duration=60)
    response = h.slots_response(creator.creator_id, offer_id)
    assert response.status_code == 200
    body = response.get_json()
    assert body["timezone"] == "America/New_York"
    assert [s["start"] for s in body["slots"]] == [
        "2026-03-02T09:00:00-05:00",
        "2026-03-02T10:00:00-05:00",
        "2026-03-02T11:00:00-05:00",
    ]
    assert body["slots"][0]["end"] == "2026-03-02T10:00:00-05:00"
    assert "calendar_checked" not in body


def test_a_confirmed_booking_blocks_its_time_for_every_offer_of_the_creator() -> None:
    h = Harness()
    creator = h.creator()
    half_hour = h.offer(creator, duration=30)
    hour = h.offer(creator, duration=60)
    h.booked(half_hour, at(10, 30))
    assert h.slot_starts(creator.creator_id, half_hour) == [at(9), at(9, 30), at(10), at(11), at(11, 30)]
    # The 10:00-11:00 hour overlaps 10:30-11:00.
    assert h.slot_starts(creator.creator_id, hour) == [at(9), at(11)]


def test_bookings_of_another_creator_do_not_block() -> None:
    h = Harness()
    first, second = h.creator(), h.creator()
    first_offer, second_offer = h.offer(first), h.offer(second)
    h.booked(first_offer, at(9))
    assert h.slot_starts(second.creator_id, second_offer) == MONDAY_30


def test_a_cancelled_booking_gives_its_slot_back() -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    _, token = h.booked(offer_id, at(9))
    assert at(9) not in h.slot_starts(creator.creator_id, offer_id)
    assert h.client.post(f"/api/manage/{token}/cancel").status_code == 200
    assert h.slot_starts(creator.creator_id, offer_id) == MONDAY_30


def test_a_pending_payment_hold_blocks_until_it_expires() -> None:
    h = Harness()
    creator = h.creator()
    paid = h.offer(creator, price_cents=5000)
    booking_id, _ = h.booked(paid, at(9))
    assert h.doc(booking_id)["status"] == "pending_payment"
    assert at(9) not in h.slot_starts(creator.creator_id, paid)
    h.clock.advance(timedelta(minutes=14, seconds=59))
    assert at(9) not in h.slot_starts(creator.creator_id, paid)
    h.clock.advance(timedelta(seconds=1))
    # Not yet released by the sweep, but an expired hold no longer blocks what fans see.
    assert h.doc(booking_id)["status"] == "pending_payment"
    assert at(9) in h.slot_starts(creator.creator_id, paid)


def test_past_slots_are_not_offered() -> None:
    h = Harness(now=datetime(2026, 3, 2, 10, 10, tzinfo=UTC))
    creator = h.creator()
    offer_id = h.offer(creator)
    assert h.slot_starts(creator.creator_id, offer_id) == [at(10, 30), at(11), at(11, 30)]


def test_google_busy_times_block_slots_when_google_is_connected() -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    h.calendar.busy.append((datetime(2026, 3, 2, 9, 45, tzinfo=UTC), datetime(2026, 3, 2, 10, 15, tzinfo=UTC)))
    # Not connected: Flo does not read the calendar at all.
    assert h.slot_starts(creator.creator_id, offer_id) == MONDAY_30
    assert h.calendar.calls == []
    h.connections.connect(creator.creator_id, "google")
    assert h.slot_starts(creator.creator_id, offer_id) == [at(9), at(10, 30), at(11), at(11, 30)]
    assert h.calendar.calls == ["free_busy"]


def test_zoom_alone_does_not_read_busy_times() -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    h.connections.connect(creator.creator_id, "zoom")
    h.calendar.busy.append((datetime(2026, 3, 2, 9, tzinfo=UTC), datetime(2026, 3, 2, 12, tzinfo=UTC)))
    assert h.slot_starts(creator.creator_id, offer_id) == MONDAY_30
    assert h.calendar.calls == []


@pytest.mark.parametrize("kind", [ErrorKind.TRANSIENT, ErrorKind.RATE_LIMITED, ErrorKind.REVOKED])
def test_slots_are_still_served_when_the_calendar_fails(kind: ErrorKind) -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    h.booked(offer_id, at(9))
    h.connections.connect(creator.creator_id, "google")
    h.calendar.busy.append((datetime(2026, 3, 2, 11, tzinfo=UTC), datetime(2026, 3, 2, 12, tzinfo=UTC)))
    h.calendar.fail_next(ProviderError(kind, "google", 503, None, "calendar down"))
    response = h.slots_response(creator.creator_id, offer_id)
    assert response.status_code == 200
    body = response.get_json()
    assert body["calendar_checked"] is False
    # Hours and Flo's own bookings still apply; only the external busy time is unknown.
    assert [s["start"] for s in body["slots"]] == [at(9, 30), at(10), at(10, 30), at(11), at(11, 30)]


def test_a_reconnect_required_calendar_is_reported_unchecked() -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    h.connections.statuses[(creator.creator_id, "google")] = "reconnect_required"
    body = h.slots_response(creator.creator_id, offer_id).get_json()
    assert body["calendar_checked"] is False
    assert body["notice"] == "The creator's calendar busy times could not be checked."
    assert len(body["slots"]) == 6


def test_a_window_spans_several_days_ends_included() -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator, duration=60)
    starts = h.slot_starts(creator.creator_id, offer_id, MONDAY, TUESDAY)
    assert starts == [at(9), at(10), at(11), at(9, day=3), at(10, day=3), at(11, day=3)]


def test_unknown_offer_or_creator_is_404() -> None:
    h = Harness()
    creator, other = h.creator(), h.creator()
    offer_id = h.offer(creator)
    assert error_of(h.slots_response(creator.creator_id, "nope"))["code"] == "offer_not_found"
    response = h.slots_response("nobody", offer_id)
    assert response.status_code == 404
    error_of(response)
    # An offer asked for under another creator's id is not found either.
    assert h.slots_response(other.creator_id, offer_id).status_code == 404


def test_a_free_plan_creator_has_no_slots() -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    # The creator downgrades after making the offer.
    h.store.commit([update("creators", creator.creator_id, {"plan": "free"})])
    response = h.slots_response(creator.creator_id, offer_id)
    assert response.status_code == 403
    assert error_of(response)["code"] == "plan_required"


@pytest.mark.parametrize(
    ("first", "last"),
    [
        ("2026-03-03", "2026-03-02"),  # from after to
        ("2026-03-01", "2026-05-30"),  # 91 days
        ("2026-3-2", "2026-03-02"),
        ("2026-03-02", "tomorrow"),
        ("2026-02-30", "2026-03-02"),
        ("20260302", "2026-03-02"),
        ("", "2026-03-02"),
        ("0001-01-01", "0001-01-02"),
        ("9999-12-31", "9999-12-31"),
    ],
)
def test_a_bad_window_is_400_with_a_message(first: str, last: str) -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    response = h.slots_response(creator.creator_id, offer_id, first, last)
    assert response.status_code == 400
    error_of(response)


def test_a_missing_window_is_400() -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    response = h.client.get(f"/api/public/creators/{creator.creator_id}/offers/{offer_id}/slots")
    assert response.status_code == 400
    assert "from" in error_of(response)["message"]


def test_ninety_days_is_allowed() -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator, duration=180)
    starts = h.slot_starts(creator.creator_id, offer_id, "2026-03-02", "2026-05-30")
    assert len(starts) == 65  # one 09:00 slot a weekday for 13 weeks
    assert starts[-1] == datetime(2026, 5, 29, 9, tzinfo=UTC).isoformat()


def test_a_window_at_the_end_of_the_calendar_is_not_a_500() -> None:
    h = Harness()
    creator = h.creator(timezone="Pacific/Kiritimati")
    offer_id = h.offer(creator)
    response = h.slots_response(creator.creator_id, offer_id, "9999-12-30", "9999-12-30")
    assert response.status_code == 200
