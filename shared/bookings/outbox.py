"""Booking events leave through an outbox written in the same commit, so a crash before publishing loses none."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from shared.bookings.model import OUTBOX
from shared.bus.port import Publisher
from shared.store.port import DocStore, Where, create, delete

log = logging.getLogger(__name__)
BOOKING_EVENTS = "booking-events"


def outbox_write(booking_id: str, revision: int, now: datetime) -> Any:
    """The write to add to the booking's own commit."""
    return create(
        OUTBOX, f"{booking_id}-{revision}", {"booking_id": booking_id, "revision": revision, "created_at": now}
    )


def publish_change(store: DocStore, publisher: Publisher, booking_id: str, revision: int) -> None:
    """Publish after the commit; on failure the outbox entry stays for the sweep to send."""
    try:
        publisher.publish(BOOKING_EVENTS, {"type": "booking.changed", "booking_id": booking_id, "revision": revision})
    except Exception:
        log.warning("publish failed; the outbox sweep will retry", extra={"booking_id": booking_id}, exc_info=True)
        return
    store.commit([delete(OUTBOX, f"{booking_id}-{revision}")])


def sweep_outbox(
    store: DocStore, publisher: Publisher, now: datetime, min_age: timedelta = timedelta(seconds=5)
) -> int:
    """Publish every entry older than min_age (younger ones are still being published by their request)."""
    pending = store.query(OUTBOX, [Where("created_at", "<=", now - min_age)], order_by="created_at", limit=200)
    for _, entry in pending:
        publish_change(store, publisher, entry["booking_id"], int(entry["revision"]))
    return len(pending)
