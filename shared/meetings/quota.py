"""Zoom's daily budget per host: 100 meeting create/update calls per UTC day. Flo counts its own creates per
creator, so once the budget is spent a booking falls back at once (Meet when Google is connected) instead of
waiting for Zoom's 429. The count is one document per creator and UTC day: it resets at 00:00 UTC by itself."""

from __future__ import annotations

from datetime import datetime

from shared.store.port import DocStore, add

ZOOM_QUOTA = "zoom_quota"
ZOOM_DAILY_WRITES = 100


def _day_key(creator_id: str, now: datetime) -> str:
    return f"{creator_id}_{now.date().isoformat()}"  # `now` is UTC: Zoom's day starts at 00:00 UTC


class ZoomQuota:
    def __init__(self, store: DocStore, limit: int = ZOOM_DAILY_WRITES) -> None:
        self._store = store
        self._limit = limit

    def take(self, creator_id: str, now: datetime) -> bool:
        """Count one create call against today's budget; False once it is spent.

        The count is added on the server and read back, not taken in a transaction: a burst of one creator's
        bookings reconciled at once would otherwise all contend for this one document (seen as the emulator's
        "Transaction lock timeout" under concurrent pushes). A count read back above the limit refuses, so the
        budget is never overspent; at the boundary two racing takes may both refuse, a create too few at worst.
        """
        doc_id = _day_key(creator_id, now)
        self._store.commit([add(ZOOM_QUOTA, doc_id, {"count": 1})])
        counted = self._store.get(ZOOM_QUOTA, doc_id) or {}
        return int(counted.get("count", 0)) <= self._limit
