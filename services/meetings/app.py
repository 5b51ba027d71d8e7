"""The meetings worker's routes: a booking changed, so reconcile its Zoom meeting and Google event."""

from __future__ import annotations

import logging

from werkzeug.wrappers import Request, Response

from shared.bootstrap import Runtime, connection_resealer, meeting_reconciler, service_app
from shared.envelope import booking_id_of
from shared.meetings.reconcile import MeetingReconciler, RetryLater
from shared.rotation import reseal_route
from shared.schemas import PUSH_ANSWERS, PushEnvelopeIn
from shared.web import Route, WebApp, error_response, json_response, route

log = logging.getLogger(__name__)


def build_routes(reconciler: MeetingReconciler) -> list[Route]:
    @route(
        "/pubsub/booking-events",
        "POST",
        summary="Pub/Sub push: a booking changed; reconcile its Zoom meeting and Google event",
        body=PushEnvelopeIn,
        responses=PUSH_ANSWERS,
    )
    def booking_events(request: Request) -> Response:
        booking_id = booking_id_of(request)
        try:
            reconciler.reconcile(booking_id)
        except RetryLater as exc:
            log.info("retrying later", extra={"booking_id": booking_id, "reason": str(exc)})
            return error_response(503, "retry_later", "The link is not decided yet; redeliver later.")
        return json_response({"reconciled": booking_id})

    return [booking_events]


def build_app(runtime: Runtime) -> WebApp:
    return service_app(
        runtime, [*build_routes(meeting_reconciler(runtime)), reseal_route(connection_resealer(runtime))]
    )
