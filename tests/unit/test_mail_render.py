"""Rendering of every booking email kind: headers, both bodies, the Join link, times and zones."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import pytest

from shared.mail import RECIPIENTS, EmailBooking, EmailKind, Recipient, render
from tests.mail_samples import html_of, links, sample_booking

MAIL_FROM = "Flo <bookings@flo.test>"
BASE_URL = "https://flo.test"
ZOOM_URL = "https://us02web.zoom.us/j/81234567890?pwd=abc&x=1"
MEET_URL = "https://meet.google.com/abc-defg-hij"

ALL_COPIES = [
    (EmailKind.CONFIRMATION, Recipient.FAN),
    (EmailKind.CREATOR_NOTIFICATION, Recipient.CREATOR),
    (EmailKind.RESCHEDULED, Recipient.FAN),
    (EmailKind.RESCHEDULED, Recipient.CREATOR),
    (EmailKind.CANCELLED, Recipient.FAN),
    (EmailKind.CANCELLED, Recipient.CREATOR),
    (EmailKind.LINK_READY, Recipient.FAN),
    (EmailKind.LINK_READY, Recipient.CREATOR),
    (EmailKind.REMINDER, Recipient.FAN),
    (EmailKind.REMINDER, Recipient.CREATOR),
]
LIVE_COPIES = [(kind, who) for kind, who in ALL_COPIES if kind is not EmailKind.CANCELLED]


def booking(**changes: Any) -> EmailBooking:
    """The shared sample with a join URL whose `&` must come out escaped in HTML."""
    return sample_booking(**{"meeting_url": ZOOM_URL, **changes})


def for_kind(kind: EmailKind, **changes: Any) -> EmailBooking:
    """A booking whose status fits the kind (cancellation emails need a cancelled booking)."""
    if kind is EmailKind.CANCELLED:
        changes.setdefault("status", "cancelled")
    return booking(**changes)


def render_copy(kind: EmailKind, who: Recipient, b: EmailBooking) -> EmailMessage:
    return render(kind, b, recipient=who, mail_from=MAIL_FROM, base_url=BASE_URL)


def anchors(message: EmailMessage) -> list[tuple[str, str]]:
    """(text, href) of every link, as the assertions below read them."""
    return [(text, href) for href, text in links(message)]


def join_anchors(message: EmailMessage) -> list[tuple[str, str]]:
    return [(text, href) for text, href in anchors(message) if text.startswith("Join")]


def text_body(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    content: str = part.get_content()
    return content


def invite(message: EmailMessage) -> EmailMessage:
    found = [part for part in message.iter_attachments() if part.get_filename() == "invite.ics"]
    assert len(found) == 1
    part = found[0]
    assert isinstance(part, EmailMessage)
    return part


def test_recipients_per_kind() -> None:
    copies = {(kind, who) for kind, whos in RECIPIENTS.items() for who in whos}
    assert copies == {*ALL_COPIES, (EmailKind.SLOT_LOST, Recipient.FAN)}
    assert {str(kind) for kind in EmailKind} == {
        "confirmation",
        "creator_notification",
        "rescheduled",
        "cancelled",
        "link_ready",
        "reminder",
        "slot_lost",
    }


@pytest.mark.parametrize(("kind", "who"), ALL_COPIES)
def test_headers_and_structure(kind: EmailKind, who: Recipient) -> None:
    message = render_copy(kind, who, for_kind(kind))

    assert message["From"] == MAIL_FROM
    expected_to = "Bob Fan <bob@fan.test>" if who is Recipient.FAN else "Ana Creator <ana@creator.test>"
    assert message["To"] == expected_to
    assert message["X-Flo-Booking-Id"] == "bk_123"
    assert message["X-Flo-Email-Kind"] == kind.value
    assert "Portfolio review" in message["Subject"]
    assert message["Message-ID"].endswith("@flo.test>")
    assert message["Date"]

    assert message.get_content_type() == "multipart/mixed"
    alternative = next(message.iter_parts())
    assert alternative.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in alternative.iter_parts()] == ["text/plain", "text/html"]
    other = "Ana Creator" if who is Recipient.FAN else "Bob Fan"
    assert other in text_body(message)
    assert other in html_of(message)

    calendar = invite(message)
    assert calendar.get_content_type() == "text/calendar"
    expected_method = "CANCEL" if kind is EmailKind.CANCELLED else "REQUEST"
    assert calendar.get_param("method") == expected_method
    assert f"METHOD:{expected_method}" in calendar.get_content()


@pytest.mark.parametrize(("kind", "who"), LIVE_COPIES)
@pytest.mark.parametrize(
    ("provider", "url", "label"),
    [("zoom", ZOOM_URL, "Join with Zoom"), ("google_meet", MEET_URL, "Join with Google Meet")],
)
def test_join_button_names_the_provider(kind: EmailKind, who: Recipient, provider: str, url: str, label: str) -> None:
    message = render_copy(kind, who, booking(meeting_url=url, video_provider=provider))

    assert join_anchors(message) == [(label, url)]
    assert f"{label}: {url}" in text_body(message)
    assert url in invite(message).get_content()


def test_join_button_without_known_provider_still_links() -> None:
    message = render_copy(EmailKind.CONFIRMATION, Recipient.FAN, booking(video_provider=None))
    assert join_anchors(message) == [("Join the video call", ZOOM_URL)]


@pytest.mark.parametrize(("kind", "who"), [c for c in LIVE_COPIES if c[0] is not EmailKind.LINK_READY])
def test_pending_link_says_it_will_follow(kind: EmailKind, who: Recipient) -> None:
    message = render_copy(kind, who, booking(meeting_url=None, video_provider=None, link_pending=True))

    assert join_anchors(message) == []
    for body in (text_body(message), html_of(message)):
        assert "video link is still being set up" in body
        assert "will follow" in body
        assert "No video link is attached" not in body


def test_no_link_and_not_pending_says_creator_will_share_one() -> None:
    b = booking(meeting_url=None, video_provider=None, link_pending=False)

    fan = render_copy(EmailKind.CONFIRMATION, Recipient.FAN, b)
    creator = render_copy(EmailKind.CREATOR_NOTIFICATION, Recipient.CREATOR, b)

    assert join_anchors(fan) == []
    assert join_anchors(creator) == []
    for body in (text_body(fan), html_of(fan)):
        assert "No video link is attached" in body
        assert "Ana Creator will share one with you" in body
        assert "will follow" not in body
    assert "Share one with Bob Fan" in text_body(creator)


def test_fan_sees_their_own_zone_named() -> None:
    message = render_copy(EmailKind.CONFIRMATION, Recipient.FAN, booking())
    when = "Tuesday 1 December 2026, 05:00\u201305:30 (America/New_York)"
    assert when in text_body(message)
    assert when in html_of(message)
    assert "(America/New_York)" in message["Subject"]


def test_fan_without_zone_sees_creator_zone_named() -> None:
    message = render_copy(EmailKind.REMINDER, Recipient.FAN, booking(fan_timezone=None))
    assert "Tuesday 1 December 2026, 10:00\u201310:30 (Europe/London)" in text_body(message)


@pytest.mark.parametrize("kind", [EmailKind.CREATOR_NOTIFICATION, EmailKind.RESCHEDULED, EmailKind.REMINDER])
def test_creator_sees_creator_zone_named(kind: EmailKind) -> None:
    b = booking(creator_timezone="Asia/Tokyo")
    message = render_copy(kind, Recipient.CREATOR, b)
    when = "Tuesday 1 December 2026, 19:00\u201319:30 (Asia/Tokyo)"
    assert when in text_body(message)
    assert when in html_of(message)
    assert "New_York" not in text_body(message)


def test_session_crossing_midnight_names_both_days() -> None:
    b = booking(
        fan_timezone=None,
        start=datetime(2026, 12, 1, 23, 30, tzinfo=UTC),
        end=datetime(2026, 12, 2, 0, 30, tzinfo=UTC),
    )
    message = render_copy(EmailKind.CONFIRMATION, Recipient.FAN, b)
    assert "Tuesday 1 December 2026, 23:30 \u2013 Wednesday 2 December 2026, 00:30 (Europe/London)" in text_body(
        message
    )


@pytest.mark.parametrize(("kind", "who"), LIVE_COPIES)
def test_manage_link_only_for_the_fan(kind: EmailKind, who: Recipient) -> None:
    message = render_copy(kind, who, booking())
    links = anchors(message)
    manage = ("Manage your booking", "https://flo.test/manage/tok_abc")
    if who is Recipient.FAN:
        assert manage in links
        assert "https://flo.test/manage/tok_abc" in text_body(message)
    else:
        assert all("manage" not in href for _, href in links)
        assert ("All your bookings", "https://flo.test/dashboard/bookings") in links


def test_relative_manage_url_is_resolved_against_base_url() -> None:
    message = render_copy(EmailKind.CONFIRMATION, Recipient.FAN, booking(manage_url="/manage/tok_rel"))
    assert ("Manage your booking", "https://flo.test/manage/tok_rel") in anchors(message)


@pytest.mark.parametrize("who", [Recipient.FAN, Recipient.CREATOR])
def test_cancellation_says_cancelled_and_offers_no_join(who: Recipient) -> None:
    message = render_copy(EmailKind.CANCELLED, who, booking(status="cancelled"))

    assert message["Subject"].startswith("Cancelled:")
    for body in (text_body(message), html_of(message)):
        assert "is cancelled" in body
        assert ZOOM_URL not in body
    assert join_anchors(message) == []
    assert all("manage" not in href for _, href in anchors(message))


def test_html_escapes_user_text_but_plain_text_keeps_it() -> None:
    message = render_copy(EmailKind.CONFIRMATION, Recipient.FAN, booking(offer_title="<b>Deep</b> & dive"))
    assert "&lt;b&gt;Deep&lt;/b&gt; &amp; dive" in html_of(message)
    assert "<b>" not in html_of(message)
    assert "<b>Deep</b> & dive" in text_body(message)


def test_single_recipient_kinds_need_no_recipient() -> None:
    message = render(EmailKind.CONFIRMATION, booking(), mail_from=MAIL_FROM, base_url=BASE_URL)
    assert message["To"] == "Bob Fan <bob@fan.test>"
    message = render(EmailKind.CREATOR_NOTIFICATION, booking(), mail_from=MAIL_FROM, base_url=BASE_URL)
    assert message["To"] == "Ana Creator <ana@creator.test>"


@pytest.mark.parametrize(
    ("kind", "who", "b", "error"),
    [
        (EmailKind.RESCHEDULED, None, booking(), "say which copy"),
        (EmailKind.CONFIRMATION, Recipient.CREATOR, booking(), "not sent to the creator"),
        (EmailKind.CANCELLED, Recipient.FAN, booking(), "status is confirmed"),
        (EmailKind.REMINDER, Recipient.FAN, booking(status="cancelled"), "status is cancelled"),
        (EmailKind.LINK_READY, Recipient.FAN, booking(meeting_url=None), "needs a meeting_url"),
        (EmailKind.CONFIRMATION, Recipient.FAN, booking(meeting_url="javascript:alert(1)"), "http"),
    ],
)
def test_misleading_combinations_are_refused(
    kind: EmailKind, who: Recipient | None, b: EmailBooking, error: str
) -> None:
    with pytest.raises(ValueError, match=error):
        render(kind, b, recipient=who, mail_from=MAIL_FROM, base_url=BASE_URL)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        booking(start=datetime(2026, 12, 1, 10, 0), end=datetime(2026, 12, 1, 10, 30))
