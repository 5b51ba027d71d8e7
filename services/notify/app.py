"""The notify service: booking and link events push here, and each one sends what the booking is owed."""

from __future__ import annotations

import logging

from werkzeug.wrappers import Request, Response

from shared.bootstrap import Runtime, notifier, service_app
from shared.envelope import booking_id_of
from shared.mail import MailSendError
from shared.notify import Notifier
from shared.schemas import PUSH_ANSWERS, PushEnvelopeIn
from shared.web import Route, WebApp, error_response, json_response, route

log = logging.getLogger(__name__)


def build_routes(owed: Notifier) -> list[Route]:
    def send_owed_from_push(request: Request) -> Response:
        """Both topics only say which booking to look at; what is owed is read from the booking itself."""
        booking_id = booking_id_of(request)
        try:
            outcome = owed.send_owed(booking_id)
        except MailSendError:
            # Only a transient failure gets here (one that can never go is recorded as failed): not 2xx,
            # so Pub/Sub redelivers, and the claim was released so the retry can send it.
            return error_response(503, "mail_unavailable", "The email was not accepted.")
        log.info("booking emails sent", extra={"booking_id": booking_id, "outcome": outcome.value})
        return json_response({"booking_id": booking_id, "outcome": outcome.value})

    @route(
        "/pubsub/booking-events",
        "POST",
        summary="Pub/Sub push: a booking changed; settle its emails",
        body=PushEnvelopeIn,
        responses=PUSH_ANSWERS,
    )
    def booking_events(request: Request) -> Response:
        return send_owed_from_push(request)

    @route(
        "/pubsub/link-events",
        "POST",
        summary="Pub/Sub push: a link became known; settle the emails",
        body=PushEnvelopeIn,
        responses=PUSH_ANSWERS,
    )
    def link_events(request: Request) -> Response:
        return send_owed_from_push(request)

    return [booking_events, link_events]


def build_app(runtime: Runtime) -> WebApp:
    return service_app(runtime, build_routes(notifier(runtime)))
