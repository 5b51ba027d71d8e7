"""Turns a booking and an email kind into a ready-to-send message (HTML, text and ICS)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from enum import StrEnum
from functools import cache
from types import MappingProxyType
from urllib.parse import urljoin, urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from shared.mail.ics import build_ics
from shared.mail.model import EmailBooking
from shared.mail.safe import mailbox, one_line


class EmailKind(StrEnum):
    """The values of the X-Flo-Email-Kind header (external contract)."""

    CONFIRMATION = "confirmation"
    CREATOR_NOTIFICATION = "creator_notification"
    RESCHEDULED = "rescheduled"
    CANCELLED = "cancelled"
    LINK_READY = "link_ready"
    REMINDER = "reminder"
    SLOT_LOST = "slot_lost"
    """A payment came after its hold ran out and someone else took the slot: it will be refunded."""


class Recipient(StrEnum):
    """Whose copy of a message to render: the copy differs in zone, wording and links."""

    FAN = "fan"
    CREATOR = "creator"


RECIPIENTS: MappingProxyType[EmailKind, tuple[Recipient, ...]] = MappingProxyType(
    {
        EmailKind.CONFIRMATION: (Recipient.FAN,),
        EmailKind.CREATOR_NOTIFICATION: (Recipient.CREATOR,),
        EmailKind.RESCHEDULED: (Recipient.FAN, Recipient.CREATOR),
        EmailKind.CANCELLED: (Recipient.FAN, Recipient.CREATOR),
        EmailKind.LINK_READY: (Recipient.FAN, Recipient.CREATOR),
        EmailKind.REMINDER: (Recipient.FAN, Recipient.CREATOR),
        EmailKind.SLOT_LOST: (Recipient.FAN,),
    }
)
"""Who receives each kind; the sender renders one message per entry."""

_SUBJECTS: MappingProxyType[EmailKind, str] = MappingProxyType(
    {
        EmailKind.CONFIRMATION: "Confirmed: {title} with {other}, {start}",
        EmailKind.CREATOR_NOTIFICATION: "New booking: {title} with {other}, {start}",
        EmailKind.RESCHEDULED: "Rescheduled: {title} with {other}, now {start}",
        EmailKind.CANCELLED: "Cancelled: {title} with {other}, {start}",
        EmailKind.LINK_READY: "Video link ready: {title} with {other}, {start}",
        EmailKind.REMINDER: "Reminder: {title} with {other}, {start}",
        EmailKind.SLOT_LOST: "Not booked: {title} with {other}, {start}; your payment will be refunded",
    }
)
_FOR_CANCELLED = frozenset({EmailKind.CANCELLED, EmailKind.SLOT_LOST})
"""Kinds about a booking that is cancelled; every other kind is about a live one."""

_EN_DASH = "\u2013"


def render(
    kind: EmailKind,
    booking: EmailBooking,
    *,
    recipient: Recipient | None = None,
    mail_from: str,
    base_url: str,
) -> EmailMessage:
    """Build one recipient's message for ``kind``.

    ``recipient`` may be left out only for kinds with a single recipient (see ``RECIPIENTS``).
    ``base_url`` resolves a relative ``manage_url`` and gives the creator's dashboard link.
    Raises ValueError for combinations that would mislead the reader: a cancellation email for a
    booking that is not cancelled (or any other kind for one that is), a link_ready email without
    a link, a link that is not http(s), a fan's copy without its manage link, or an address no
    mail server could take. Names and zones as stored never make it fail: names are put on one line
    and a zone that is not a zone falls back to the creator's (then UTC).
    """
    recipient = _recipient_for(kind, recipient)
    cancelled = kind in _FOR_CANCELLED
    if cancelled != (booking.status == "cancelled"):
        raise ValueError(f"cannot render {kind} for a booking whose status is {booking.status}")
    if kind is EmailKind.LINK_READY and not booking.meeting_url:
        raise ValueError("link_ready needs a meeting_url")

    to_fan = recipient is Recipient.FAN
    zone = booking.fan_zone if to_fan else booking.creator_zone
    start, end = booking.start.astimezone(zone), booking.end.astimezone(zone)
    context = {
        "recipient": recipient.value,
        "booking": booking,
        "name": one_line(booking.fan_name if to_fan else booking.creator_name),
        "other_name": one_line(booking.creator_name if to_fan else booking.fan_name),
        "when": _format_span(start, end, zone.key),
        "join_url": None if cancelled or not booking.meeting_url else _http_url(booking.meeting_url),
        "manage_url": _manage_url(booking, base_url) if to_fan and not cancelled else None,
        "dashboard_url": urljoin(base_url, "/dashboard/bookings"),
    }
    environment = _environment()
    text = environment.get_template(f"{kind.value}.txt.j2").render(context)
    html = environment.get_template(f"{kind.value}.html.j2").render(context)

    message = EmailMessage()
    message["From"] = mail_from
    message["To"] = (
        mailbox(booking.fan_name, booking.fan_email) if to_fan else mailbox(booking.creator_name, booking.creator_email)
    )
    subject = _SUBJECTS[kind].format(
        title=booking.offer_title, other=context["other_name"], start=_format_start(start, zone.key)
    )
    message["Subject"] = one_line(subject)  # names are user input: no header folding tricks
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=parseaddr(mail_from)[1].rpartition("@")[2] or "flo.bookings")
    message["X-Flo-Booking-Id"] = booking.booking_id
    message["X-Flo-Email-Kind"] = kind.value
    # quoted-printable keeps the raw message readable in the local mail sink and in logs.
    message.set_content(text, cte="quoted-printable")
    message.add_alternative(html, subtype="html", cte="quoted-printable")
    if kind is not EmailKind.SLOT_LOST:  # a lost slot was never in anyone's calendar
        message.add_attachment(
            build_ics(booking, cancelled=cancelled),
            maintype="text",
            subtype="calendar",
            filename="invite.ics",
            params={"method": "CANCEL" if cancelled else "REQUEST", "charset": "utf-8"},
        )
    return message


def _recipient_for(kind: EmailKind, recipient: Recipient | None) -> Recipient:
    allowed = RECIPIENTS[kind]
    if recipient is None:
        if len(allowed) != 1:
            raise ValueError(f"{kind} goes to {', '.join(allowed)}: say which copy to render")
        return allowed[0]
    if recipient not in allowed:
        raise ValueError(f"{kind} is not sent to the {recipient}")
    return recipient


def _manage_url(booking: EmailBooking, base_url: str) -> str:
    if booking.manage_url is None:
        raise ValueError("the fan's copy needs its manage link")
    return _http_url(urljoin(base_url, booking.manage_url))


def _http_url(url: str) -> str:
    """Refuse links that would not open a web page (e.g. javascript:) before they reach an href. The error
    names only the scheme: it is recorded and logged, and a manage link carries its token."""
    scheme = urlsplit(url).scheme
    if scheme not in ("https", "http"):
        raise ValueError(f"not an http(s) URL (scheme {scheme!r})")
    return url


def _day(moment: datetime) -> str:
    return f"{moment:%A} {moment.day} {moment:%B %Y}"


def _format_span(start: datetime, end: datetime, zone: str) -> str:
    """E.g. "Tuesday 1 December 2026, 10:00-10:30 (Europe/London)" with an en dash; the zone is
    always named because fans and creators often live in different zones."""
    if start.date() == end.date():
        return f"{_day(start)}, {start:%H:%M}{_EN_DASH}{end:%H:%M} ({zone})"
    return f"{_day(start)}, {start:%H:%M} {_EN_DASH} {_day(end)}, {end:%H:%M} ({zone})"


def _format_start(start: datetime, zone: str) -> str:
    """Short form for subjects, e.g. "Tue 1 Dec 2026, 10:00 (Europe/London)"."""
    return f"{start:%a} {start.day} {start:%b %Y}, {start:%H:%M} ({zone})"


@cache
def _environment() -> Environment:
    """Built on first use, not at import; HTML templates autoescape, text templates do not."""
    return Environment(
        loader=PackageLoader("shared.mail", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
