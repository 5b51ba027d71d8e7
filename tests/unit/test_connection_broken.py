"""The creator's `connection_broken` email, sent by the scheduler tick once per break: which integration, why in
plain words, the upcoming sessions it affects, and a button to the Integrations page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from typing import Any

import pytest

from shared.bookings.model import BOOKINGS, CREATORS
from shared.mail.connection_broken import AffectedSession, render_connection_broken
from shared.notify.ledger import EMAILS
from shared.providers.errors import ErrorKind, ProviderError
from shared.providers.models import TokenSet
from shared.store.port import delete, update
from tests.mail_samples import links, wire_parts
from tests.unit.test_bookings_harness import BASE_URL, at
from tests.unit.test_notify_harness import CREATOR, MAIL_FROM, NotifyHarness

ZOOM_USER_ID = "zoom-user-7"


def _connect_zoom(h: NotifyHarness) -> None:
    tokens = TokenSet("access", "refresh", h.clock.now() + timedelta(hours=1), frozenset())
    h.runtime.connection_repository.save(h.creator_id, "zoom", tokens, "host@zoom.example", ZOOM_USER_ID)


def test_a_break_sends_the_creator_one_email_naming_the_integration_the_reason_and_the_sessions() -> None:
    h = NotifyHarness()
    with_meeting = h.new_booking(at(9))
    h.new_booking(at(10))  # no link yet: it will get none from a broken Zoom
    h.settle_link(with_meeting, "https://zoom.us/j/4242")
    zoom_ref = {"meeting_id": 4242, "join_url": "https://zoom.us/j/4242", "start": h.doc(with_meeting)["start"]}
    h.store.commit([update(BOOKINGS, with_meeting, {"zoom": zoom_ref})])
    _connect_zoom(h)
    assert h.tick()["broken_mail_sent"] == 0  # nothing broken yet

    h.runtime.connection_repository.deauthorize_zoom(ZOOM_USER_ID)
    counts = h.tick()
    h.tick()  # a later tick sends nothing more for the same break

    [mail] = h.sent("connection_broken")
    assert counts["broken_mail_sent"] == 1
    assert mail.to == CREATOR
    assert mail.message["From"] == MAIL_FROM
    assert mail.message["Subject"] == "Reconnect Zoom: Flo cannot reach it"
    assert "Hi Cee," in mail.text.splitlines()
    assert "Flo was removed from the apps in your Zoom account." in mail.text.splitlines()
    assert session_lines(mail.text) == [
        "- 30 min with Fan, Monday 2 March 2026, 09:00\u201309:30 (UTC): "
        "it keeps its Zoom link, but Flo cannot move or delete its Zoom meeting",
        "- 30 min with Fan, Monday 2 March 2026, 10:00\u201310:30 (UTC): "
        "it will get no Zoom link until you reconnect (or add a link by hand)",
    ]
    assert [href for href, text in links(mail.message) if text == "Open Integrations"] == [
        f"{BASE_URL}/dashboard/settings/integrations"
    ]
    claims = [(c["kind"], c["revision"], c["recipient"], c["link_included"]) for _, c in h.store.query(EMAILS)]
    assert claims == [("connection_broken", 0, "creator", False)]


def session_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("- ")]


def test_a_reconnect_then_a_new_break_is_a_new_email() -> None:
    h = NotifyHarness()
    _connect_zoom(h)
    h.runtime.connection_repository.deauthorize_zoom(ZOOM_USER_ID)
    h.tick()
    _connect_zoom(h)
    h.tick()
    assert len(h.sent("connection_broken")) == 1  # reconnected: nothing owed

    h.runtime.connection_repository.deauthorize_zoom(ZOOM_USER_ID)
    h.tick()

    assert len(h.sent("connection_broken")) == 2
    assert "No upcoming session is affected yet." in h.sent("connection_broken")[-1].text


def _break_google(h: NotifyHarness) -> None:
    tokens = TokenSet("access", "refresh", h.clock.now() + timedelta(hours=1), frozenset())
    h.runtime.connection_repository.save(h.creator_id, "google", tokens, "creator@gmail.example", None)

    def revoked(_token: str) -> None:
        raise ProviderError(ErrorKind.REVOKED, "google", 400, None, "invalid_grant")

    with pytest.raises(ProviderError):
        h.runtime.connection_repository.with_token(h.creator_id, "google", revoked)


def test_a_google_break_lists_events_flo_can_no_longer_move_and_sessions_that_get_none() -> None:
    h = NotifyHarness()
    with_event = h.new_booking(at(9))
    h.new_booking(at(10))
    event = {"event_id": "flo1", "start": h.doc(with_event)["start"], "zoom_url": None, "meet_url": None}
    h.store.commit([update(BOOKINGS, with_event, {"google_event": event})])

    _break_google(h)
    h.tick()

    [mail] = h.sent("connection_broken")
    assert session_lines(mail.text) == [
        "- 30 min with Fan, Monday 2 March 2026, 09:00\u201309:30 (UTC): "
        "Flo cannot move or delete its Google Calendar event",
        "- 30 min with Fan, Monday 2 March 2026, 10:00\u201310:30 (UTC): "
        "it gets no Google Calendar event until you reconnect",
    ]


@pytest.mark.parametrize(
    ("timezone", "when"), [("Asia/Tokyo", "18:00\u201318:30 (Asia/Tokyo)"), (None, "09:00\u201309:30 (UTC)")]
)
def test_sessions_are_listed_in_the_creators_zone_or_in_utc_without_one(timezone: str | None, when: str) -> None:
    h = NotifyHarness()
    h.new_booking(at(9))
    h.store.commit([update(CREATORS, h.creator_id, {"timezone": timezone})])

    _break_google(h)
    h.tick()

    [mail] = h.sent("connection_broken")
    [line] = session_lines(mail.text)
    assert when in line


def test_cancelled_and_test_bookings_are_not_listed() -> None:
    h = NotifyHarness()
    h.store.commit([update(BOOKINGS, h.new_booking(at(9)), {"status": "cancelled"})])
    h.store.commit([update(BOOKINGS, h.new_booking(at(10)), {"test_booking": True})])

    _break_google(h)
    h.tick()

    [mail] = h.sent("connection_broken")
    assert "No upcoming session is affected yet." in mail.text


def test_a_zoom_break_passes_over_sessions_whose_link_is_not_zooms() -> None:
    h = NotifyHarness()
    on_meet = h.new_booking(at(9))
    h.settle_link(on_meet, "https://meet.google.com/abc-defg-hij")
    _connect_zoom(h)
    h.runtime.connection_repository.deauthorize_zoom(ZOOM_USER_ID)
    h.tick()
    [mail] = h.sent("connection_broken")
    assert "No upcoming session is affected yet." in mail.text


def test_a_refused_email_is_tried_again_at_the_next_tick_and_then_sent_once() -> None:
    h = NotifyHarness()
    _connect_zoom(h)
    h.runtime.connection_repository.deauthorize_zoom(ZOOM_USER_ID)
    h.mail.fail_next()
    first = h.tick()
    assert (first["broken_mail_sent"], first["broken_mail_failed"]) == (0, 1)
    assert h.sent("connection_broken") == []
    assert h.tick()["broken_mail_sent"] == 1
    h.tick()
    assert len(h.sent("connection_broken")) == 1


def test_a_creator_gone_meanwhile_gets_no_email_and_the_break_is_not_asked_again() -> None:
    h = NotifyHarness()
    _connect_zoom(h)
    h.runtime.connection_repository.deauthorize_zoom(ZOOM_USER_ID)
    h.store.commit([delete(CREATORS, h.creator_id)])
    assert h.tick()["broken_mail_sent"] == 1  # nobody to write to: settled, not retried for ever
    assert h.sent("connection_broken") == []
    assert h.runtime.connection_repository.broken_mail_due(10) == []


SESSION = AffectedSession(
    "Portfolio review",
    "Bob Fan",
    datetime(2026, 12, 1, 10, 0, tzinfo=UTC),
    datetime(2026, 12, 1, 10, 30, tzinfo=UTC),
    "it keeps its Zoom link",
)


def render_broken(**changes: Any) -> EmailMessage:
    """The email as the tick builds it, for a creator in a zone far from UTC so a wrong zone shows."""
    arguments: dict[str, Any] = {
        "provider": "zoom",
        "reason": "app_deauthorized",
        "creator_name": "Ana Creator",
        "creator_email": "ana@creator.test",
        "timezone": "Asia/Tokyo",
        "sessions": [SESSION],
        "mail_from": MAIL_FROM,
        "base_url": BASE_URL,
    }
    return render_connection_broken(**{**arguments, **changes})


def bodies(message: EmailMessage) -> list[str]:
    return [str(part.get_content()) for part in message.walk() if not part.is_multipart()]


@pytest.mark.parametrize("creator_name", ["Ana Creator", "山田花子" * 5])
def test_the_email_goes_to_the_creator_with_the_headers_mail_filters_read(creator_name: str) -> None:
    """A long name in a script far from ASCII would make the email package pick base64 for the text."""
    message = render_broken(creator_name=creator_name)

    assert message["From"] == MAIL_FROM
    assert message["To"] == f"{creator_name} <ana@creator.test>"
    assert message["X-Flo-Email-Kind"] == "connection_broken"
    assert message["X-Flo-Booking-Id"] == ""  # about no one booking
    assert parsedate_to_datetime(message["Date"]).utcoffset() == timedelta(0)
    assert message["Message-ID"].endswith("@flo.test>")
    headers = ["From", "To", "Subject", "Date", "Message-ID", "X-Flo-Booking-Id", "X-Flo-Email-Kind", "MIME-Version"]
    assert wire_parts(message) == [
        ([*headers, "Content-Type"], "multipart/alternative", None),
        (["Content-Type", "Content-Transfer-Encoding"], "text/plain", "quoted-printable"),
        (["Content-Type", "Content-Transfer-Encoding", "MIME-Version"], "text/html", "quoted-printable"),
    ]


@pytest.mark.parametrize(
    ("mail_from", "domain"),
    [("Flo <>", "flo.bookings"), ('Flo <"desk@home"@flo.test>', "flo.test")],
)
def test_the_message_id_takes_the_domain_after_the_senders_last_at(mail_from: str, domain: str) -> None:
    assert render_broken(mail_from=mail_from)["Message-ID"].endswith(f"@{domain}>")


def test_sessions_are_listed_in_the_creators_zone() -> None:
    for body in bodies(render_broken()):
        assert "Portfolio review" in body
        assert "Tuesday 1 December 2026, 19:00\u201319:30 (Asia/Tokyo): it keeps its Zoom link" in body


def test_a_reason_without_its_own_words_still_names_the_integration() -> None:
    message = render_broken(provider="google", reason="something_new")

    assert message["Subject"] == "Reconnect Google Calendar: Flo cannot reach it"
    text, html = bodies(message)
    assert "Google Calendar stopped working for Flo." in text.splitlines()
    assert "<p>Google Calendar stopped working for Flo.</p>" in html


def test_every_break_due_is_mailed_or_counted_failed_in_one_tick() -> None:
    h = NotifyHarness()
    _connect_zoom(h)
    h.runtime.connection_repository.deauthorize_zoom(ZOOM_USER_ID)
    _break_google(h)
    h.mail.fail_next(2)
    failed = h.tick()
    assert (failed["broken_mail_sent"], failed["broken_mail_failed"]) == (0, 2)

    counts = h.tick()

    assert (counts["broken_mail_sent"], counts["broken_mail_failed"]) == (2, 0)
    assert len(h.sent("connection_broken")) == 2
