"""Issue 6 through the local stack: hours, bookings and Google busy blocks decide the slots fans see."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from tests.e2e.flo import Creator, Flo

ZONE = "America/New_York"
MORNINGS = {day: [["09:00", "12:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def _day() -> date:
    return date.today() + timedelta(days=5)


def _local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), ZoneInfo(ZONE))


def _starts(flo: Flo, creator: Creator, offer: str, day: date) -> list[str]:
    return [s["start"] for s in flo.slots(creator, offer, day, day)["slots"]]


def test_google_busy_blocks_slots_and_a_booking_blocks_every_offer(flo: Flo) -> None:
    creator = flo.creator(timezone=ZONE, hours=MORNINGS)
    hour, half = flo.offer(creator, duration=60), flo.offer(creator, duration=30)
    day = _day()
    body = flo.slots(creator, hour, day, day)
    assert body["timezone"] == ZONE
    assert [s["start"] for s in body["slots"]] == [_local(day, h).isoformat() for h in (9, 10, 11)]

    flo.connected(creator, "google")
    flo.sandbox.add_busy(creator.email, _local(day, 10).isoformat(), _local(day, 10, 30).isoformat())
    later = day + timedelta(days=1)
    flo.sandbox.add_busy(creator.email, _local(later, 9).isoformat(), _local(later, 12).isoformat())
    assert _starts(flo, creator, hour, later) == [], "a whole busy morning leaves nothing"
    assert _starts(flo, creator, hour, day) == [_local(day, 9).isoformat(), _local(day, 11).isoformat()]

    flo.book(hour, _local(day, 9).isoformat())
    half_starts = _starts(flo, creator, half, day)
    assert _local(day, 9).isoformat() not in half_starts and _local(day, 9, 30).isoformat() not in half_starts
    assert _local(day, 11).isoformat() in half_starts


def test_zoom_alone_never_blocks_slots(flo: Flo) -> None:
    creator = flo.creator(timezone=ZONE, hours=MORNINGS)
    offer = flo.offer(creator, duration=60)
    flo.connected(creator, "zoom")
    day = _day()
    assert len(_starts(flo, creator, offer, day)) == 3


def test_booking_rechecks_google_even_when_the_slot_view_was_cached(flo: Flo) -> None:
    creator = flo.creator(timezone=ZONE, hours=MORNINGS)
    offer = flo.offer(creator, duration=60)
    flo.connected(creator, "google")
    day = _day()
    assert _local(day, 11).isoformat() in _starts(flo, creator, offer, day)
    flo.sandbox.add_busy(creator.email, _local(day, 11).isoformat(), _local(day, 12).isoformat())
    response = flo.http.post(
        "/api/public/bookings",
        json={"offer_id": offer, "start": _local(day, 11).isoformat(), "fan": {"name": "F", "email": "f@example.com"}},
    )
    assert response.status_code == 409, response.text
    assert response.json()["error"]["code"] == "slot_unavailable"


def test_google_down_still_serves_slots_and_says_busy_times_were_not_checked(flo: Flo) -> None:
    creator = flo.creator(timezone=ZONE, hours=MORNINGS)
    offer = flo.offer(creator, duration=60)
    flo.connected(creator, "google")
    day = _day() + timedelta(days=3)
    flo.sandbox.add_fault("google", "freeBusy", status=500, times=20)
    try:
        body = flo.slots(creator, offer, day, day)
    finally:
        flo.sandbox.clear_faults()
    assert len(body["slots"]) == 3
    assert body["calendar_checked"] is False
    assert "could not be checked" in body["notice"]


def test_bad_windows_are_clear_4xx(flo: Flo) -> None:
    creator = flo.creator(timezone=ZONE, hours=MORNINGS)
    offer = flo.offer(creator)
    base = f"/api/public/creators/{creator.creator_id}/offers/{offer}/slots"
    cases = {
        "from after to": ({"from": "2026-12-10", "to": "2026-12-01"}, 400),
        "over 90 days": ({"from": "2027-01-01", "to": "2027-06-01"}, 400),
        "malformed": ({"from": "tomorrow", "to": "2026-12-01"}, 400),
    }
    for name, (params, status) in cases.items():
        response = flo.http.get(base, params=params)
        assert response.status_code == status, name
        assert response.json()["error"]["message"], name
    unknown = flo.http.get(
        f"/api/public/creators/{creator.creator_id}/offers/nope/slots",
        params={"from": "2026-12-01", "to": "2026-12-02"},
    )
    assert unknown.status_code == 404
