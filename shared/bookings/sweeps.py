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
    """A confirmed booking whose link is still pending past its deadline gets its event again, so the
    meetings worker decides it (falling back) even if every earlier delivery was dead-lettered."""
    nudged = 0
    for booking_id, booking in bookings.link_nudges_due_by(now, STUCK_LINKS_BATCH):
        nudged += bool(guarded(booking_id, partial(_nudge, bookings, outbox, booking_id, booking, now), "link nudge"))
    return nudged


def _nudge(bookings: BookingRepository, outbox: Outbox, booking_id: str, booking: Booking, now: datetime) -> bool:
    """Conditional on the link as read: a link decided meanwhile is not nudged, nor its timer re-armed."""
    if booking.confirmed and booking.link_status == "pending":
        rearmed = replace(booking, link_nudge_at=now + LINK_NUDGE_INTERVAL)
        if bookings.update_if(booking_id, booking, rearmed, Booking.link_decided_from) is None:
            return False
        outbox.publish(booking_id, booking.revision)
        return True
    bookings.update_if(booking_id, booking, replace(booking, link_nudge_at=None), Booking.link_decided_from)
    return False


def run_booking_sweeps(
    bookings: BookingRepository, outbox: Outbox, service: BookingService, now: datetime
) -> dict[str, int]:
    return {
        "outbox_published": outbox.sweep(now),
        "holds_released": service.release_expired_holds(),
        "links_nudged": nudge_stuck_links(bookings, outbox, now),
    }
