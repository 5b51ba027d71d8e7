"""The one way the httpx-based provider code sends a request: failures leave as classified ProviderErrors."""

from __future__ import annotations

from typing import Any

import httpx

from shared.clock import Clock
from shared.providers.errors import (
    ErrorKind,
    Provider,
    ProviderError,
    classify_google,
    classify_zoom,
    transport_failure,
)

PROVIDER_TIMEOUT_SECONDS = 10.0
"""httpx's timeout, applied to each phase of a call: connect, send and read may each take this long."""
PROVIDER_CALL_WORST_SECONDS = 3 * PROVIDER_TIMEOUT_SECONDS
"""The longest one provider call can take before it fails: connect + send + read, each at the timeout."""

_CLASSIFY = {"zoom": classify_zoom, "google": classify_google}


def send(http: httpx.Client, provider: Provider, clock: Clock, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """Send one request; a transport failure or an error status raises ProviderError."""
    try:
        response = http.request(method, url, **kwargs)
    except httpx.TransportError as exc:
        raise transport_failure(provider, exc) from exc
    if response.is_error:
        raise _CLASSIFY[provider](response.status_code, response.headers, response.content, clock.now())
    return response


def json_object(response: httpx.Response, provider: Provider) -> dict[str, Any]:
    """A success body that is not a JSON object is a broken intermediary, so worth a retry."""
    try:
        value = response.json()
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise ProviderError(ErrorKind.TRANSIENT, provider, response.status_code, None, "answer was not a JSON object")
    return value
