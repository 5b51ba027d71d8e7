"""The Pub/Sub push envelope, parsed once for every worker, with one rule for all of them: a malformed
envelope is a 400 and one log line; a message not for this worker (no booking_id, another event type)
is acknowledged with a 204 and otherwise ignored."""

from __future__ import annotations

import base64
import binascii
import json
import logging
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Request

from shared.errors import InvalidInputError, NotForUs
from shared.store.ids import is_storable_id
from shared.web import load_json

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PushMessage:
    message_id: str
    subscription: str
    data: dict[str, Any]
    attributes: dict[str, str]
    publish_time: str | None


def parse_push(request: Request) -> PushMessage:
    """Turn a push request into a typed message, or raise a 400 naming what is wrong."""
    message_id = "unknown"
    try:
        envelope = load_json(request.get_data(cache=True) or b"null")
        if not isinstance(envelope, dict) or not isinstance(envelope.get("message"), dict):
            raise ValueError("the body must be a JSON object with a 'message' object")
        message = envelope["message"]
        message_id = str(message.get("messageId") or message.get("message_id") or "unknown")
        if message_id == "unknown":
            raise ValueError("message.messageId is missing")
        raw = message.get("data")
        if not isinstance(raw, str):
            raise ValueError("message.data must be base64 text")
        data = json.loads(base64.b64decode(raw, validate=True))
        if not isinstance(data, dict):
            raise ValueError("message.data must decode to a JSON object")
        attributes = message.get("attributes") or {}
        if not isinstance(attributes, dict):
            raise ValueError("message.attributes must be an object")
    except (ValueError, binascii.Error, RecursionError) as exc:
        log.warning("malformed push envelope", extra={"message_id": message_id, "reason": str(exc)})
        raise InvalidInputError("malformed_envelope", f"Malformed Pub/Sub push envelope: {exc}") from None
    return PushMessage(
        message_id=message_id,
        subscription=str(envelope.get("subscription", "")),
        data=data,
        attributes={str(k): str(v) for k, v in attributes.items()},
        publish_time=message.get("publishTime") or message.get("publish_time"),
    )


def booking_id_of(request: Request, *event_types: str) -> str:
    """The booking a pushed event is about; NotForUs without one (or with an id no booking can have), or when
    it is not one of `event_types`."""
    data = parse_push(request).data
    booking_id = data.get("booking_id")
    if not is_storable_id(booking_id) or (event_types and data.get("type") not in event_types):
        raise NotForUs
    return booking_id
