"""What bookings are stored with: collection names, slot cells, token hashes, creators' hours, reminder times."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from shared.bookings.booking import LinkProvider

PLANS_WITH_BOOKINGS = frozenset({"creator", "pro", "studio"})
CELL_SECONDS = 300
"""Bookings claim 5-minute cells, so two overlapping bookings always collide on at least one document."""
REMINDER_OFFSETS = (("reminder_24h", timedelta(hours=24)), ("reminder_1h", timedelta(hours=1)))

BOOKINGS = "bookings"
CELLS = "slot_cells"
OUTBOX = "outbox"
CREATORS = "creators"
OFFERS = "offers"
HOLD_RELEASES = "hold_releases"
"""Markers making one request the one that releases an expired payment hold it found in its way."""
HOLD_RELEASE_RETENTION = timedelta(days=1)
"""A marker matters only while its release runs; Firestore's TTL deletes it (expires_at) after this."""


def token_hash(token: str) -> str:
    """Manage and API tokens are stored only as hashes: a leaked database gives no working link."""
    return hashlib.sha256(token.encode()).hexdigest()


def cell_ids(creator_id: str, start: datetime, end: datetime) -> list[str]:
    first = int(start.timestamp()) // CELL_SECONDS
    last = -(-int(end.timestamp()) // CELL_SECONDS)
    return [f"{creator_id}_{cell}" for cell in range(first, last)]


def hours_to_doc(weekly_hours: dict[str, list[list[str]]]) -> dict[str, list[dict[str, str]]]:
    """Firestore cannot store an array inside an array, so each [start, end] pair is kept as {"start", "end"}."""
    return {day: [{"start": start, "end": end} for start, end in ranges] for day, ranges in weekly_hours.items()}


def hours_from_doc(stored: Any) -> Any:
    """The API's {"mon": [["09:00", "17:00"]]} shape back from a creator document, for parse_weekly_hours."""
    if not isinstance(stored, dict):
        return stored
    return {
        day: [[r.get("start"), r.get("end")] if isinstance(r, dict) else r for r in ranges]
        if isinstance(ranges, list)
        else ranges
        for day, ranges in stored.items()
    }


def is_zoom_url(url: str | None) -> bool:
    if not url:
        return False
    host = (urlsplit(url).hostname or "").lower()
    return host == "zoom.us" or host.endswith(".zoom.us")


def is_meet_url(url: str | None) -> bool:
    return bool(url) and (urlsplit(url or "").hostname or "").lower() == "meet.google.com"


def video_provider_of(url: str) -> LinkProvider | None:
    """The provider a link set by hand belongs to, so it gets the same chip and Join wording as Flo's own."""
    return "zoom" if is_zoom_url(url) else "google_meet" if is_meet_url(url) else None


def next_reminder(
    start: datetime, now: datetime, sent: set[str] | frozenset[str] = frozenset()
) -> tuple[str, datetime] | None:
    """The next reminder still owed: only those whose send time is ahead (or the 1h one, once 24h has passed)."""
    for kind, offset in REMINDER_OFFSETS:
        due = start - offset
        if kind in sent:
            continue
        if kind == "reminder_24h" and due < now:
            continue
        if start <= now:
            return None
        return kind, due
    return None
