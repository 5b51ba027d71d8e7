"""A per-client request limit for the local gateway, as the Cloud Armor rate-limiting rule is in production."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

RATE_LIMIT_VARIABLE = "FLO_RATE_LIMIT_PER_MINUTE"
DEFAULT_PER_MINUTE = 600
WINDOW_SECONDS = 60.0


class RateLimiter:
    """At most `limit` requests per client in any sliding window of `window` seconds."""

    def __init__(self, limit: int, window: float = WINDOW_SECONDS, now: Callable[[], float] = time.monotonic) -> None:
        self._limit = limit
        self._window = window
        self._now = now
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> int | None:
        """None when the request may go on (and it is counted); else the whole seconds until one may."""
        now = self._now()
        with self._lock:
            for other in [c for c, times in self._seen.items() if times[-1] <= now - self._window]:
                del self._seen[other]  # clients quiet for a whole window are forgotten
            times = self._seen.setdefault(client, deque())
            while times and times[0] <= now - self._window:
                times.popleft()
            if len(times) >= self._limit:
                return max(1, math.ceil(times[0] + self._window - now))
            times.append(now)
            return None


def limiter_from_env(environ: Mapping[str, str]) -> RateLimiter | None:
    """FLO_RATE_LIMIT_PER_MINUTE (default 600) per client IP; 0 turns the limit off."""
    raw = environ.get(RATE_LIMIT_VARIABLE, "") or str(DEFAULT_PER_MINUTE)
    try:
        limit = int(raw)
    except ValueError:
        raise ValueError(f"{RATE_LIMIT_VARIABLE} must be a whole number, got {raw!r}") from None
    if limit < 0:
        raise ValueError(f"{RATE_LIMIT_VARIABLE} must be 0 (off) or more, got {limit}")
    return RateLimiter(limit) if limit else None
