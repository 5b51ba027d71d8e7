"""Publishing is all the services do with the bus themselves; Pub/Sub pushes deliveries to their HTTP routes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class Publisher(Protocol):
    def publish(self, topic: str, data: Mapping[str, Any]) -> str:
        """Publish a JSON message and return its message id once the bus has accepted it."""
        ...
