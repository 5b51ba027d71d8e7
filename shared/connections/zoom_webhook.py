"""Zoom's webhook: answer its endpoint check, and forget a creator's tokens when they remove the app in Zoom."""

from __future__ import annotations

import json
from typing import Any

from shared.clock import Clock
from shared.connections.repository import DocStoreConnections
from shared.errors import InvalidInputError, NotAuthenticatedError
from shared.providers.zoom_webhook import WebhookError, url_validation_response, verify_signature

MAX_EVENT_LENGTH = 200


class ZoomWebhook:
    def __init__(self, secret: str, connections: DocStoreConnections, clock: Clock) -> None:
        self._secret = secret
        self._connections = connections
        self._clock = clock

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
            changed = self._connections.deauthorize_zoom(_required(payload, "user_id"))
            return {"ok": True, "connections": changed}
        return {"ok": True, "ignored": event}


def _required(payload: dict[str, Any], name: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidInputError("invalid_request", f"payload.{name} is required.")
    return value
