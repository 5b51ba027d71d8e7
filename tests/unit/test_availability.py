"""Slot engine: validation, DST and odd-offset zones, and a brute-force oracle for random inputs."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.availability import (
    AvailabilityError,
    Interval,
    WeeklyHours,
    compute_slots,
    format_slot,
    merge_intervals,
    parse_weekly_hours,
    split_range,
    validate_duration,
    validate_window,
    window_bounds,
)

NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
KOLKATA = ZoneInfo("Asia/Kolkata")
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)
DAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def local_slots(
    zone: str,
    weekly: dict[str, list[list[str]]],
    minutes: int,
    day: date,
    tz: ZoneInfo | None = None,
) -> list[tuple[str, str]]:
    """Slots of one creator-local day, formatted in `tz` (the creator's zone by default)."""
    hours = parse_weekly_hours(zone, weekly)
    slots = compute_slots(hours, timedelta(minutes=minutes), day, day, LONG_AGO, [])
    viewer = tz or hours.zone
    return [(formatted["start"], formatted["end"]) for formatted in (format_slot(s, viewer) for s in slots)]


# --- parsing and validation -------------------------------------------------------------------


def test_parse_weekly_hours_sorts_ranges_and_allows_24_00() -> None:
    hours = parse_weekly_hours(
        "Asia/Kathmandu",
        {"mon": [["13:00", "17:00"], ["09:00", "12:00"]], "sun": [["22:00", "24:00"]], "tue": []},
    )
    assert hours.zone == ZoneInfo("Asia/Kathmandu")
    assert hours.days == (((540, 720), (780, 1020)), (), (), (), (), (), ((1320, 1440),))


def test_touching_ranges_are_not_overlapping() -> None:
    hours = parse_weekly_hours("UTC", {"fri": [["12:00", "13:00"], ["09:00", "12:00"]]})
    assert hours.days[4] == ((540, 720), (720, 780))


@pytest.mark.parametrize(
    ("timezone", "weekly", "fragment"),
    [
        ("Mars/Olympus", {}, "unknown timezone 'Mars/Olympus'"),
        ("localtime", {}, "unknown timezone"),
        ("../etc/passwd", {}, "unknown timezone"),
        ("", {}, "unknown timezone"),
        (["UTC"], {}, "unknown timezone"),
        ("UTC", [], "weekly_hours must be an object"),
        ("UTC", {"monday": []}, "unknown day 'monday'"),
        ("UTC", {"mon": "09:00-17:00"}, "mon must be a list"),
        ("UTC", {"mon": [["09:00"]]}, "each range must be a pair"),
        ("UTC", {"tue": [["9:00", "17:00"]]}, "tue: '9:00' is not a time in HH:MM form"),
        ("UTC", {"mon": [[900, "17:00"]]}, "not a time in HH:MM form"),
        ("UTC", {"mon": [["09:00 ", "17:00"]]}, "not a time in HH:MM form"),
        ("UTC", {"mon": [["\u0660\u0669:00", "17:00"]]}, "not a time in HH:MM form"),
        ("UTC", {"mon": [["09:60", "17:00"]]}, "not a valid time"),
        ("UTC", {"mon": [["24:00", "24:00"]]}, "not a valid time (00:00 to 23:55)"),
        ("UTC", {"mon": [["09:00", "24:05"]]}, "not a valid time (00:00 to 24:00)"),
        ("UTC", {"mon": [["09:03", "17:00"]]}, "09:03 is not on a 5-minute boundary"),
        ("UTC", {"wed": [["17:00", "09:00"]]}, "wed: range 17:00-09:00 must start before it ends"),
        ("UTC", {"mon": [["09:00", "09:00"]]}, "must start before it ends"),
        ("UTC", {"thu": [["13:00", "17:00"], ["09:00", "13:05"]]}, "thu: ranges 09:00-13:05 and 13:00-17:00 overlap"),
    ],
)
def test_parse_weekly_hours_rejects_bad_input(timezone: object, weekly: object, fragment: str) -> None:
    with pytest.raises(AvailabilityError) as caught:
        parse_weekly_hours(timezone, weekly)  # type: ignore[arg-type]  # raw JSON can be anything
    assert fragment in str(caught.value)
    assert caught.value.code == "invalid_availability"  # the code the settings route answers with


@pytest.mark.parametrize("minutes", [5, 30, 45, 1440])
def test_validate_duration_accepts_whole_cells(minutes: int) -> None:
    assert validate_duration(minutes) == minutes


@pytest.mark.parametrize("minutes", [0, -5, 3, 31, 1445, True, 30.0, "30", None])
def test_validate_duration_rejects(minutes: object) -> None:
    with pytest.raises(AvailabilityError, match="duration_minutes"):
        validate_duration(minutes)


def test_validate_window_parses_inclusive_dates() -> None:
    assert validate_window("2026-03-01", "2026-03-01") == (date(2026, 3, 1), date(2026, 3, 1))
    assert validate_window("2026-01-01", "2026-03-31") == (date(2026, 1, 1), date(2026, 3, 31))  # 90 days
    assert validate_window("2026-01-01", "2026-01-07", max_days=7) == (date(2026, 1, 1), date(2026, 1, 7))
    edges = (date(1970, 1, 1), date(9999, 12, 30))  # the first and last dates asked for
    assert validate_window("1970-01-01", "1970-01-01") == (edges[0], edges[0])
    assert validate_window("9999-12-30", "9999-12-30") == (edges[1], edges[1])


@pytest.mark.parametrize(
    ("from_", "to", "fragment"),
    [
        ("2026-3-01", "2026-03-02", "from must be a date in YYYY-MM-DD form"),
        ("20260301", "2026-03-02", "YYYY-MM-DD"),
        ("2026-W10-1", "2026-03-02", "YYYY-MM-DD"),
        ("2026-03-01", "", "to must be a date"),
        ("2026-02-30", "2026-03-02", "from is not a real date"),
        ("2026-03-02", "2026-03-01", "from (2026-03-02) is after to (2026-03-01)"),
        ("2026-01-01", "2026-04-01", "window is 91 days"),
        ("9999-12-31", "9999-12-31", "from must be between 1970-01-01 and 9999-12-30, got 9999-12-31"),
        ("1969-12-31", "1970-01-01", "from must be between 1970-01-01 and 9999-12-30, got 1969-12-31"),
    ],
)
def test_validate_window_rejects(from_: str, to: str, fragment: str) -> None:
    with pytest.raises(AvailabilityError) as caught:
        validate_window(from_, to)
    assert fragment in str(caught.value)


def test_interval_is_stored_in_utc_and_checked() -> None:
    interval = Interval(datetime(2026, 3, 11, 9, tzinfo=KOLKATA), datetime(2026, 3, 11, 10, tzinfo=KOLKATA))
    assert interval.start == utc(2026, 3, 11, 3, 30)
    assert interval.start.tzinfo is UTC
    assert interval.end.tzinfo is UTC
    with pytest.raises(ValueError, match="timezone-aware"):
        Interval(datetime(2026, 1, 1), utc(2026, 1, 2))
    with pytest.raises(ValueError, match="ends before it starts"):
        Interval(utc(2026, 1, 2), utc(2026, 1, 1))


# --- intervals --------------------------------------------------------------------------------


def test_merge_intervals_joins_overlapping_touching_and_contained() -> None:
    merged = merge_intervals(
        [
            Interval(utc(2026, 1, 1, 12), utc(2026, 1, 1, 13)),
            Interval(utc(2026, 1, 1, 9), utc(2026, 1, 1, 10)),
            Interval(utc(2026, 1, 1, 9, 30), utc(2026, 1, 1, 9, 45)),
            Interval(utc(2026, 1, 1, 10), utc(2026, 1, 1, 11)),
            Interval(utc(2026, 1, 1, 12, 30), utc(2026, 1, 1, 14)),
            Interval(utc(2026, 1, 1, 15), utc(2026, 1, 1, 15)),
        ]
    )
    assert merged == [
        Interval(utc(2026, 1, 1, 9), utc(2026, 1, 1, 11)),
        Interval(utc(2026, 1, 1, 12), utc(2026, 1, 1, 14)),
    ]
    assert merge_intervals([]) == []


def test_split_range_respects_the_freebusy_span() -> None:
    start, end = utc(2026, 1, 1), utc(2026, 7, 20)  # 200 days
    pieces = split_range(start, end)
    assert pieces == [
        (utc(2026, 1, 1), utc(2026, 4, 1)),
        (utc(2026, 4, 1), utc(2026, 6, 30)),
        (utc(2026, 6, 30), utc(2026, 7, 20)),
    ]
    assert split_range(start, start + timedelta(days=90)) == [(start, start + timedelta(days=90))]
    assert split_range(start, start) == []
    assert split_range(start, start + timedelta(hours=5), timedelta(hours=2)) == [
        (start, start + timedelta(hours=2)),
        (start + timedelta(hours=2), start + timedelta(hours=4)),
        (start + timedelta(hours=4), start + timedelta(hours=5)),
    ]
    with pytest.raises(ValueError, match=r"^max_span must be positive$"):
        split_range(start, end, timedelta(0))


def test_split_range_measures_absolute_time_across_dst() -> None:
    # Wall-clock arithmetic in New York would make this piece 90 days and one hour long.
    start = datetime(2026, 2, 1, tzinfo=NEW_YORK)
    pieces = split_range(start, datetime(2026, 6, 1, tzinfo=NEW_YORK))
    assert all(piece_end - piece_start <= timedelta(days=90) for piece_start, piece_end in pieces)
    assert pieces[0] == (utc(2026, 2, 1, 5), utc(2026, 5, 2, 5))
    assert pieces[-1][1] == utc(2026, 6, 1, 4)


@pytest.mark.parametrize(
    ("zone", "first", "last", "expected"),
    [
        ("America/New_York", date(2026, 3, 8), date(2026, 3, 8), (utc(2026, 3, 8, 5), utc(2026, 3, 9, 4))),
        ("America/New_York", date(2026, 11, 1), date(2026, 11, 2), (utc(2026, 11, 1, 4), utc(2026, 11, 3, 5))),
        ("Asia/Kolkata", date(2026, 3, 11), date(2026, 3, 11), (utc(2026, 3, 10, 18, 30), utc(2026, 3, 11, 18, 30))),
        # Santiago skips 00:00-01:00 on 2026-09-06: the day starts when the clock jumps.
        ("America/Santiago", date(2026, 9, 6), date(2026, 9, 6), (utc(2026, 9, 6, 4), utc(2026, 9, 7, 3))),
    ],
)
def test_window_bounds(zone: str, first: date, last: date, expected: tuple[datetime, datetime]) -> None:
    assert window_bounds(parse_weekly_hours(zone, {}), first, last) == expected


# --- slots ------------------------------------------------------------------------------------

MONDAY = date(2026, 6, 1)
MORNING = parse_weekly_hours("Europe/London", {"mon": [["09:00", "12:00"]]})


def bst(hour: int, minute: int = 0) -> datetime:
    return datetime.combine(MONDAY, time(hour, minute), LONDON)


def starts(slots: list[Interval]) -> list[datetime]:
    return [slot.start for slot in slots]


def test_slots_step_from_the_range_start_and_never_cross_its_end() -> None:
    slots = compute_slots(MORNING, timedelta(minutes=50), MONDAY, MONDAY, LONG_AGO, [])
    assert slots == [
        Interval(bst(9), bst(9, 50)),
        Interval(bst(9, 50), bst(10, 40)),
        Interval(bst(10, 40), bst(11, 30)),
    ]
    assert len(compute_slots(MORNING, timedelta(minutes=45), MONDAY, MONDAY, LONG_AGO, [])) == 4


def test_slots_only_on_days_with_hours_inside_the_window() -> None:
    week = compute_slots(
        MORNING, timedelta(hours=1), MONDAY - timedelta(days=3), MONDAY + timedelta(days=7), LONG_AGO, []
    )
    assert starts(week) == [bst(9), bst(10), bst(11)] + [s + timedelta(days=7) for s in (bst(9), bst(10), bst(11))]
    assert (
        compute_slots(MORNING, timedelta(hours=1), MONDAY + timedelta(days=1), MONDAY + timedelta(days=6), LONG_AGO, [])
        == []
    )


def test_no_slot_starts_before_now_and_alignment_stays_on_the_range() -> None:
    slots = compute_slots(MORNING, timedelta(minutes=30), MONDAY, MONDAY, bst(9, 10), [])
    assert starts(slots) == [bst(9, 30), bst(10), bst(10, 30), bst(11), bst(11, 30)]
    assert starts(compute_slots(MORNING, timedelta(minutes=30), MONDAY, MONDAY, bst(10), [])) == [
        bst(10),
        bst(10, 30),
        bst(11),
        bst(11, 30),
    ]
    assert compute_slots(MORNING, timedelta(minutes=30), MONDAY, MONDAY, bst(11, 31), []) == []


def test_blockers_are_half_open() -> None:
    blockers = [
        Interval(bst(9, 30), bst(10)),  # touches 09:00-09:30 and 10:00-10:30: only its own slot goes
        Interval(bst(10, 59), bst(11, 1)),  # overlaps 10:30-11:00 and 11:00-11:30 by a minute each
        Interval(bst(8), bst(9)),  # ends where the first slot starts
    ]
    slots = compute_slots(MORNING, timedelta(minutes=30), MONDAY, MONDAY, LONG_AGO, blockers)
    assert starts(slots) == [bst(9), bst(10), bst(11, 30)]


def test_one_long_blocker_hides_every_slot_it_covers() -> None:
    blockers = [Interval(bst(9, 15), bst(11, 15)), Interval(bst(10), bst(10, 5))]
    slots = compute_slots(MORNING, timedelta(minutes=30), MONDAY, MONDAY, LONG_AGO, blockers)
    assert starts(slots) == [bst(11, 30)]


@pytest.mark.parametrize("duration", [timedelta(minutes=7), timedelta(minutes=30, seconds=1), timedelta(0)])
def test_compute_slots_rejects_off_grid_durations(duration: timedelta) -> None:
    with pytest.raises(AvailabilityError):
        compute_slots(MORNING, duration, MONDAY, MONDAY, LONG_AGO, [])


def test_compute_slots_rejects_naive_now() -> None:
    with pytest.raises(ValueError, match="now"):
        compute_slots(MORNING, timedelta(minutes=30), MONDAY, MONDAY, datetime(2026, 1, 1), [])


# --- daylight saving and odd offsets ------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "day", "count"),
    [
        ("America/New_York", date(2026, 3, 8), 23),
        ("America/New_York", date(2026, 11, 1), 25),
        ("Europe/London", date(2026, 3, 29), 23),
        ("Europe/London", date(2026, 10, 25), 25),
        ("America/New_York", date(2026, 3, 15), 24),
        ("Asia/Kathmandu", date(2026, 3, 29), 24),
    ],
)
def test_a_whole_day_has_as_many_hours_as_the_clock_gives_it(zone: str, day: date, count: int) -> None:
    weekly = {key: [["00:00", "24:00"]] for key in DAY_KEYS}
    slots = local_slots(zone, weekly, 60, day)
    assert len(slots) == count
    assert len(set(slots)) == count


def test_new_york_spring_forward_skips_the_missing_hour() -> None:
    sunday = {"sun": [["01:00", "04:00"]]}
    assert local_slots("America/New_York", sunday, 60, date(2026, 3, 8)) == [
        ("2026-03-08T01:00:00-05:00", "2026-03-08T03:00:00-04:00"),
        ("2026-03-08T03:00:00-04:00", "2026-03-08T04:00:00-04:00"),
    ]


def test_new_york_spring_forward_moves_a_skipped_start_to_the_jump() -> None:
    assert local_slots("America/New_York", {"sun": [["02:30", "04:00"]]}, 30, date(2026, 3, 8)) == [
        ("2026-03-08T03:00:00-04:00", "2026-03-08T03:30:00-04:00"),
        ("2026-03-08T03:30:00-04:00", "2026-03-08T04:00:00-04:00"),
    ]
    # Hours entirely inside the skipped hour do not exist that day.
    assert local_slots("America/New_York", {"sun": [["02:00", "02:55"]]}, 5, date(2026, 3, 8)) == []
    # A week later the same hours are ordinary.
    assert len(local_slots("America/New_York", {"sun": [["02:00", "02:55"]]}, 5, date(2026, 3, 15))) == 11


def test_a_skipped_start_moves_to_the_jump_to_the_second_when_the_jump_is_not_whole_minutes() -> None:
    """Monrovia went from -00:44:30 to UTC on 7 January 1972: its clocks jumped from 00:00 to 00:44:30."""
    hours = parse_weekly_hours("Africa/Monrovia", {"fri": [["00:05", "01:30"]]})
    slots = compute_slots(hours, timedelta(minutes=30), date(1972, 1, 7), date(1972, 1, 7), utc(1970, 1, 1), [])
    jump = datetime(1972, 1, 7, 0, 44, 30, tzinfo=UTC)
    assert slots == [Interval(jump, jump + timedelta(minutes=30))]


def test_new_york_fall_back_offers_the_repeated_hour_twice() -> None:
    assert local_slots("America/New_York", {"sun": [["01:00", "02:00"]]}, 30, date(2026, 11, 1)) == [
        ("2026-11-01T01:00:00-04:00", "2026-11-01T01:30:00-04:00"),
        ("2026-11-01T01:30:00-04:00", "2026-11-01T01:00:00-05:00"),
        ("2026-11-01T01:00:00-05:00", "2026-11-01T01:30:00-05:00"),
        ("2026-11-01T01:30:00-05:00", "2026-11-01T02:00:00-05:00"),
    ]


def test_new_york_fall_back_ends_inside_the_repeat_at_its_first_occurrence() -> None:
    assert local_slots("America/New_York", {"sun": [["00:00", "01:30"]]}, 45, date(2026, 11, 1)) == [
        ("2026-11-01T00:00:00-04:00", "2026-11-01T00:45:00-04:00"),
        ("2026-11-01T00:45:00-04:00", "2026-11-01T01:30:00-04:00"),
    ]


def test_london_spring_forward() -> None:
    assert local_slots("Europe/London", {"sun": [["00:30", "02:30"]]}, 30, date(2026, 3, 29)) == [
        ("2026-03-29T00:30:00+00:00", "2026-03-29T02:00:00+01:00"),
        ("2026-03-29T02:00:00+01:00", "2026-03-29T02:30:00+01:00"),
    ]


def test_london_fall_back() -> None:
    assert local_slots("Europe/London", {"sun": [["01:00", "02:00"]]}, 60, date(2026, 10, 25)) == [
        ("2026-10-25T01:00:00+01:00", "2026-10-25T01:00:00+00:00"),
        ("2026-10-25T01:00:00+00:00", "2026-10-25T02:00:00+00:00"),
    ]


def test_kolkata_half_hour_offset_seen_from_new_york_and_london() -> None:
    weekly = {"wed": [["09:00", "10:00"]]}
    assert local_slots("Asia/Kolkata", weekly, 30, date(2026, 3, 11)) == [
        ("2026-03-11T09:00:00+05:30", "2026-03-11T09:30:00+05:30"),
        ("2026-03-11T09:30:00+05:30", "2026-03-11T10:00:00+05:30"),
    ]
    # The fan in New York sees the evening before, already in daylight time.
    assert local_slots("Asia/Kolkata", weekly, 30, date(2026, 3, 11), NEW_YORK) == [
        ("2026-03-10T23:30:00-04:00", "2026-03-11T00:00:00-04:00"),
        ("2026-03-11T00:00:00-04:00", "2026-03-11T00:30:00-04:00"),
    ]
    assert local_slots("Asia/Kolkata", weekly, 30, date(2026, 3, 11), LONDON) == [
        ("2026-03-11T03:30:00+00:00", "2026-03-11T04:00:00+00:00"),
        ("2026-03-11T04:00:00+00:00", "2026-03-11T04:30:00+00:00"),
    ]


def test_kathmandu_45_minute_offset_seen_from_kolkata_and_utc() -> None:
    weekly = {"wed": [["09:00", "10:00"]]}
    assert local_slots("Asia/Kathmandu", weekly, 60, date(2026, 3, 11)) == [
        ("2026-03-11T09:00:00+05:45", "2026-03-11T10:00:00+05:45"),
    ]
    assert local_slots("Asia/Kathmandu", weekly, 60, date(2026, 3, 11), KOLKATA) == [
        ("2026-03-11T08:45:00+05:30", "2026-03-11T09:45:00+05:30"),
    ]
    assert local_slots("Asia/Kathmandu", weekly, 60, date(2026, 3, 11), ZoneInfo("UTC")) == [
        ("2026-03-11T03:15:00+00:00", "2026-03-11T04:15:00+00:00"),
    ]


def test_fan_in_london_sees_a_kolkata_creator_shift_on_the_london_dst_day() -> None:
    weekly = {"sat": [["09:00", "09:30"]], "sun": [["09:00", "09:30"]]}
    hours = parse_weekly_hours("Asia/Kolkata", weekly)
    slots = compute_slots(hours, timedelta(minutes=30), date(2026, 3, 28), date(2026, 3, 29), LONG_AGO, [])
    assert [format_slot(slot, LONDON)["start"] for slot in slots] == [
        "2026-03-28T03:30:00+00:00",
        "2026-03-29T04:30:00+01:00",
    ]


# --- property-based: random hours, bookings and busy times in awkward zones ---------------------

ZONES = (
    "UTC",
    "America/New_York",
    "Europe/London",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "America/St_Johns",  # -03:30 with DST
    "Australia/Adelaide",  # +09:30 with DST
    "Australia/Lord_Howe",  # DST shifts by 30 minutes
    "Pacific/Chatham",  # +12:45 with DST
    "America/Santiago",  # DST changes at midnight
)
TRANSITION_DAYS = (
    date(2026, 3, 8),
    date(2026, 11, 1),
    date(2026, 3, 29),
    date(2026, 10, 25),
    date(2026, 4, 5),
    date(2026, 10, 4),
    date(2026, 9, 27),
    date(2026, 4, 4),
    date(2026, 9, 6),
)
DURATIONS = (5, 15, 25, 30, 45, 60, 90, 120, 1440)


@dataclass(frozen=True)
class Scenario:
    hours: WeeklyHours
    ranges: tuple[tuple[tuple[int, int], ...], ...]  # drawn independently of the parser
    minutes: int
    first: date
    last: date
    now: datetime
    blockers: list[Interval]


def hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@st.composite
def day_ranges(draw: st.DrawFn) -> tuple[tuple[int, int], ...]:
    cuts = sorted(draw(st.lists(st.integers(0, 288), unique=True, max_size=6)))
    cuts = cuts[: len(cuts) // 2 * 2]
    return tuple((cuts[i] * 5, cuts[i + 1] * 5) for i in range(0, len(cuts), 2))


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    zone = draw(st.sampled_from(ZONES))
    ranges = tuple(draw(day_ranges()) for _ in DAY_KEYS)
    weekly = {key: [[hhmm(a), hhmm(b)] for a, b in day] for key, day in zip(DAY_KEYS, ranges, strict=True)}
    anchor = draw(st.one_of(st.sampled_from(TRANSITION_DAYS), st.dates(date(2025, 1, 1), date(2027, 12, 31))))
    first = anchor - timedelta(days=draw(st.integers(0, 2)))
    last = first + timedelta(days=draw(st.integers(0, 4)))
    origin = datetime.combine(first - timedelta(days=1), time(), UTC)
    span = ((last - first).days + 3) * 1440
    now = origin + timedelta(minutes=draw(st.integers(0, span)), seconds=draw(st.integers(0, 59)))
    spans = draw(st.lists(st.tuples(st.integers(0, span), st.integers(1, 600)), max_size=15))
    blockers = [Interval(origin + timedelta(minutes=a), origin + timedelta(minutes=a + n)) for a, n in spans]
    return Scenario(
        hours=parse_weekly_hours(zone, weekly),
        ranges=ranges,
        minutes=draw(st.sampled_from(DURATIONS)),
        first=first,
        last=last,
        now=now,
        blockers=blockers,
    )


def run(scenario: Scenario) -> list[Interval]:
    return compute_slots(
        scenario.hours,
        timedelta(minutes=scenario.minutes),
        scenario.first,
        scenario.last,
        scenario.now,
        scenario.blockers,
    )


def days_of(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def brute_force(scenario: Scenario) -> list[tuple[datetime, datetime]]:
    """Independent oracle: read the creator's clock every 5 minutes and try every step.

    A wall time starts at the first instant the clock reads it or later. Every offset in ZONES
    is a multiple of 15 minutes, so a 5-minute UTC grid sees every 5-minute wall time and jump.
    """
    zone = scenario.hours.zone
    origin = datetime.combine(scenario.first - timedelta(days=2), time(), UTC)
    grid = [origin + timedelta(minutes=5 * n) for n in range(((scenario.last - scenario.first).days + 5) * 288)]
    readings = [(instant, instant.astimezone(zone).replace(tzinfo=None)) for instant in grid]

    def first_reading(day: date, minute: int) -> datetime:
        wall = datetime.combine(day, time()) + timedelta(minutes=minute)
        return next(instant for instant, reading in readings if reading >= wall)

    step = timedelta(minutes=scenario.minutes)
    found = set()
    for day in days_of(scenario.first, scenario.last):
        for a, b in scenario.ranges[day.weekday()]:
            start, end = first_reading(day, a), first_reading(day, b)
            while start + step <= end:
                free = all(not (busy.start < start + step and start < busy.end) for busy in scenario.blockers)
                if start >= scenario.now and free:
                    found.add((start, start + step))
                start += step
    return sorted(found)


def steady(zone: ZoneInfo, day: date) -> bool:
    """No clock change on this local day (the zones used change at most twice a year)."""
    walls = (
        datetime.combine(day, time()),
        datetime.combine(day, time(12)),
        datetime.combine(day + timedelta(days=1), time()),
    )
    return len({wall.replace(tzinfo=zone).utcoffset() for wall in walls}) == 1


PROPERTY_SETTINGS = settings(max_examples=60, deadline=None, database=None)


@PROPERTY_SETTINGS
@given(scenarios())
def test_slots_are_free_within_hours_and_after_now(scenario: Scenario) -> None:
    slots = run(scenario)
    zone = scenario.hours.zone
    assert starts(slots) == sorted(set(starts(slots)))
    for slot in slots:
        assert slot.end - slot.start == timedelta(minutes=scenario.minutes)
        assert slot.start >= scenario.now
        assert not any(busy.start < slot.end and slot.start < busy.end for busy in scenario.blockers)
        local_start = slot.start.astimezone(zone).replace(tzinfo=None)
        day = local_start.date()
        assert scenario.first - timedelta(days=1) <= day <= scenario.last
        if steady(zone, day):
            midnight = datetime.combine(day, time())
            begin = (local_start - midnight) // timedelta(minutes=1)
            finish = (slot.end.astimezone(zone).replace(tzinfo=None) - midnight) // timedelta(minutes=1)
            assert any(a <= begin and finish <= b for a, b in scenario.ranges[day.weekday()])


@PROPERTY_SETTINGS
@given(scenarios())
def test_every_free_aligned_slot_is_returned(scenario: Scenario) -> None:
    assert [(slot.start, slot.end) for slot in run(scenario)] == brute_force(scenario)


@PROPERTY_SETTINGS
@given(scenarios())
def test_slots_lie_within_window_bounds(scenario: Scenario) -> None:
    low, high = window_bounds(scenario.hours, scenario.first, scenario.last)
    assert all(low <= slot.start and slot.end <= high for slot in run(scenario))


@settings(max_examples=60, deadline=None, database=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 500), st.integers(0, 60)).map(
            lambda pair: Interval(
                utc(2026, 1, 1) + timedelta(minutes=pair[0]), utc(2026, 1, 1) + timedelta(minutes=sum(pair))
            )
        ),
        max_size=20,
    ),
    st.integers(0, 600),
)
def test_merge_keeps_exactly_the_covered_minutes(intervals: list[Interval], probe: int) -> None:
    merged = merge_intervals(intervals)
    point = utc(2026, 1, 1) + timedelta(minutes=probe, seconds=30)
    assert any(m.start <= point < m.end for m in merged) == any(i.start <= point < i.end for i in intervals)
    assert all(m.start < m.end for m in merged)
    assert all(a.end < b.start for a, b in pairwise(merged))
