"""Dates and times as people read them, always naming their zone: "Tue 8 Dec 2026, 14:00 CET (Europe/Berlin)"."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

EN_DASH = "\u2013"
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def zone_or(name: str | None, fallback: str) -> ZoneInfo:
    """The named IANA zone, or the fallback when the name is missing or unknown (a query parameter may be anything)."""
    for candidate in (name, fallback):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def zone_label(zone: ZoneInfo, at: datetime) -> str:
    """The abbreviation in force at that instant and the IANA name: "CET (Europe/Berlin)"."""
    return f"{at.astimezone(zone).tzname()} ({zone.key})"


def clock(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%H:%M")


def short_day(day: date) -> str:
    return f"{_DAYS[day.weekday()][:3]} {day.day} {_MONTHS[day.month - 1][:3]} {day.year}"


def long_day(day: date) -> str:
    return f"{_DAYS[day.weekday()]} {day.day} {_MONTHS[day.month - 1]} {day.year}"


def when(at: datetime, zone: ZoneInfo) -> str:
    """A moment for a person: "Tue 8 Dec 2026, 14:00 CET (Europe/Berlin)"."""
    local = at.astimezone(zone)
    return f"{short_day(local.date())}, {clock(at, zone)} {zone_label(zone, at)}"


def span(start: datetime, end: datetime, zone: ZoneInfo) -> str:
    """A session: "Tue 8 Dec 2026, 14:00-14:30 CET (Europe/Berlin)"."""
    day = short_day(start.astimezone(zone).date())
    return f"{day}, {clock(start, zone)}{EN_DASH}{clock(end, zone)} {zone_label(zone, start)}"
