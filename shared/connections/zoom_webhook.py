"""Zoom's webhook: answer its endpoint check, and forget a creator's tokens when they remove the app in Zoom
(and, when Zoom says to keep no user data, every Zoom identifier Flo holds for them)."""

from __future__ import annotations

import json
from dataclasses import replace
from itertools import chain
from typing import Any

from shared.bookings.booking import Booking
from shared.bookings.notices import ZOOM_DATA_ERASED, Notices
from shared.bookings.repository import BookingRepository, each_of_creator
from shared.clock import Clock
from shared.connections.repository import DocStoreConnections
from shared.errors import InvalidInputError, NotAuthenticatedError
from shared.providers.zoom_webhook import WebhookError, url_validation_response, verify_signature

_ERASE_ATTEMPTS = 5
MAX_EVENT_LENGTH = 200


class ZoomWebhook:
    def __init__(
        self,
        secret: str,
        connections: DocStoreConnections,
        clock: Clock,
        bookings: BookingRepository,
        notices: Notices,
    ) -> None:
        self._secret = secret
        self._connections = connections
        self._clock = clock
        self._bookings = bookings
        self._notices = notices

    def handle(self, timestamp: str | None, signature: str | None, raw_body: bytes) -> dict[str, Any]:
        """The JSON answer to one signed event; unsigned, stale or malformed requests are refused."""
        try:
            verify_signature(self._secret, timestamp, signature, raw_body, self._clock.now())
        except WebhookError as exc:
            raise NotAuthenticatedError("bad_signature", str(exc)) from None
        try:
            body = json.loads(raw_body)
        except (ValueError, RecursionError):
            raise InvalidInputError("invalid_json", "The request body must be JSON.") from None
        if not isinstance(body, dict):
            raise InvalidInputError("invalid_request", "The body must be a JSON object.")
        event = body.get("event")
        if not isinstance(event, str) or not 0 < len(event) <= MAX_EVENT_LENGTH:
            raise InvalidInputError("invalid_request", f"event: a name of 1 to {MAX_EVENT_LENGTH} characters.")
        payload: dict[str, Any] = body["payload"] if isinstance(body.get("payload"), dict) else {}
        if event == "endpoint.url_validation":
            return url_validation_response(self._secret, _required(payload, "plainToken"))
        if event == "app_deauthorized":
            erase = str(payload.get("user_data_retention", "true")).lower() == "false"
            creators = self._connections.deauthorize_zoom(_required(payload, "user_id"), erase=erase)
            for creator_id in creators if erase else ():
                self._erase_meeting_ids(creator_id)
            return {"ok": True, "connections": len(creators)}
        return {"ok": True, "ignored": event}

    def _erase_meeting_ids(self, creator_id: str) -> None:
        """Zoom asked Flo to keep none of the creator's Zoom data: each booking's meeting id is first noted for
        the creator (their sessions keep their links, and they may want to tidy Zoom), then forgotten."""
        now = self._clock.now()
        every = chain(*(each_of_creator(self._bookings, creator_id, upcoming=u, now=now) for u in (True, False)))
        for booking_id, listed in every:
            booking: Booking | None = listed
            for _ in range(_ERASE_ATTEMPTS):
                if booking is None or (booking.zoom is None and booking.zoom_intent is None):
                    break
                if booking.zoom is not None:
                    meeting_id = booking.zoom.meeting_id
                    self._notices.zoom_meeting_kept(creator_id, booking_id, meeting_id, ZOOM_DATA_ERASED)
                if self._bookings.update_if(booking_id, booking, replace(booking, zoom=None, zoom_intent=None)):
                    break
                booking = self._bookings.get(booking_id)  # it changed meanwhile: erase from what it is now


def _required(payload: dict[str, Any], name: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidInputError("invalid_request", f"payload.{name} is required.")
    return value
