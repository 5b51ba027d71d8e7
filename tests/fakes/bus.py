"""In-memory twin of the Pub/Sub publisher for unit tests."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any


class FakePublisher:
    def __init__(self) -> None:
        self.published: list[tuple[str, dict[str, Any]]] = []
        self._ids = itertools.count(1)
        self.fail_next: Exception | None = None

    def publish(self, topic: str, data: Mapping[str, Any]) -> str:
        if self.fail_next is not None:
            exc, self.fail_next = self.fail_next, None
            raise exc
        self.published.append((topic, dict(data)))
        return str(next(self._ids))

    def on(self, topic: str) -> list[dict[str, Any]]:
        return [data for t, data in self.published if t == topic]
