"""The creator's `connection_broken` email, sent by the scheduler tick once per break: which integration, why in
plain words, the upcoming sessions it affects, and a button to the Integrations page."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.bookings.model import BOOKINGS, CREATORS
from shared.providers.errors import ErrorKind, ProviderError
from shared.providers.models import TokenSet
from shared.store.port import delete, update
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
    assert "Flo cannot move or delete its Google Calendar event" in mail.text
    assert "it gets no Google Calendar event until you reconnect" in mail.text


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
