"""The Pub/Sub adapter of the publisher port."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from google.cloud.pubsub_v1 import PublisherClient


class PubSubPublisher:
    def __init__(self, project_id: str, client: PublisherClient | None = None) -> None:
        self._project_id = project_id
        self._client = client or PublisherClient()

    def publish(self, topic: str, data: Mapping[str, Any]) -> str:
        path = self._client.topic_path(self._project_id, topic)
        future = self._client.publish(path, json.dumps(dict(data), default=str).encode())
        return str(future.result(timeout=30))
