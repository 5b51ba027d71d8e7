"""Pure slot engine for Book a Session: creator hours in, free UTC slots out, no I/O.

Times are converted with one rule everywhere: a creator-local wall-clock time maps to the
first instant at which the creator's clock reads that time or later. On a fall-back day that
is the first occurrence of a repeated time (fold=0); on a spring-forward day a time the clock
skips maps forward to the moment the clock jumps (02:30 in New York on 2026-03-08 is 03:00 EDT).
The rule never runs backwards, so a day's hours never spill outside that day, and slots are
stepped in absolute time, so an hour that repeats or vanishes gives the right number of slots.
"""

import re
import zoneinfo
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import cache
from importlib import resources
from itertools import pairwise

from shared.errors import InvalidInputError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# The booking lock reserves 5-minute cells, so every time and duration must fall on that grid
# for a slot to map onto whole cells.
GRANULARITY_MINUTES = 5
MIN_DURATION_MINUTES = 5
MAX_DURATION_MINUTES = 1440
# Google Calendar freeBusy refuses ranges longer than about 90 days.
FREEBUSY_MAX_SPAN = timedelta(days=90)

_MINUTE = timedelta(minutes=1)
_CLOCK = re.compile(r"([0-9]{2}):([0-9]{2})")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# Far enough from date.min/date.max that converting a day's bounds to UTC cannot overflow.
_FIRST_DATE = date(1970, 1, 1)
_LAST_DATE = date(9999, 12, 30)


class AvailabilityError(InvalidInputError, ValueError):
    """Bad availability input; the message is written for the person who sent it (a ValueError, so
    pydantic validators can raise it too)."""

    def __init__(self, message: str) -> None:
        super().__init__("invalid_availability", message)


@dataclass(frozen=True, order=True)
class Interval:
    """Half-open [start, end) span of time, stored in UTC so arithmetic is absolute."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.utcoffset() is None or self.end.utcoffset() is None:
            raise ValueError("Interval needs timezone-aware datetimes")
        # Aware datetimes sharing a ZoneInfo subtract as wall-clock times; UTC keeps it absolute.
        object.__setattr__(self, "start", self.start.astimezone(UTC))
        object.__setattr__(self, "end", self.end.astimezone(UTC))
        if self.end < self.start:
            raise ValueError(f"Interval ends before it starts: {self.start} > {self.end}")


@dataclass(frozen=True)
class WeeklyHours:
    """Validated weekly hours: per weekday (Monday first) sorted, disjoint minute ranges."""

    zone: zoneinfo.ZoneInfo
    days: tuple[tuple[tuple[int, int], ...], ...]


@cache
def known_timezones() -> frozenset[str]:
    """IANA names from the tzdata package, the same on every machine.

    ZoneInfo alone (and available_timezones) also accepts whatever files the machine has, such
    as 'localtime', which would mean different zones in different places.
    """
    return frozenset(resources.files("tzdata").joinpath("zones").read_text().split())


def _parse_clock(day: str, text: object, *, is_end: bool) -> int:
    """Minutes after midnight for an 'HH:MM' string on the 5-minute grid."""
    match = _CLOCK.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise AvailabilityError(f"{day}: {text!r} is not a time in HH:MM form")
    hours, minutes = int(match[1]), int(match[2])
    total = hours * 60 + minutes
    if minutes > 59 or total > 1440 or (total == 1440 and not is_end):
        limit = "24:00" if is_end else "23:55"
        raise AvailabilityError(f"{day}: {text} is not a valid time (00:00 to {limit})")
    if total % GRANULARITY_MINUTES:
        raise AvailabilityError(f"{day}: {text} is not on a {GRANULARITY_MINUTES}-minute boundary")
    return total


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _parse_day(day: str, ranges: object) -> tuple[tuple[int, int], ...]:
    if not isinstance(ranges, list):
        raise AvailabilityError(f"{day} must be a list of [start, end] pairs")
    parsed = []
    for pair in ranges:
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise AvailabilityError(f'{day}: each range must be a pair like ["09:00", "17:00"]')
        start = _parse_clock(day, pair[0], is_end=False)
        end = _parse_clock(day, pair[1], is_end=True)
        if start >= end:
            raise AvailabilityError(f"{day}: range {pair[0]}-{pair[1]} must start before it ends")
        parsed.append((start, end))
    parsed.sort()
    for (a_start, a_end), (b_start, b_end) in pairwise(parsed):
        if b_start < a_end:
            raise AvailabilityError(
                f"{day}: ranges {_clock(a_start)}-{_clock(a_end)} and {_clock(b_start)}-{_clock(b_end)} overlap"
            )
    return tuple(parsed)


def parse_weekly_hours(timezone: str, weekly_hours: object) -> WeeklyHours:
    """Validate Settings → Availability input; missing days have no hours."""
    if not isinstance(timezone, str) or timezone not in known_timezones():
        raise AvailabilityError(f"unknown timezone {timezone!r} (use an IANA name like 'Europe/London')")
    if not isinstance(weekly_hours, dict):
        raise AvailabilityError("weekly_hours must be an object mapping days to lists of [start, end] pairs")
    unknown = sorted(str(key) for key in weekly_hours if key not in DAYS)
    if unknown:
        raise AvailabilityError(f"unknown day {unknown[0]!r} (use {', '.join(DAYS)})")
    days = tuple(_parse_day(day, weekly_hours.get(day, [])) for day in DAYS)
    return WeeklyHours(zone=zoneinfo.ZoneInfo(timezone), days=days)


def validate_duration(minutes: object) -> int:
    """Offer length in minutes: whole 5-minute cells, from 5 minutes to a day."""
    if not isinstance(minutes, int) or isinstance(minutes, bool):
        raise AvailabilityError("duration_minutes must be a whole number of minutes")
    if not MIN_DURATION_MINUTES <= minutes <= MAX_DURATION_MINUTES or minutes % GRANULARITY_MINUTES:
        raise AvailabilityError(
            f"duration_minutes must be a multiple of {GRANULARITY_MINUTES} "
            f"from {MIN_DURATION_MINUTES} to {MAX_DURATION_MINUTES}, got {minutes}"
        )
    return minutes


def _parse_date(name: str, text: str) -> date:
    # date.fromisoformat alone also takes forms like '20260308' or '2026-W10-1'.
    if not _ISO_DATE.fullmatch(text):
        raise AvailabilityError(f"{name} must be a date in YYYY-MM-DD form, got {text!r}")
    try:
        parsed = date.fromisoformat(text)
    except ValueError:
        raise AvailabilityError(f"{name} is not a real date: {text!r}") from None
    if not _FIRST_DATE <= parsed <= _LAST_DATE:
        raise AvailabilityError(f"{name} must be between {_FIRST_DATE} and {_LAST_DATE}, got {text}")
    return parsed


def validate_window(from_: str, to: str, max_days: int = 90) -> tuple[date, date]:
    """Parse a requested slot window of creator-local dates, both ends included."""
    first, last = _parse_date("from", from_), _parse_date("to", to)
    if first > last:
        raise AvailabilityError(f"from ({first}) is after to ({last})")
    days = (last - first).days + 1
    if days > max_days:
        raise AvailabilityError(f"window is {days} days; at most {max_days} days can be asked at once")
    return first, last


def _jump_instant(before: datetime, after: datetime, zone: tzinfo) -> datetime:
    """The instant the clock jumps, by bisecting whole seconds; zoneinfo does not expose transitions."""
    target = after.astimezone(zone).utcoffset()
    low, high = int(before.timestamp()), int(after.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == target:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def _wall_to_utc(day: date, minute: int, zone: tzinfo) -> datetime:
    """First instant at which the clock in `zone` reads `day` + `minute` or later (module rule)."""
    wall = datetime.combine(day, time()) + timedelta(minutes=minute)
    instant = wall.replace(tzinfo=zone).astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == wall:
        return instant
    # Skipped time: fold=0 read it with the offset before the jump, landing after the jump;
    # fold=1 reads it with the offset after, landing before. The jump lies between them.
    return _jump_instant(wall.replace(tzinfo=zone, fold=1).astimezone(UTC), instant, zone)


def window_bounds(hours: WeeklyHours, window_start: date, window_end: date) -> tuple[datetime, datetime]:
    """UTC instants covering the creator-local dates, ends included: what to ask for busy times."""
    return (
        _wall_to_utc(window_start, 0, hours.zone),
        _wall_to_utc(window_end, 24 * 60, hours.zone),
    )


def merge_intervals(intervals: Iterable[Interval]) -> list[Interval]:
    """Union of intervals as sorted, disjoint, non-touching intervals; empty ones vanish."""
    merged: list[tuple[datetime, datetime]] = []
    for item in sorted(intervals, key=lambda interval: interval.start):
        if item.start == item.end:
            continue
        if merged and item.start <= merged[-1][1]:
            if item.end > merged[-1][1]:
                merged[-1] = (merged[-1][0], item.end)
        else:
            merged.append((item.start, item.end))
    return [Interval(start, end) for start, end in merged]


def split_range(
    start: datetime, end: datetime, max_span: timedelta = FREEBUSY_MAX_SPAN
) -> list[tuple[datetime, datetime]]:
    """Consecutive UTC pieces of [start, end), each at most `max_span` long (freeBusy's limit)."""
    if max_span <= timedelta(0):
        raise ValueError("max_span must be positive")
    span = Interval(start, end)
    pieces = []
    piece_start = span.start
    while piece_start < span.end:
        piece_end = min(piece_start + max_span, span.end)
        pieces.append((piece_start, piece_end))
        piece_start = piece_end
    return pieces


def _range_starts(
    hours: WeeklyHours, duration: timedelta, window_start: date, window_end: date, now: datetime
) -> Iterator[datetime]:
    """Slot starts inside the hours, stepped from each range's start, none before now.

    They come out strictly increasing without sorting: days and their disjoint ranges go in
    wall-clock order, and the module's conversion rule never runs backwards.
    """
    day = window_start
    while day <= window_end:
        for start_minute, end_minute in hours.days[day.weekday()]:
            start = _wall_to_utc(day, start_minute, hours.zone)
            last_start = _wall_to_utc(day, end_minute, hours.zone) - duration
            if start < now:
                # Ceiling division: the first step of this range at or after now.
                start += -((start - now) // duration) * duration
            while start <= last_start:
                yield start
                start += duration
        day += timedelta(days=1)


def compute_slots(
    hours: WeeklyHours,
    duration: timedelta,
    window_start: date,
    window_end: date,
    now: datetime,
    blockers: Sequence[Interval],
) -> list[Interval]:
    """Free slots of `duration` on the creator-local dates window_start..window_end (inclusive).

    Slots start at each range's start and step by the duration, never cross the range's end,
    never start before `now` and never overlap a blocker (touching is fine). Blockers are merged
    once and swept with one pointer, so the cost grows linearly rather than slots x blockers.
    """
    whole_minutes, remainder = divmod(duration, _MINUTE)
    if remainder:
        raise AvailabilityError("duration must be a whole number of minutes")
    validate_duration(whole_minutes)
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    busy = merge_intervals(blockers)
    slots: list[Interval] = []
    index = 0
    for start in _range_starts(hours, duration, window_start, window_end, now.astimezone(UTC)):
        end = start + duration
        while index < len(busy) and busy[index].end <= start:
            index += 1
        if index == len(busy) or busy[index].start >= end:
            slots.append(Interval(start, end))
    return slots


def format_slot(interval: Interval, tz: tzinfo) -> dict[str, str]:
    """RFC 3339 start and end with the viewer's offset, as the slots API returns them."""
    return {
        "start": interval.start.astimezone(tz).isoformat(),
        "end": interval.end.astimezone(tz).isoformat(),
    }
