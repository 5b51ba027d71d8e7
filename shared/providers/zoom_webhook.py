"""Zoom webhook authentication: the x-zm-signature check and the endpoint.url_validation answer."""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime

MAX_AGE_SECONDS = 300
_UNIX_SECONDS = re.compile(r"[0-9]{1,20}")
"""Unix seconds as Zoom sends them; anything else (signs, spaces, exponents, 400 digits) is no fresh time."""


class WebhookError(Exception):
    """The request is not provably from Zoom; the reason never contains the secret or the signature."""


def _hmac_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify_signature(
    secret: str, timestamp_header: str | None, signature_header: str | None, raw_body: bytes, now: datetime
) -> None:
    """Check v0=HMAC-SHA256(secret, "v0:{ts}:{raw body}") and that the timestamp (Unix seconds) is fresh.

    The freshness window (5 minutes either way) stops a captured request being replayed later.
    """
    if not secret:
        raise WebhookError("webhook secret is not configured")
    if not timestamp_header or not signature_header:
        raise WebhookError("missing x-zm-request-timestamp or x-zm-signature header")
    if not _UNIX_SECONDS.fullmatch(timestamp_header):
        raise WebhookError("x-zm-request-timestamp is not a whole number of seconds")
    if abs(int(now.timestamp()) - int(timestamp_header)) > MAX_AGE_SECONDS:
        raise WebhookError("x-zm-request-timestamp is more than 5 minutes from now")
    expected = "v0=" + _hmac_hex(secret, b"v0:" + timestamp_header.encode() + b":" + raw_body)
    if not hmac.compare_digest(expected.encode(), signature_header.encode()):
        raise WebhookError("x-zm-signature does not match")


def url_validation_response(secret: str, plain_token: str) -> dict[str, str]:
    """The JSON body that answers an endpoint.url_validation event."""
    return {"plainToken": plain_token, "encryptedToken": _hmac_hex(secret, plain_token.encode())}
