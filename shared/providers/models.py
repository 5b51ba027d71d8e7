"""Values that cross the provider ports; plain frozen dataclasses, so fakes and adapters share them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def require_aware(name: str, value: datetime) -> None:
    """A naive time would be read in the server's zone; every provider call needs an instant."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def require_zone(value: str) -> ZoneInfo:
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {value!r}") from None


@dataclass(frozen=True, repr=False)
class TokenSet:
    """One OAuth answer; repr hides both tokens so logging it is harmless."""

    access_token: str
    refresh_token: str
    expires_at: datetime
    scopes: frozenset[str]

    def __repr__(self) -> str:
        return (
            f"TokenSet(access_token='[redacted]', refresh_token='[redacted]', "
            f"expires_at={self.expires_at.isoformat()!r}, scopes={sorted(self.scopes)!r})"
        )

    def expires_soon(self, now: datetime, margin: timedelta = timedelta(minutes=5)) -> bool:
        """Refresh before use when true, so a call never races the expiry."""
        return self.expires_at - margin <= now


@dataclass(frozen=True)
class ZoomUser:
    id: str
    email: str | None
    timezone: str | None


@dataclass(frozen=True)
class MeetingSpec:
    """A scheduled Zoom meeting as a booking wants it; `agenda` should start with the booking marker,
    because Zoom's list answer cuts agendas to 250 characters."""

    topic: str
    agenda: str
    start: datetime
    duration_minutes: int
    timezone: str

    def __post_init__(self) -> None:
        require_aware("start", self.start)
        require_zone(self.timezone)
        if not 1 <= self.duration_minutes <= 1440:
            raise ValueError("duration_minutes must be 1..1440")
        if len(self.topic) > 200:
            raise ValueError("Zoom topics are at most 200 characters")
        if len(self.agenda) > 2000:
            raise ValueError("Zoom agendas are at most 2000 characters")


@dataclass(frozen=True)
class ZoomMeeting:
    id: int
    join_url: str
    start_time: datetime | None
    """UTC; None only for Zoom's recurring meetings without a fixed time, which Flo never creates."""
    duration_minutes: int
    timezone: str | None
    topic: str
    agenda: str


@dataclass(frozen=True)
class EventSpec:
    """A Google Calendar event as a booking wants it; Zoom links go in `location` and `description`."""

    event_id: str
    summary: str
    description: str
    location: str | None
    start: datetime
    end: datetime
    timezone: str
    with_meet: bool

    def __post_init__(self) -> None:
        require_aware("start", self.start)
        require_aware("end", self.end)
        require_zone(self.timezone)
        if self.end <= self.start:
            raise ValueError("end must be after start")


@dataclass(frozen=True)
class CalendarEvent:
    id: str
    status: str
    """"confirmed", "tentative" or "cancelled" (Google keeps deleted events around for a while)."""
    hangout_link: str | None
    meet_pending: bool
    """Google may create the Meet asynchronously: read the event again later for the link."""
    start: datetime | None
    end: datetime | None
    summary: str
    description: str
    location: str | None
