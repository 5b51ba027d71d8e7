"""A pause on a creator's Google Calendar writes after Google answered "Calendar usage limits exceeded".

Google refuses that user's writes for a while (its help pages speak of hours), so each redelivery that tried
again would only hammer it. While the pause lasts, reconciles make no Google write for the creator and decide
at once, as for any Google failure past the link deadline; busy-time reads are not paused (they degrade as they
always do). One document per creator: the pause ends by itself, and the scheduler tick then catches up on what it
skipped (`shared/meetings/google_catch_up.py`) and marks it so (`until` cleared)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.store.port import DocStore, Txn, Where, paged, put, update

GOOGLE_PAUSES = "google_write_pauses"
GOOGLE_WRITE_PAUSE = timedelta(hours=1)
"""Used when Google names no Retry-After: long enough not to hammer, short enough that a day's bookings are not
all left without an event."""
CATCH_UP_SETTLES = timedelta(minutes=15)
"""How long after a catch-up the reconciles it set off may still meet a new pause (its burst of writes can be
what Google limits next): a pause set within it keeps the start of the one caught up, so what those reconciles
gave up on is caught up again after it."""


@dataclass(frozen=True)
class EndedPause:
    """A pause that is over and whose skipped Google work is still owed."""

    creator_id: str
    since: datetime | None
    """When the earliest pause this catch-up covers began (None on a document older than this field: no bound)."""
    until: datetime


class GoogleWritePause:
    def __init__(self, store: DocStore) -> None:
        self._store = store

    def paused_until(self, creator_id: str, now: datetime) -> datetime | None:
        """The end of the creator's pause, or None when Google writes may go ahead."""
        doc = self._store.get(GOOGLE_PAUSES, creator_id)
        until = doc.get("until") if doc else None
        return until if isinstance(until, datetime) and until > now else None

    def pause(self, creator_id: str, now: datetime, retry_after: float | None) -> datetime:
        """Stop the creator's Google writes until Google's Retry-After, or for GOOGLE_WRITE_PAUSE. A pause not
        caught up yet, or caught up within CATCH_UP_SETTLES, keeps its start, so the next catch-up covers it too."""
        until = now + (timedelta(seconds=retry_after) if retry_after else GOOGLE_WRITE_PAUSE)

        def write(txn: Txn) -> None:
            doc = txn.get(GOOGLE_PAUSES, creator_id) or {}
            caught_up_at = doc.get("caught_up_at")
            recent = doc.get("until") is not None or (
                caught_up_at is not None and caught_up_at > now - CATCH_UP_SETTLES
            )
            since = doc.get("since") if recent else now
            txn.write(put(GOOGLE_PAUSES, creator_id, {"creator_id": creator_id, "since": since, "until": until}))

        self._store.transaction(write)
        return until

    def ended_by(self, moment: datetime, batch: int) -> Iterator[EndedPause]:
        """Every pause that ended by `moment` and is not caught up yet, the earliest ended first: one single-field
        query (a pause caught up has no `until`), so a tick with nothing owed reads nothing else."""
        for creator_id, doc in paged(self._store, GOOGLE_PAUSES, [Where("until", "<=", moment)], "until", batch):
            yield EndedPause(creator_id, doc.get("since"), doc["until"])

    def caught_up(self, pause: EndedPause, now: datetime) -> bool:
        """Mark the pause caught up, only if it is still the one caught up on: a new pause set meanwhile (another
        `until`) stays owed. True if this call marked it."""

        def mark(txn: Txn) -> bool:
            doc = txn.get(GOOGLE_PAUSES, pause.creator_id)
            if doc is None or doc.get("until") != pause.until:
                return False
            txn.write(update(GOOGLE_PAUSES, pause.creator_id, {"until": None, "caught_up_at": now}))
            return True

        return self._store.transaction(mark)
