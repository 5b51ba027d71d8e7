"""Slot computation time for a 90-day window as busy intervals and bookings grow tenfold.

The engine merges blockers once and sweeps them with a pointer, so ten times the blockers
should cost about ten times as much, not a hundred. Run: .venv/bin/python bench/slots.py
"""

import random
import time
from datetime import UTC, date, datetime, timedelta

from shared.availability import Interval, WeeklyHours, compute_slots, parse_weekly_hours, window_bounds

WORKDAY = [["09:00", "17:00"]]
HOURS = parse_weekly_hours("America/New_York", {day: WORKDAY for day in ("mon", "tue", "wed", "thu", "fri")})
OFFER = timedelta(minutes=30)
FIRST = date(2026, 2, 2)  # the 90 days cross the March daylight-saving change
REPEATS = 5


def blockers(hours: WeeklyHours, first: date, last: date, busy: int, bookings: int) -> list[Interval]:
    """Google busy intervals of 15 minutes to 3 hours, and 30-minute bookings, spread over the window."""
    rng = random.Random(6)
    low, high = window_bounds(hours, first, last)
    minutes = int((high - low) / timedelta(minutes=1))
    result = []
    for _ in range(busy):
        start = low + timedelta(minutes=rng.randrange(minutes))
        result.append(Interval(start, start + timedelta(minutes=rng.randrange(15, 181))))
    for _ in range(bookings):
        start = low + timedelta(minutes=rng.randrange(0, minutes, 5))
        result.append(Interval(start, start + OFFER))
    rng.shuffle(result)
    return result


def measure(days: int, busy: int, bookings: int) -> float:
    """Best of REPEATS wall-clock seconds for one compute_slots call; prints a row."""
    last = FIRST + timedelta(days=days - 1)
    blocking = blockers(HOURS, FIRST, last, busy, bookings)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    best = float("inf")
    for _ in range(REPEATS):
        began = time.perf_counter()
        slots = compute_slots(HOURS, OFFER, FIRST, last, now, blocking)
        best = min(best, time.perf_counter() - began)
    free = len(compute_slots(HOURS, OFFER, FIRST, last, now, []))
    print(
        f"{days:>5} days {busy:>7,} busy {bookings:>6,} bookings: "
        f"{best * 1000:8.1f} ms  ({len(slots):,} of {free:,} slots free)"
    )
    return best


def main() -> None:
    base = measure(90, 2_000, 500)
    tenfold = measure(90, 20_000, 5_000)
    print(f"10x blockers -> {tenfold / base:.1f}x time (linear ~10x, slots x blockers would be ~100x)")
    both = measure(900, 20_000, 5_000)
    print(f"10x slots too -> {both / tenfold:.1f}x time over the 10x-blockers row")


if __name__ == "__main__":
    main()
