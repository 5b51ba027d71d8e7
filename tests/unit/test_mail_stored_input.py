"""Whatever a stored booking holds, rendering works: odd names, zones that are not zones, non-ASCII
addresses; and the slot_lost email that tells a fan their late payment will be refunded."""

from __future__ import annotations

from email import message_from_string, policy
from email.message import EmailMessage

import pytest
from icalendar import Calendar

from shared.mail import EmailKind, Recipient, render
from shared.mail.model import EmailBooking
from shared.mail.safe import known_zone, mailbox, one_line
from tests.mail_samples import html_of, links, sample_booking

MAIL_FROM = "Flo <bookings@flo.test>"
BASE_URL = "https://flo.test"
ODD_NAMES = [
    "Frankie\r\nBcc: victim@example.com",
    "Null\x00 and bell\x07",
    "Line\u2028separator\u2029here",
    'Quote " and back\\slash',
    "\t\n",
]


def rendered(kind: EmailKind, who: Recipient, booking: EmailBooking) -> EmailMessage:
    """The message as SMTP would carry it (UTF-8 headers) and read back by a mail client."""
    message = render(kind, booking, recipient=who, mail_from=MAIL_FROM, base_url=BASE_URL)
    parsed = message_from_string(message.as_bytes(policy=policy.SMTPUTF8).decode(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def invite_of(message: EmailMessage) -> Calendar:
    [part] = [p for p in message.iter_attachments() if p.get_filename() == "invite.ics"]
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return Calendar.from_ical(payload)


@pytest.mark.parametrize("name", ODD_NAMES)
@pytest.mark.parametrize(
    ("kind", "who"),
    [
        (EmailKind.CONFIRMATION, Recipient.FAN),
        (EmailKind.CREATOR_NOTIFICATION, Recipient.CREATOR),
        (EmailKind.REMINDER, Recipient.FAN),
    ],
)
def test_a_fan_name_with_control_characters_renders_on_one_line_in_every_header(
    name: str, kind: EmailKind, who: Recipient
) -> None:
    message = rendered(kind, who, sample_booking(fan_name=name))
    assert len(message.get_all("Bcc") or []) == 0, "a name must never add a header"
    assert [a.addr_spec for a in message["To"].addresses] == [
        "bob@fan.test" if who is Recipient.FAN else "ana@creator.test"
    ]
    flat = one_line(name)
    if who is Recipient.FAN:
        assert message["To"].addresses[0].display_name == flat
    else:
        assert flat in message["Subject"]
    assert "\n" not in str(message["Subject"]) and "\x00" not in str(message["Subject"])
    attendee = invite_of(message).walk("VEVENT")[0]["ATTENDEE"]
    assert attendee.params["CN"] == flat


def test_one_line_keeps_ordinary_unicode_and_drops_only_breaks_and_controls() -> None:
    assert one_line("Zoë  Ðoe\r\n\x00 😀") == "Zoë Ðoe 😀"
    assert one_line("\x07") == ""


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "../../etc/passwd", "/etc/localtime", "Europe/London\n"])
def test_a_fan_zone_that_is_not_a_zone_falls_back_to_the_creators(zone: str) -> None:
    message = rendered(EmailKind.CONFIRMATION, Recipient.FAN, sample_booking(fan_timezone=zone))
    when = "Tuesday 1 December 2026, 10:00\u201310:30 (Europe/London)"
    assert when in text_of(message)
    assert when in html_of(message)
    assert "(Europe/London)" in message["Subject"]


def test_a_creator_zone_that_is_not_a_zone_falls_back_to_utc_in_the_email_and_the_invite() -> None:
    booking = sample_booking(creator_timezone="Nowhere/Land", fan_timezone="Mars/Olympus")
    message = rendered(EmailKind.CREATOR_NOTIFICATION, Recipient.CREATOR, booking)
    assert "10:00\u201310:30 (UTC)" in text_of(message)
    event = invite_of(message).walk("VEVENT")[0]
    assert event.decoded("DTSTART") == booking.start


def test_known_zone_knows_real_zones_only() -> None:
    assert known_zone("Asia/Tokyo") is not None
    assert known_zone(None) is None
    assert known_zone("Mars/Olympus") is None


@pytest.mark.parametrize("address", ["zoë@example.com", "用户@例子.广告", "ok@exämple.com"])
def test_an_internationalized_address_is_kept_for_smtputf8(address: str) -> None:
    message = rendered(EmailKind.CONFIRMATION, Recipient.FAN, sample_booking(fan_email=address, fan_name="Zoë"))
    [to] = message["To"].addresses
    assert (to.addr_spec, to.display_name) == (address, "Zoë")
    assert f"mailto:{address}" in str(invite_of(message).walk("VEVENT")[0]["ATTENDEE"])


@pytest.mark.parametrize("address", ["no-at-sign", "@example.com", "local@", "line\r\nbreak@example.com"])
def test_an_address_no_server_could_take_is_a_render_error(address: str) -> None:
    with pytest.raises(ValueError):
        render(EmailKind.CONFIRMATION, sample_booking(fan_email=address), mail_from=MAIL_FROM, base_url=BASE_URL)


def test_mailbox_builds_the_address_from_its_parts() -> None:
    assert str(mailbox("A\nB", "a.b@example.com")) == "A B <a.b@example.com>"


def test_the_creator_copy_needs_no_manage_link_but_the_fans_does() -> None:
    booking = sample_booking(manage_url=None)
    creator = rendered(EmailKind.CREATOR_NOTIFICATION, Recipient.CREATOR, booking)
    assert ("All your bookings", "https://flo.test/dashboard/bookings") in [(t, h) for h, t in links(creator)]
    with pytest.raises(ValueError, match="manage link"):
        render(EmailKind.CONFIRMATION, booking, mail_from=MAIL_FROM, base_url=BASE_URL)


# ---- slot_lost ----------------------------------------------------------------------------------------------


def test_slot_lost_tells_the_fan_the_slot_is_lost_and_the_payment_will_be_refunded() -> None:
    booking = sample_booking(status="cancelled", manage_url=None)
    message = rendered(EmailKind.SLOT_LOST, Recipient.FAN, booking)
    assert message["X-Flo-Email-Kind"] == "slot_lost"
    assert message["To"].addresses[0].addr_spec == "bob@fan.test"
    assert message["Subject"].startswith("Not booked: Portfolio review with Ana Creator")
    assert "refunded" in message["Subject"]
    for body in (text_of(message), html_of(message)):
        assert "The slot is lost, and your payment will be refunded in full." in body
        assert "Tuesday 1 December 2026, 05:00\u201305:30 (America/New_York)" in body
    assert [p.get_content_type() for p in message.walk()] == ["multipart/alternative", "text/plain", "text/html"]
    assert links(message) == [], "no join, no manage link, no calendar invite for a slot never booked"


def test_slot_lost_is_only_for_a_cancelled_booking_and_only_for_the_fan() -> None:
    with pytest.raises(ValueError, match="status is confirmed"):
        render(EmailKind.SLOT_LOST, sample_booking(), mail_from=MAIL_FROM, base_url=BASE_URL)
    with pytest.raises(ValueError, match="not sent to the creator"):
        render(
            EmailKind.SLOT_LOST,
            sample_booking(status="cancelled"),
            recipient=Recipient.CREATOR,
            mail_from=MAIL_FROM,
            base_url=BASE_URL,
        )


def test_the_creator_copy_renders_even_when_the_fan_address_could_not_be_written() -> None:
    message = rendered(EmailKind.CREATOR_NOTIFICATION, Recipient.CREATOR, sample_booking(fan_email="a\r\nb@x.test"))
    event = invite_of(message).walk("VEVENT")[0]
    assert "ATTENDEE" not in event, "an address no calendar could hold is left out"
    assert event["ORGANIZER"] == "mailto:ana@creator.test"
