"""One classification of provider outcomes, so every service reacts to Zoom and Google failures the same way.

Callers decide by `ProviderError.kind` alone: REVOKED marks the connection "Reconnect required",
RATE_LIMITED and TRANSIENT retry (after `retry_after` seconds when given), NOT_FOUND makes a
delete already done, CONFLICT makes an idempotent insert already done, BAD_REQUEST is our bug.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Literal, TypeVar

from shared.logs import redact

Provider = Literal["zoom", "google"]

DEFAULT_RETRY_AFTER = 30.0
_DETAIL_LIMIT = 300
# Long opaque runs (tokens, codes) are cut out of details even if a provider ever echoes one.
_OPAQUE = re.compile(r"[A-Za-z0-9._~+/=-]{32,}")
_GOOGLE_RATE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
_T = TypeVar("_T")


class ErrorKind(enum.Enum):
    REVOKED = "revoked"
    """The grant is gone: the creator must reconnect."""
    UNAUTHORIZED = "unauthorized"
    """The access token was refused: refresh and retry once (see `retry_once_after_refresh`)."""
    RATE_LIMITED = "rate_limited"
    USAGE_LIMITED = "usage_limited"
    """Google's "Calendar usage limits exceeded": the user's writes are refused for a while (hours, not seconds),
    so retrying soon only hammers; the caller pauses that creator's writes instead."""
    TRANSIENT = "transient"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    BAD_REQUEST = "bad_request"

    @property
    def retryable(self) -> bool:
        return self in (ErrorKind.RATE_LIMITED, ErrorKind.TRANSIENT)


class ProviderError(Exception):
    """A classified provider failure; holds no response object, so no request header (token) travels with it."""

    def __init__(
        self,
        kind: ErrorKind,
        provider: Provider,
        status: int | None = None,
        retry_after: float | None = None,
        detail: str = "",
    ) -> None:
        self.kind = kind
        self.provider = provider
        self.status = status
        self.retry_after = retry_after
        self.detail = _safe(detail)
        super().__init__(str(self))

    def __str__(self) -> str:
        status = f" HTTP {self.status}" if self.status is not None else ""
        wait = f", retry after {self.retry_after:.0f}s" if self.retry_after is not None else ""
        return f"{self.provider} {self.kind.value}{status}{wait}: {self.detail}"

    def __repr__(self) -> str:
        return (
            f"ProviderError(kind={self.kind.name}, provider={self.provider!r}, status={self.status!r}, "
            f"retry_after={self.retry_after!r}, detail={self.detail!r})"
        )


def _safe(text: str) -> str:
    return redact(_OPAQUE.sub("[redacted]", text))[:_DETAIL_LIMIT]


def _json(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {key.lower(): value for key, value in headers.items()}


def _retry_after(headers: Mapping[str, str], now: datetime) -> float | None:
    """Retry-After as seconds, an HTTP date, or the ISO 8601 instant Zoom documents for daily limits."""
    raw = _lower(headers).get("retry-after", "").strip()
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        try:
            when = datetime.fromisoformat(raw)
        except ValueError:
            return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _wait(headers: Mapping[str, str], now: datetime) -> float:
    wait = _retry_after(headers, now)
    return DEFAULT_RETRY_AFTER if wait is None else wait


def seconds_until_utc_midnight(now: datetime) -> float:
    """Zoom's per-user daily meeting limit resets at 00:00 UTC."""
    midnight = (now.astimezone(UTC) + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (midnight - now).total_seconds()


def _common(provider: Provider, status: int, headers: Mapping[str, str], detail: str, now: datetime) -> ProviderError:
    """The status-only rules both providers share."""
    if status == 429:
        return ProviderError(ErrorKind.RATE_LIMITED, provider, status, _wait(headers, now), detail)
    if status >= 500:
        return ProviderError(ErrorKind.TRANSIENT, provider, status, _retry_after(headers, now), detail)
    if status == 401:
        return ProviderError(ErrorKind.UNAUTHORIZED, provider, status, None, detail)
    return ProviderError(ErrorKind.BAD_REQUEST, provider, status, None, detail)


def classify_zoom(status: int, headers: Mapping[str, str], body: bytes, now: datetime) -> ProviderError:
    """Zoom API bodies are {code, message}; its OAuth endpoints answer {error, reason}."""
    data = _json(body)
    code, message = data.get("code"), str(data.get("message", ""))
    error, reason = str(data.get("error", "")), str(data.get("reason", ""))
    detail = f"{error}: {reason}" if error else f"code {code}: {message}" if code is not None else ""
    if error == "invalid_grant" or "invalid token" in reason.lower():
        return ProviderError(ErrorKind.REVOKED, "zoom", status, None, detail)
    if error == "invalid_client":
        return ProviderError(ErrorKind.BAD_REQUEST, "zoom", status, None, detail)
    if status == 404 and code == 3001:
        return ProviderError(ErrorKind.NOT_FOUND, "zoom", status, None, detail)
    daily = "daily" in message.lower() or _lower(headers).get("x-ratelimit-type", "").lower() == "daily-limit"
    if status == 429 and daily:
        return ProviderError(ErrorKind.RATE_LIMITED, "zoom", status, seconds_until_utc_midnight(now), detail)
    return _common("zoom", status, headers, detail, now)


def classify_google(status: int, headers: Mapping[str, str], body: bytes, now: datetime) -> ProviderError:
    """Google APIs answer {error: {code, message, errors: [{reason}]}}; OAuth answers {error, error_description}."""
    data = _json(body)
    error = data.get("error")
    if isinstance(error, dict):
        reasons = {str(e.get("reason")) for e in error.get("errors", []) if isinstance(e, dict)}
        detail = f"{error.get('status', '')} {sorted(reasons)}: {error.get('message', '')}"
    else:
        reasons = set()
        detail = f"{error or ''}: {data.get('error_description', '')}"
    if error in ("invalid_grant", "invalid_token"):
        return ProviderError(ErrorKind.REVOKED, "google", status, None, detail)
    if error == "invalid_client":
        return ProviderError(ErrorKind.BAD_REQUEST, "google", status, None, detail)
    if status in (404, 410):
        return ProviderError(ErrorKind.NOT_FOUND, "google", status, None, detail)
    if status == 409:
        return ProviderError(ErrorKind.CONFLICT, "google", status, None, detail)
    if status in (403, 429) and "quotaExceeded" in reasons:
        return ProviderError(ErrorKind.USAGE_LIMITED, "google", status, _retry_after(headers, now), detail)
    if status == 403 and reasons & _GOOGLE_RATE_REASONS:
        return ProviderError(ErrorKind.RATE_LIMITED, "google", status, _wait(headers, now), detail)
    if status == 403 and "insufficientPermissions" in reasons:
        # A permission the connection lacks only comes back by connecting again.
        return ProviderError(ErrorKind.REVOKED, "google", status, None, detail)
    return _common("google", status, headers, detail, now)


def transport_failure(provider: Provider, exc: BaseException) -> ProviderError:
    """Timeouts and connection errors; only the exception type is kept (messages can carry URLs)."""
    return ProviderError(ErrorKind.TRANSIENT, provider, None, None, f"{type(exc).__name__} talking to {provider}")


def retry_once_after_refresh(call: Callable[[str], _T], access_token: str, refresh: Callable[[], str]) -> _T:
    """Run `call`; on UNAUTHORIZED refresh once and retry, and a second refusal means the access is REVOKED.

    Both providers answer 401 for an expired and for a revoked token alike; only a refresh tells
    them apart (a dead grant makes `refresh` itself raise REVOKED).
    """
    try:
        return call(access_token)
    except ProviderError as first:
        if first.kind is not ErrorKind.UNAUTHORIZED:
            raise
    try:
        return call(refresh())
    except ProviderError as again:
        if again.kind is not ErrorKind.UNAUTHORIZED:
            raise
        raise ProviderError(
            ErrorKind.REVOKED, again.provider, again.status, None, f"refused after a refresh; {again.detail}"
        ) from again
