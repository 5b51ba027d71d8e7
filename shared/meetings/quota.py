"""Zoom's daily budget per host: 100 meeting create/update calls per UTC day. Flo counts its own creates per
creator, so once the budget is spent a booking falls back at once (Meet when Google is connected) instead of
waiting for Zoom's 429. The count is one document per creator and UTC day: it resets at 00:00 UTC by itself."""

from __future__ import annotations

from datetime import datetime

from shared.store.port import DocStore, Txn, put

ZOOM_QUOTA = "zoom_quota"
ZOOM_DAILY_WRITES = 100


def _day_key(creator_id: str, now: datetime) -> str:
    return f"{creator_id}_{now.date().isoformat()}"  # `now` is UTC: Zoom's day starts at 00:00 UTC


class ZoomQuota:
    def __init__(self, store: DocStore, limit: int = ZOOM_DAILY_WRITES) -> None:
        self._store = store
        self._limit = limit

    def take(self, creator_id: str, now: datetime) -> bool:
        """Count one create call against today's budget; False (nothing counted) once it is spent."""
        doc_id = _day_key(creator_id, now)

        def spend(txn: Txn) -> bool:
            used = int((txn.get(ZOOM_QUOTA, doc_id) or {}).get("count", 0))
            if used >= self._limit:
                return False
            txn.write(put(ZOOM_QUOTA, doc_id, {"creator_id": creator_id, "count": used + 1, "day": doc_id}))
            return True

        return bool(self._store.transaction(spend))
