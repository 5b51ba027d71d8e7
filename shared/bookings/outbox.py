"""Booking events leave through an outbox written in the same commit, so a crash before publishing loses none."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import partial

from shared.bookings.batch import guarded
from shared.bookings.model import OUTBOX
from shared.bus.port import Publisher
from shared.store.port import Conflict, Doc, DocStore, Where, Write, create, delete, paged

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

    def republish(self, booking_id: str, revision: int, now: datetime) -> None:
        """Publish a revision once more (work on it is owed again), with its outbox entry written first so a failed
        publish is swept up; an entry still waiting is left to its own publisher or the sweep."""
        try:
            self._store.commit([outbox_write(booking_id, revision, now)])
        except Conflict:
            return
        self.publish(booking_id, revision)

    def sweep(self, now: datetime, min_age: timedelta = timedelta(seconds=5)) -> int:
        """Publish every entry older than min_age (younger ones are still being published by their request),
        oldest first, a page at a time; an entry that cannot be published now stays for the next tick."""
        swept = 0
        for entry_id, entry in paged(
            self._store, OUTBOX, [Where("created_at", "<=", now - min_age)], "created_at", 200
        ):
            guarded(entry_id, partial(self._publish_entry, entry), "publishing an outbox entry")
            swept += 1
        return swept

    def _publish_entry(self, entry: Doc) -> None:
        self.publish(str(entry["booking_id"]), int(entry["revision"]))
