"""Sweeps the scheduler runs: nothing a crash or a down worker left half-done stays that way."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from functools import partial

from shared.bookings.batch import guarded
from shared.bookings.booking import Booking
from shared.bookings.outbox import Outbox
from shared.bookings.repository import BookingRepository
from shared.bookings.service import LINK_NUDGE_INTERVAL, BookingService

STUCK_LINKS_BATCH = 100


def nudge_stuck_links(bookings: BookingRepository, outbox: Outbox, now: datetime) -> int:
    """A booking whose last revision the meetings worker has not finished gets its event again, even if every
    earlier delivery was dead-lettered: a confirmed one whose link is still pending past its deadline (so it
    is decided, falling back), and a cancelled one whose meeting and event were not yet deleted (the cancel
    sets the timer, the worker clears it once the deletes are done)."""
    nudged = 0
    for booking_id, booking in bookings.link_nudges_due_by(now, STUCK_LINKS_BATCH):
        nudged += bool(guarded(booking_id, partial(_nudge, bookings, outbox, booking_id, booking, now), "link nudge"))
    return nudged


def _nudge(bookings: BookingRepository, outbox: Outbox, booking_id: str, booking: Booking, now: datetime) -> bool:
    """Conditional on the link and its timer as read: a link decided or a cleanup finished meanwhile is not
    nudged, nor its timer re-armed."""
    if booking.cancelled or (booking.confirmed and booking.link_status == "pending"):
        rearmed = replace(booking, link_nudge_at=now + LINK_NUDGE_INTERVAL)
        if bookings.update_if(booking_id, booking, rearmed, _nudge_decided_from) is None:
            return False
        outbox.publish(booking_id, booking.revision)
        return True
    bookings.update_if(booking_id, booking, replace(booking, link_nudge_at=None), _nudge_decided_from)
    return False


def _nudge_decided_from(booking: Booking) -> tuple[object, ...]:
    return (*booking.link_decided_from(), booking.link_nudge_at)


def run_booking_sweeps(
    bookings: BookingRepository, outbox: Outbox, service: BookingService, now: datetime
) -> dict[str, int]:
    return {
        "outbox_published": outbox.sweep(now),
        "holds_released": service.release_expired_holds(),
        "links_nudged": nudge_stuck_links(bookings, outbox, now),
    }
