"""The calendar file attached to booking emails (iTIP REQUEST / CANCEL, RFC 5545/5546)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from icalendar import Calendar, Event, Timezone, vCalAddress, vText

from shared.mail.model import EmailBooking
from shared.mail.safe import one_line

PRODID = "-//Flo//Book a Session//EN"
_TIMEZONE_MARGIN = timedelta(days=366)


def ics_uid(booking_id: str) -> str:
    """The UID calendar apps key the event on; it must never change for a booking."""
    return f"{booking_id}@flo.bookings"


def build_ics(booking: EmailBooking, *, cancelled: bool) -> bytes:
    """One-event calendar whose UID is stable and whose SEQUENCE is the booking's revision.

    Times are in the creator's zone with a VTIMEZONE so every client shows the same instant the
    creator scheduled. A cancellation is METHOD:CANCEL, STATUS:CANCELLED and carries no join link.
    """
    zone = booking.creator_zone
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", "CANCEL" if cancelled else "REQUEST")
    # VTIMEZONE before the VEVENT that uses it, which some Outlook versions insist on. A year
    # either side keeps it small while covering the event's DST rules.
    calendar.add_component(
        Timezone.from_tzid(
            zone.key,
            first_date=(booking.start - _TIMEZONE_MARGIN).date(),
            last_date=(booking.end + _TIMEZONE_MARGIN).date(),
        )
    )

    event = Event()
    event.add("uid", ics_uid(booking.booking_id))
    event.add("sequence", booking.revision)
    event.add("dtstamp", datetime.now(UTC))
    event.add("dtstart", booking.start.astimezone(zone))
    event.add("dtend", booking.end.astimezone(zone))
    event.add("summary", f"{booking.offer_title} ({booking.creator_name} & {booking.fan_name})")
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    event.add("description", _description(booking, cancelled=cancelled))
    if booking.meeting_url and not cancelled:
        event.add("url", booking.meeting_url)
        event.add("location", booking.meeting_url)
    event.add("organizer", _address(booking.creator_email, booking.creator_name))
    if booking.fan_email == one_line(booking.fan_email):  # else no calendar could hold it: leave it out
        attendee = _address(booking.fan_email, booking.fan_name)
        attendee.params["ROLE"] = "REQ-PARTICIPANT"
        attendee.params["PARTSTAT"] = "ACCEPTED"
        attendee.params["RSVP"] = "FALSE"
        event.add("attendee", attendee)
    calendar.add_component(event)
    ical: bytes = calendar.to_ical()
    return ical


def _description(booking: EmailBooking, *, cancelled: bool) -> str:
    """Plain text shown under the event, the join link first because that is what people need."""
    if cancelled:
        return f"This session has been cancelled: {booking.offer_title} with {booking.creator_name}."
    if booking.meeting_url:
        video = f"{booking.join_label}: {booking.meeting_url}"
    elif booking.link_pending:
        video = "The video link will follow by email."
    else:
        video = f"No video link is attached yet; {booking.creator_name} will share one."
    return f"{video}\n\n{booking.offer_title} with {booking.creator_name} ({booking.duration_minutes} min)."


def _address(email: str, name: str) -> vCalAddress:
    address = vCalAddress(f"mailto:{email}")
    address.params["CN"] = vText(one_line(name))
    return address
