"""The reminders service: Cloud Scheduler's tick sends owed confirmations and due reminders."""

from __future__ import annotations

from werkzeug.wrappers import Request, Response

from shared.bookings.service import BookingService
from shared.bookings.sweeps import run_booking_sweeps
from shared.bookings.wiring import NoCalendar, booking_service_for
from shared.bootstrap import Runtime, service_app
from shared.bus.port import Publisher
from shared.clock import Clock
from shared.notify import Notifier, notifier_for, tick
from shared.schemas import Ack
from shared.store.port import DocStore
from shared.web import Route, WebApp, json_response, route


def build_routes(
    store: DocStore, clock: Clock, notifier: Notifier, publisher: Publisher, bookings: BookingService
) -> list[Route]:
    @route(
        "/tasks/reminders",
        "POST",
        summary="Cloud Scheduler's tick: due reminders, owed confirmations and the booking sweeps",
        responses={200: Ack},
    )
    def reminders(request: Request) -> Response:
        """Counts only: failures are logged per booking and retried by the next tick. The booking sweeps
        (unpublished events, expired holds, stuck links) ride on the same scheduler job."""
        now = clock.now()
        return json_response({**run_booking_sweeps(store, publisher, bookings, now), **tick(store, notifier, now)})

    return [reminders]


def build_app(runtime: Runtime) -> WebApp:
    bookings, _ = booking_service_for(runtime, NoCalendar())
    return service_app(
        runtime, build_routes(runtime.store, runtime.clock, notifier_for(runtime), runtime.publisher, bookings)
    )
