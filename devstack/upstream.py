"""The HTTP client the local stack's own relays (the gateway, the push relay) reach its services with."""

from __future__ import annotations

from typing import Any

import httpx
from gunicorn.config import Config

SERVER_KEEPALIVE_SECONDS: float = Config().keepalive
"""How long gunicorn (the server functions-framework runs each service under) keeps an idle connection open."""
IDLE_EXPIRY_SECONDS = SERVER_KEEPALIVE_SECONDS / 2
"""A connection idle this long is dropped, well before the server closes it: a request sent on a connection
the server is closing at that moment gets no answer (under a burst that was a fan's booking answered 502)."""


def service_client(*, timeout: float, max_idle: int | None = None, **options: Any) -> httpx.Client:
    limits = httpx.Limits(max_keepalive_connections=max_idle, keepalive_expiry=IDLE_EXPIRY_SECONDS)
    return httpx.Client(timeout=timeout, limits=limits, **options)
