"""Busy times from the creator's Google Calendar, cached briefly so a page of slot views spends little quota."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from shared.availability import Interval, merge_intervals, split_range
from shared.bookings.service import Busy
from shared.clock import Clock
from shared.connections.port import Connections, NotConnectedError
from shared.providers.errors import ProviderError
from shared.providers.ports import CalendarProvider

log = logging.getLogger(__name__)
CACHE_TTL = timedelta(seconds=60)


class GoogleBusyTimes:
    """Only external busy time is cached: bookings (and the events Flo makes for them) block from the store."""

    def __init__(self, connections: Connections, calendar: CalendarProvider, clock: Clock) -> None:
        self._connections = connections
        self._calendar = calendar
        self._clock = clock
        self._cache: dict[tuple[str, datetime, datetime], tuple[datetime, tuple[Interval, ...]]] = {}
        self._lock = threading.Lock()

    def _free_busy(self, start: datetime, end: datetime) -> Callable[[str], list[tuple[datetime, datetime]]]:
        def call(token: str) -> list[tuple[datetime, datetime]]:
            return self._calendar.free_busy(token, start, end)

        return call

    def busy(self, creator_id: str, start: datetime, end: datetime, *, fresh: bool = False) -> Busy:
        if self._connections.status(creator_id, "google") == "not_connected":
            return Busy((), checked=True)
        key = (creator_id, start, end)
        now = self._clock.now()
        with self._lock:
            hit = self._cache.get(key)
        if hit and not fresh and now - hit[0] < CACHE_TTL:
            return Busy(hit[1], checked=True)
        try:
            intervals: list[Interval] = []
            for piece_start, piece_end in split_range(start, end):
                spans = self._connections.with_token(creator_id, "google", self._free_busy(piece_start, piece_end))
                intervals += [Interval(a, b) for a, b in spans]
        except (ProviderError, NotConnectedError) as exc:
            log.warning("could not read Google busy times", extra={"creator_id": creator_id, "reason": str(exc)})
            return Busy((), checked=False)
        merged = tuple(merge_intervals(intervals))
        with self._lock:
            self._cache[key] = (now, merged)
        return Busy(merged, checked=True)


class NoCalendar:
    """For callers that only cancel or expire bookings (the sweeps): they never check a slot, so they
    need neither Google credentials nor the connections."""

    def busy(self, creator_id: str, start: datetime, end: datetime, *, fresh: bool = False) -> Busy:
        return Busy((), checked=True)
