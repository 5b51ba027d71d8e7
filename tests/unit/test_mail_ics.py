"""The ICS attachment, parsed back with icalendar: what calendar apps key on must be right."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from icalendar import Calendar, Event

from shared.mail import EmailBooking, build_ics, ics_uid
from tests.mail_samples import ZOOM_URL, sample_booking

START = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def booking(**changes: Any) -> EmailBooking:
    """A creator and fan in zones far from UTC and from each other, so a wrong zone shows."""
    values: dict[str, Any] = {
        "revision": 4,
        "duration_minutes": 45,
        "creator_timezone": "America/Los_Angeles",
        "fan_timezone": "Europe/Berlin",
        "start": START,
        "end": START + timedelta(minutes=45),
    }
    return sample_booking(**{**values, **changes})


def parse(ics: bytes) -> tuple[Calendar, Event]:
    calendar = Calendar.from_ical(ics)
    events = calendar.walk("VEVENT")
    assert len(events) == 1
    return calendar, events[0]


def test_request_has_the_fields_calendar_apps_need() -> None:
    raw = build_ics(booking(), cancelled=False)
    calendar, event = parse(raw)

    assert calendar["VERSION"] == "2.0"
    assert calendar["PRODID"]
    assert calendar["METHOD"] == "REQUEST"
    assert event["UID"] == "bk_123@flo.bookings"
    assert event.decoded("SEQUENCE") == 4
    assert event.decoded("DTSTAMP").tzinfo is not None
    assert event["STATUS"] == "CONFIRMED"
    assert event["SUMMARY"].startswith("Portfolio review")
    assert str(event["ORGANIZER"]) == "mailto:ana@creator.test"
    assert event["ORGANIZER"].params["CN"] == "Ana Creator"
    assert str(event["ATTENDEE"]) == "mailto:bob@fan.test"
    assert event["ATTENDEE"].params["CN"] == "Bob Fan"


def test_times_are_in_the_creator_zone_with_a_vtimezone() -> None:
    raw = build_ics(booking(), cancelled=False)
    calendar, event = parse(raw)

    assert b"DTSTART;TZID=America/Los_Angeles:20261201T020000" in raw
    assert b"DTEND;TZID=America/Los_Angeles:20261201T024500" in raw
    assert event["DTSTART"].params["TZID"] == "America/Los_Angeles"
    assert event.decoded("DTSTART") == START
    assert event.decoded("DTEND") == START + timedelta(minutes=45)
    assert [str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")] == ["America/Los_Angeles"]
    # The VTIMEZONE must precede the event for older Outlook versions.
    assert raw.index(b"BEGIN:VTIMEZONE") < raw.index(b"BEGIN:VEVENT")


def test_join_url_in_description_url_and_location() -> None:
    _, event = parse(build_ics(booking(), cancelled=False))

    assert ZOOM_URL in str(event["DESCRIPTION"])
    assert "Join with Zoom" in str(event["DESCRIPTION"])
    assert str(event["URL"]) == ZOOM_URL
    assert str(event["LOCATION"]) == ZOOM_URL


def test_pending_link_has_no_url_and_says_it_will_follow() -> None:
    _, event = parse(build_ics(booking(meeting_url=None, video_provider=None, link_pending=True), cancelled=False))

    assert "will follow" in str(event["DESCRIPTION"])
    assert "URL" not in event
    assert "LOCATION" not in event


def test_uid_is_stable_while_sequence_follows_revision() -> None:
    moved = booking(revision=5, start=START + timedelta(days=1), end=START + timedelta(days=1, minutes=45))
    _, first = parse(build_ics(booking(), cancelled=False))
    _, second = parse(build_ics(moved, cancelled=False))

    assert first["UID"] == second["UID"] == ics_uid("bk_123")
    assert (first.decoded("SEQUENCE"), second.decoded("SEQUENCE")) == (4, 5)


def test_cancellation_is_method_cancel_for_the_same_event() -> None:
    calendar, event = parse(build_ics(booking(status="cancelled", revision=6), cancelled=True))

    assert calendar["METHOD"] == "CANCEL"
    assert event["STATUS"] == "CANCELLED"
    assert event["UID"] == "bk_123@flo.bookings"
    assert event.decoded("SEQUENCE") == 6
    assert "cancelled" in str(event["DESCRIPTION"])
    assert ZOOM_URL not in str(event["DESCRIPTION"])
    assert "URL" not in event
