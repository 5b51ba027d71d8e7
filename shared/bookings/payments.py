"""Flo Payments' side of a booking: its payment confirmations arrive, refund requests leave; and, on the
local stack only, a stand-in that says a booking's payment succeeded, as Payments would."""

from __future__ import annotations

import logging

from shared.bookings.booking import Booking
from shared.bookings.notices import Notices
from shared.bookings.repository import BookingRepository
from shared.bookings.service import BookingService, booking_not_found
from shared.bus.port import Publisher

log = logging.getLogger(__name__)

PAYMENT_EVENTS = "payment-events"
PAYMENT_SUCCEEDED = "payment.succeeded"
REFUND_REQUESTS = "refund-requests"
REFUND_REQUESTED = "refund.requested"
SLOT_TAKEN = "slot_taken"
"""The refund's reason: the payment came after its hold ran out and someone else booked the slot."""


class PaymentConfirmations:
    """payment.succeeded: the booking is confirmed, or, when its slot was lost meanwhile, Flo Payments is
    asked for the refund and the creator told (the fan's slot_lost email is owed by the booking itself)."""

    def __init__(self, service: BookingService, notices: Notices, publisher: Publisher) -> None:
        self._service = service
        self._notices = notices
        self._publisher = publisher

    def succeeded(self, booking_id: str) -> Booking:
        """Idempotent: a redelivery of a payment whose slot was lost asks again (Payments keys on
        booking_id), so a crash between deciding and asking loses no refund."""
        booking = self._service.confirm_payment(booking_id)
        if booking.change == "slot_lost":
            self._notices.payment_needs_refund(booking.creator_id, booking_id, booking.fan.email)
            refund = {"type": REFUND_REQUESTED, "booking_id": booking_id, "reason": SLOT_TAKEN}
            self._publisher.publish(REFUND_REQUESTS, refund)
            log.warning("late payment for a lost slot: refund requested", extra={"booking_id": booking_id})
        return booking


class LocalPayments:
    def __init__(self, bookings: BookingRepository, publisher: Publisher) -> None:
        self._bookings = bookings
        self._publisher = publisher

    def succeed(self, booking_id: str) -> None:
        if self._bookings.get(booking_id) is None:
            raise booking_not_found(booking_id)
        self._publisher.publish(PAYMENT_EVENTS, {"type": PAYMENT_SUCCEEDED, "booking_id": booking_id})
