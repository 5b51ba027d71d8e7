"""The slots a fan can pick: the creator's hours, minus Google busy times and bookings that hold their time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from shared.availability import Interval, compute_slots, validate_window, window_bounds
from shared.bookings.catalog import Catalog, weekly_hours_of
from shared.bookings.repository import BookingRepository
from shared.bookings.service import BusyTimes, Policy
from shared.clock import Clock
from shared.store.port import Doc


@dataclass(frozen=True)
class OpenSlots:
    zone: ZoneInfo
    """The creator's timezone: slots are shown with its offset."""
    slots: tuple[Interval, ...]
    calendar_checked: bool
    """False when the creator's calendar could not be read: the slots then ignore its busy times."""


class SlotFinder:
    def __init__(
        self, catalog: Catalog, bookings: BookingRepository, busy: BusyTimes, clock: Clock, policy: Policy
    ) -> None:
        self._catalog = catalog
        self._bookings = bookings
        self._busy = busy
        self._clock = clock
        self._horizon = policy.booking_horizon

    def open_slots(self, creator_id: str, offer_id: str, first_day: str, last_day: str) -> OpenSlots:
        """Free slots of the offer between two creator-local dates (YYYY-MM-DD, both included)."""
        offer, creator = self._catalog.public_offer(creator_id, offer_id)
        first, last = validate_window(first_day, last_day)
        return self.free(creator_id, creator, timedelta(minutes=int(offer["duration_minutes"])), first, last)

    def free(self, creator_id: str, creator: Doc, duration: timedelta, first: date, last: date) -> OpenSlots:
        """Free slots of `duration` between two creator-local dates: hours minus busy times and bookings."""
        hours = weekly_hours_of(creator)
        low, high = window_bounds(hours, first, last)
        found = self._busy.busy(creator_id, low, high)
        now = self._clock.now()
        taken = [
            Interval(b.start, b.end)
            for _, b in self._bookings.overlapping(creator_id, low, high)
            if b.blocks_slots(now)
        ]
        free = compute_slots(hours, duration, first, last, now, (*found.intervals, *taken))
        bookable = tuple(s for s in free if s.start <= now + self._horizon)
        return OpenSlots(hours.zone, bookable, found.checked)
