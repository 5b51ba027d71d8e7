"""The creator's `connection_broken` email, sent by the scheduler tick once per break: which integration, why in
plain words, the upcoming sessions it affects, and a button to the Integrations page."""

from __future__ import annotations

from datetime import timedelta

from shared.bookings.model import BOOKINGS
from shared.providers.models import TokenSet
from shared.store.port import update
from tests.mail_samples import links
from tests.unit.test_bookings_harness import BASE_URL, at
from tests.unit.test_notify_harness import CREATOR, NotifyHarness

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
    assert mail.message["Subject"] == "Reconnect Zoom: Flo cannot reach it"
    assert "Flo was removed from the apps in your Zoom account." in mail.text
    assert "Flo cannot move or delete its Zoom meeting" in mail.text
    assert "it will get no Zoom link until you reconnect" in mail.text
    assert mail.text.count(" with Fan, ") == 2  # both upcoming sessions are listed
    assert [href for href, text in links(mail.message) if text == "Open Integrations"] == [
        f"{BASE_URL}/dashboard/settings/integrations"
    ]


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
