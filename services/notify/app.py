"""The notify service: booking and link events push here, and each one settles the booking's emails."""

from __future__ import annotations

import logging

from pydantic import BaseModel
from werkzeug.wrappers import Request, Response

from shared.bootstrap import Runtime, service_app
from shared.envelope import parse_push
from shared.mail import MailSendError
from shared.notify import Notifier, notifier_for
from shared.schemas import Ack, PushEnvelopeIn
from shared.store.ids import is_storable_id
from shared.web import ApiError, Route, WebApp, json_response, route

log = logging.getLogger(__name__)


def build_routes(notifier: Notifier) -> list[Route]:
    def settle_from_push(request: Request) -> Response:
        """Both topics only say which booking to look at; what is owed is read from the booking itself."""
        message = parse_push(request)
        booking_id = message.data.get("booking_id")
        if not isinstance(booking_id, str) or not is_storable_id(booking_id):
            raise ApiError(400, "malformed_event", "The event has no booking_id.")
        try:
            outcome = notifier.settle(booking_id)
        except MailSendError as exc:
            # Not 2xx, so Pub/Sub redelivers; the claim was released, so the retry can send it.
            status = 503 if exc.transient else 500
            code = "mail_unavailable" if exc.transient else "mail_rejected"
            return json_response({"error": {"code": code, "message": "The email was not accepted."}}, status)
        log.info("booking emails settled", extra={"booking_id": booking_id, "outcome": outcome.value})
        return json_response({"booking_id": booking_id, "outcome": outcome.value})

    acked: dict[int, type[BaseModel] | None] = {200: Ack}

    @route(
        "/pubsub/booking-events",
        "POST",
        summary="Pub/Sub push: a booking changed; settle its emails",
        body=PushEnvelopeIn,
        responses=acked,
    )
    def booking_events(request: Request) -> Response:
        return settle_from_push(request)

    @route(
        "/pubsub/link-events",
        "POST",
        summary="Pub/Sub push: a link became known; settle the emails",
        body=PushEnvelopeIn,
        responses=acked,
    )
    def link_events(request: Request) -> Response:
        return settle_from_push(request)

    return [booking_events, link_events]


def build_app(runtime: Runtime) -> WebApp:
    return service_app(runtime, build_routes(notifier_for(runtime)))
