"""The OAuth `state` parameter: signed, bound to a creator, a provider and a browser, single-use, short-lived.

Unsigned state lets an attacker attach their own Zoom or Google account to a victim's Flo
account (login CSRF). Bound only to the creator, a creator could send their authorize URL to
someone else, whose consent would attach that person's account (and calendar) to the sender:
so the state also carries a hash of a random value kept in a cookie of the browser that started
the connect, and the callback must come back with it. The nonce is what the caller records as
used to make each state single-use.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

STATE_LIFETIME = timedelta(minutes=10)
_DOMAIN = b"flo-oauth-state-v1."

StateFailure = Literal["malformed", "bad_signature", "wrong_provider", "expired", "other_browser"]


class StateError(Exception):
    def __init__(self, reason: StateFailure) -> None:
        self.reason: StateFailure = reason
        super().__init__(f"OAuth state refused: {reason}")


@dataclass(frozen=True)
class StatePayload:
    creator_id: str
    provider: str
    nonce: str
    expires_at: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_browser_binding() -> str:
    """The random value the starting browser keeps in a cookie until the callback."""
    return secrets.token_urlsafe(32)


def _browser_digest(binding: str) -> str:
    return _b64(hashlib.sha256(b"flo-oauth-browser." + binding.encode()).digest())


class StateSigner:
    """HMAC-SHA256 over the payload with OAUTH_STATE_SECRET."""

    def __init__(self, secret: str) -> None:
        if len(secret) < 32:
            raise ValueError("OAUTH_STATE_SECRET must be at least 32 characters")
        self._key = secret.encode()

    def __repr__(self) -> str:
        return "StateSigner(secret='[redacted]')"

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self._key, _DOMAIN + body.encode(), hashlib.sha256).digest())

    def issue(self, creator_id: str, provider: str, now: datetime, browser: str) -> tuple[str, str]:
        """(state for the authorize URL, nonce to remember until the callback); `browser` is the cookie's value."""
        nonce = secrets.token_urlsafe(16)
        expires = int((now + STATE_LIFETIME).timestamp())
        fields = {"c": creator_id, "p": provider, "n": nonce, "e": expires, "b": _browser_digest(browser)}
        body = _b64(json.dumps(fields).encode())
        return f"{body}.{self._sign(body)}", nonce

    def verify(self, state: str, provider: str, now: datetime, browser: str | None) -> StatePayload:
        body, sep, signature = state.partition(".")
        if not sep or not body or not signature:
            raise StateError("malformed")
        if not hmac.compare_digest(self._sign(body).encode(), signature.encode()):
            raise StateError("bad_signature")
        try:
            data = json.loads(_unb64(body))
            payload = StatePayload(
                creator_id=str(data["c"]),
                provider=str(data["p"]),
                nonce=str(data["n"]),
                expires_at=datetime.fromtimestamp(int(data["e"]), UTC),
            )
            bound_to = str(data["b"])
        except (binascii.Error, ValueError, KeyError, TypeError):
            raise StateError("malformed") from None
        if payload.provider != provider:
            raise StateError("wrong_provider")
        if now >= payload.expires_at:
            raise StateError("expired")
        if not browser or not hmac.compare_digest(bound_to.encode(), _browser_digest(browser).encode()):
            raise StateError("other_browser")
        return payload
