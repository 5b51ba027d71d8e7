"""Where each provider lives: production by default, the local sandbox or an explicit override otherwise."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# (attribute, env var, production default, path under PROVIDER_SANDBOX_URL), as the contract lists them.
_TABLE: tuple[tuple[str, str, str, str], ...] = (
    ("zoom_authorize", "ZOOM_AUTHORIZE_URL", "https://zoom.us/oauth/authorize", "/zoom/oauth/authorize"),
    ("zoom_token", "ZOOM_TOKEN_URL", "https://zoom.us/oauth/token", "/zoom/oauth/token"),
    ("zoom_revoke", "ZOOM_REVOKE_URL", "https://zoom.us/oauth/revoke", "/zoom/oauth/revoke"),
    ("zoom_api", "ZOOM_API_URL", "https://api.zoom.us/v2", "/zoom/v2"),
    (
        "google_authorize",
        "GOOGLE_AUTHORIZE_URL",
        "https://accounts.google.com/o/oauth2/v2/auth",
        "/google/o/oauth2/v2/auth",
    ),
    ("google_token", "GOOGLE_TOKEN_URL", "https://oauth2.googleapis.com/token", "/google/token"),
    ("google_revoke", "GOOGLE_REVOKE_URL", "https://oauth2.googleapis.com/revoke", "/google/revoke"),
    (
        "google_userinfo",
        "GOOGLE_USERINFO_URL",
        "https://openidconnect.googleapis.com/v1/userinfo",
        "/google/v1/userinfo",
    ),
    (
        "google_calendar_api",
        "GOOGLE_CALENDAR_API_URL",
        "https://www.googleapis.com/calendar/v3/",
        "/google/calendar/v3/",
    ),
)


@dataclass(frozen=True)
class ProviderUrls:
    """The nine provider URLs of the contract; the Calendar URL keeps its trailing slash (discovery joins on it)."""

    zoom_authorize: str
    zoom_token: str
    zoom_revoke: str
    zoom_api: str
    google_authorize: str
    google_token: str
    google_revoke: str
    google_userinfo: str
    google_calendar_api: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ProviderUrls:
        """Each URL from its own variable, else under PROVIDER_SANDBOX_URL, else the production default."""
        sandbox = environ.get("PROVIDER_SANDBOX_URL", "").rstrip("/")
        values: dict[str, str] = {}
        for attr, var, default, path in _TABLE:
            explicit = environ.get(var, "")
            values[attr] = explicit or (sandbox + path if sandbox else default)
        return cls(**values)
