"""The meetings worker's routes: a booking changed, so reconcile its Zoom meeting and Google event."""

from __future__ import annotations

import logging

from werkzeug.wrappers import Request, Response

from shared.bootstrap import Runtime, service_app
from shared.envelope import parse_push
from shared.meetings.reconcile import MeetingReconciler, RetryLater
from shared.schemas import Ack, PushEnvelopeIn
from shared.store.ids import is_storable_id
from shared.web import Route, WebApp, error_response, json_response, route

log = logging.getLogger(__name__)


def build_routes(reconciler: MeetingReconciler) -> list[Route]:
    @route(
        "/pubsub/booking-events",
        "POST",
        summary="Pub/Sub push: a booking changed; reconcile its Zoom meeting and Google event",
        body=PushEnvelopeIn,
        responses={200: Ack},
    )
    def booking_events(request: Request) -> Response:
        message = parse_push(request)
        booking_id = message.data.get("booking_id")
        if not isinstance(booking_id, str) or not is_storable_id(booking_id):
            return json_response({"ignored": "no valid booking_id"})
        try:
            reconciler.reconcile(booking_id)
        except RetryLater as exc:
            log.info("retrying later", extra={"booking_id": booking_id, "reason": str(exc)})
            return error_response(503, "retry_later", "The link is not settled yet; redeliver later.")
        return json_response({"reconciled": booking_id})

    return [booking_events]


def build_app(runtime: Runtime) -> WebApp:
    reconciler = MeetingReconciler(
        runtime.store, runtime.publisher, runtime.clock, runtime.connections, runtime.zoom, runtime.calendar
    )
    return service_app(runtime, build_routes(reconciler))
