"""Booking events leave through an outbox written in the same commit, so a crash before publishing loses none."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from shared.bookings.model import OUTBOX
from shared.bus.port import Publisher
from shared.store.port import DocStore, Where, Write, create, delete

log = logging.getLogger(__name__)
BOOKING_EVENTS = "booking-events"


def outbox_write(booking_id: str, revision: int, now: datetime) -> Write:
    """The write the booking repository adds to the commit of every new revision."""
    return create(
        OUTBOX, f"{booking_id}-{revision}", {"booking_id": booking_id, "revision": revision, "created_at": now}
    )


class Outbox:
    """Publishes a booking's revision after its commit, and sweeps up what a crash or an outage left."""

    def __init__(self, store: DocStore, publisher: Publisher) -> None:
        self._store = store
        self._publisher = publisher

    def publish(self, booking_id: str, revision: int) -> None:
        """Publish after the commit; on failure the outbox entry stays for the sweep to send."""
        try:
            self._publisher.publish(
                BOOKING_EVENTS, {"type": "booking.changed", "booking_id": booking_id, "revision": revision}
            )
        except Exception:
            log.warning("publish failed; the outbox sweep will retry", extra={"booking_id": booking_id}, exc_info=True)
            return
        self._store.commit([delete(OUTBOX, f"{booking_id}-{revision}")])

    def sweep(self, now: datetime, min_age: timedelta = timedelta(seconds=5)) -> int:
        """Publish every entry older than min_age (younger ones are still being published by their request)."""
        pending = self._store.query(
            OUTBOX, [Where("created_at", "<=", now - min_age)], order_by="created_at", limit=200
        )
        for _, entry in pending:
            self.publish(entry["booking_id"], int(entry["revision"]))
        return len(pending)
