"""The local gateway's per-client limit (production's is a Cloud Armor rule on the load balancer)."""

from __future__ import annotations

import pytest

from devstack.ratelimit import DEFAULT_PER_MINUTE, RateLimiter, limiter_from_env


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_client_over_the_limit_waits_for_the_window_and_others_are_not_affected() -> None:
    ticks = Ticks()
    limiter = RateLimiter(3, window=60, now=ticks)
    assert [limiter.retry_after("1.1.1.1") for _ in range(3)] == [None, None, None]
    assert limiter.retry_after("1.1.1.1") == 60
    assert limiter.retry_after("2.2.2.2") is None
    ticks.now += 59.5
    assert limiter.retry_after("1.1.1.1") == 1
    ticks.now += 0.5
    assert limiter.retry_after("1.1.1.1") is None  # the first request left the window


def test_the_limit_comes_from_the_environment() -> None:
    off = limiter_from_env({"FLO_RATE_LIMIT_PER_MINUTE": "0"})
    assert off is None
    two = limiter_from_env({"FLO_RATE_LIMIT_PER_MINUTE": "2"})
    assert two is not None
    assert [two.retry_after("x") is None for _ in range(3)] == [True, True, False]
    default = limiter_from_env({})
    assert default is not None
    assert all(default.retry_after("y") is None for _ in range(DEFAULT_PER_MINUTE))
    assert default.retry_after("y") is not None
    for bad in ("lots", "-1"):
        with pytest.raises(ValueError, match="FLO_RATE_LIMIT_PER_MINUTE"):
            limiter_from_env({"FLO_RATE_LIMIT_PER_MINUTE": bad})
