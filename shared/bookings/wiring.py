"""Builds the booking service from a runtime, for the bookings service and the reminders sweeps alike."""

from __future__ import annotations

from datetime import datetime, timedelta

from shared.bookings.busy import GoogleBusyTimes
from shared.bookings.service import BookingService, Busy, BusyTimes, Policy
from shared.bootstrap import Runtime


class NoCalendar:
    """For callers that only cancel or expire bookings (the sweeps): they never check a slot, so they
    need neither Google credentials nor the token store."""

    def busy(self, creator_id: str, start: datetime, end: datetime, *, fresh: bool = False) -> Busy:
        return Busy((), checked=True)


def booking_service_for(runtime: Runtime, busy: BusyTimes | None = None) -> tuple[BookingService, BusyTimes]:
    settings = runtime.settings
    busy = busy or GoogleBusyTimes(runtime.connections, runtime.calendar, runtime.clock)
    policy = Policy(
        payment_hold=timedelta(minutes=settings.payment_hold_minutes),
        link_deadline=timedelta(seconds=settings.link_deadline_seconds),
        confirmation_grace=timedelta(seconds=settings.confirmation_grace_seconds),
        booking_horizon=timedelta(days=settings.booking_horizon_days),
    )
    return BookingService(runtime.store, runtime.publisher, runtime.clock, busy, policy, runtime.vault), busy
