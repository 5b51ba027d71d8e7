"""A pause on a creator's Google Calendar writes after Google answered "Calendar usage limits exceeded".

Google refuses that user's writes for a while (its help pages speak of hours), so each redelivery that tried
again would only hammer it. While the pause lasts, reconciles make no Google write for the creator and decide
at once, as for any Google failure past the link deadline; busy-time reads are not paused (they degrade as they
always do). One document per creator; the pause ends by itself."""

from __future__ import annotations

from datetime import datetime, timedelta

from shared.store.port import DocStore, put

GOOGLE_PAUSES = "google_write_pauses"
GOOGLE_WRITE_PAUSE = timedelta(hours=1)
"""Used when Google names no Retry-After: long enough not to hammer, short enough that a day's bookings are not
all left without an event."""


class GoogleWritePause:
    def __init__(self, store: DocStore) -> None:
        self._store = store

    def paused_until(self, creator_id: str, now: datetime) -> datetime | None:
        """The end of the creator's pause, or None when Google writes may go ahead."""
        doc = self._store.get(GOOGLE_PAUSES, creator_id)
        until = doc.get("until") if doc else None
        return until if isinstance(until, datetime) and until > now else None

    def pause(self, creator_id: str, now: datetime, retry_after: float | None) -> datetime:
        """Stop the creator's Google writes until Google's Retry-After, or for GOOGLE_WRITE_PAUSE."""
        until = now + (timedelta(seconds=retry_after) if retry_after else GOOGLE_WRITE_PAUSE)
        self._store.commit([put(GOOGLE_PAUSES, creator_id, {"creator_id": creator_id, "until": until})])
        return until
