"""Sweeps the scheduler runs: nothing a crash or a down worker left half-done stays that way."""

from __future__ import annotations

from datetime import datetime

from shared.bookings.model import BOOKINGS
from shared.bookings.outbox import publish_change, sweep_outbox
from shared.bookings.service import LINK_NUDGE_INTERVAL, BookingService
from shared.bus.port import Publisher
from shared.store.port import DocStore, Where, update


def nudge_stuck_links(store: DocStore, publisher: Publisher, now: datetime) -> int:
    """A confirmed booking whose link is still pending past its deadline gets its event again, so the
    meetings worker settles it (falling back) even if every earlier delivery was dead-lettered."""
    rows = store.query(BOOKINGS, [Where("link_nudge_at", "<=", now)], limit=100)
    nudged = 0
    for booking_id, doc in rows:
        if doc["status"] == "confirmed" and doc.get("link_status") == "pending":
            store.commit([update(BOOKINGS, booking_id, {"link_nudge_at": now + LINK_NUDGE_INTERVAL})])
            publish_change(store, publisher, booking_id, int(doc["revision"]))
            nudged += 1
        else:
            store.commit([update(BOOKINGS, booking_id, {"link_nudge_at": None})])
    return nudged


def run_booking_sweeps(
    store: DocStore, publisher: Publisher, bookings: BookingService, now: datetime
) -> dict[str, int]:
    return {
        "outbox_published": sweep_outbox(store, publisher, now),
        "holds_released": bookings.release_expired_holds(),
        "links_nudged": nudge_stuck_links(store, publisher, now),
    }
