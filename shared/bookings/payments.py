"""A stand-in for Flo Payments on the local stack: says a booking's payment succeeded, as Payments would."""

from __future__ import annotations

from shared.bookings.repository import BookingRepository
from shared.bookings.service import booking_not_found
from shared.bus.port import Publisher

PAYMENT_EVENTS = "payment-events"
PAYMENT_SUCCEEDED = "payment.succeeded"


class LocalPayments:
    def __init__(self, bookings: BookingRepository, publisher: Publisher) -> None:
        self._bookings = bookings
        self._publisher = publisher

    def succeed(self, booking_id: str) -> None:
        if self._bookings.get(booking_id) is None:
            raise booking_not_found(booking_id)
        self._publisher.publish(PAYMENT_EVENTS, {"type": PAYMENT_SUCCEEDED, "booking_id": booking_id})
