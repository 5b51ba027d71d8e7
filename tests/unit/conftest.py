"""Fixtures shared by the unit tests."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest


@pytest.fixture
def far_from_utc_local_zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local zone is 9 hours from UTC, so any instant computed in local time instead of UTC shows."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()
