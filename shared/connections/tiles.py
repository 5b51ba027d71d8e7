"""The dashboard's integration tiles, built from what a connection may show (never its tokens)."""

from __future__ import annotations

from typing import Any

from shared.connections.repository import ConnectionInfo
from shared.providers.errors import Provider

ZOOM_CONFIGURE_URL = "https://zoom.us/profile"
TILE_TEXTS: dict[Provider, dict[str, str]] = {
    "zoom": {
        "category": "Video",
        "description": "Optional: use Zoom instead of Meet when both Zoom and Google Calendar are connected.",
    },
    "google": {
        "category": "Calendar",
        "description": (
            "Adds each session to your Google Calendar with a Google Meet link, and blocks the times you are "
            "busy there when fans pick slots."
        ),
    },
}
"""What each tile says whatever its state; in the API too, so every front end shows the same words."""


def tile(provider: Provider, info: ConnectionInfo | None) -> dict[str, Any]:
    """One tile; Configure links to Zoom's own settings only while Zoom is connected."""
    texts = TILE_TEXTS[provider]
    if info is None:
        return {
            "status": "not_connected",
            "account_email": None,
            "connected_at": None,
            "configure_url": None,
            **texts,
        }
    connected = info.status == "connected"
    body: dict[str, Any] = {
        "status": info.status,
        "account_email": info.account_email,
        "connected_at": info.connected_at.isoformat() if info.connected_at else None,
        "configure_url": ZOOM_CONFIGURE_URL if connected and provider == "zoom" else None,
        **texts,
    }
    if info.status == "reconnect_required":
        body["reconnect_reason"] = info.reconnect_reason
        at = info.reconnect_required_at
        body["reconnect_required_at"] = at.isoformat() if at else None
    return body
