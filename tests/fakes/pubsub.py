"""What Pub/Sub would push, for tests driving the workers' push routes."""

from __future__ import annotations

import base64
import json
from typing import Any


def encode_push(data: dict[str, Any], message_id: str, subscription: str = "test") -> dict[str, Any]:
    """The envelope Pub/Sub would push for `data`."""
    return {
        "message": {"data": base64.b64encode(json.dumps(data).encode()).decode(), "messageId": message_id},
        "subscription": subscription,
    }
