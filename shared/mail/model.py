"""What an email needs to know about a booking, decoupled from how bookings are stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from shared.mail.safe import known_zone

BookingStatus = Literal["confirmed", "cancelled"]
VideoProvider = Literal["zoom", "google_meet"]

_PROVIDER_NAMES: dict[str, str] = {"zoom": "Zoom", "google_meet": "Google Meet"}


@dataclass(frozen=True, slots=True)
class EmailBooking:
    """A snapshot of one booking as the emails show it.

    ``revision`` grows with every change of time, link or status; it becomes the ICS SEQUENCE so
    calendar apps replace the old event instead of adding a second one. ``manage_url`` may be
    absolute or relative to the base URL given to ``render``.
    """

    booking_id: str
    revision: int
    status: BookingStatus
    offer_title: str
    duration_minutes: int
    creator_name: str
    creator_email: str
    creator_timezone: str
    fan_name: str
    fan_email: str
    fan_timezone: str | None
    start: datetime
    end: datetime
    meeting_url: str | None
    video_provider: VideoProvider | None
    manage_url: str | None
    """None only for a creator's copy (it has no manage link) or when the fan's link cannot be made."""
    link_pending: bool

    def __post_init__(self) -> None:
        # Naive datetimes would be silently read as server-local time and show the wrong hour.
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("EmailBooking.start and .end must be timezone-aware")
        if self.end <= self.start:
            raise ValueError("EmailBooking.end must be after .start")

    @property
    def creator_zone(self) -> ZoneInfo:
        """The creator's zone; UTC if the stored name is not a zone, so no email ever fails over it."""
        return known_zone(self.creator_timezone) or ZoneInfo("UTC")

    @property
    def fan_zone(self) -> ZoneInfo:
        """The fan's own zone when they gave a real one, else the creator's (the slot was picked in it)."""
        return known_zone(self.fan_timezone) or self.creator_zone

    @property
    def join_label(self) -> str:
        """Join text naming the provider, so people know which app the link opens."""
        name = _PROVIDER_NAMES.get(self.video_provider or "")
        return f"Join with {name}" if name else "Join the video call"
