"""Tests that kill mutants which survived the unit tier in the email ledger, the reminder sweep and
the link_ready follow-up; races are staged with events and send hooks, never left to timing."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

from shared.mail import MailSendError
from shared.notify import Delivery, EmailKey, EmailLedger
from shared.notify.ledger import LEASE
from tests.fakes.clock import FakeClock
from tests.fakes.mail import FakeMailSender
from tests.fakes.store import FakeDocStore
from tests.unit.test_bookings_harness import at
from tests.unit.test_notify_harness import CREATOR, FAN, ZOOM_URL, NotifyHarness, Sent

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
KEY = EmailKey("b1", "confirmation", 1, "fan")
GRACE = timedelta(seconds=9)
WILL_FOLLOW = "It will follow in a separate email."


def message() -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = "hello"
    return msg


class GatedSender:
    """Says when a send has started and finishes it only when the test allows, accepting or failing it."""

    def __init__(self, *, accept: bool) -> None:
        self.accept = accept
        self.started = threading.Event()
        self.may_finish = threading.Event()
        self.sent: list[EmailMessage] = []

    def send(self, msg: EmailMessage) -> None:
        self.started.set()
        assert self.may_finish.wait(10), "the test never let this send finish"
        if not self.accept:
            raise MailSendError("SMTP timed out", transient=True)
        self.sent.append(msg)


def in_thread(step: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(step())
        except BaseException as exc:  # handed to the test's assertions
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_a_slow_sender_that_fails_after_a_takeover_leaves_the_new_claim_alone() -> None:
    """Planted bug: releasing a failed claim ignores its owner, so the slow sender deletes the claim of the
    sender that took over, and a third sender sends the same email a second time."""
    store, clock = FakeDocStore(), FakeClock(NOW)
    slow, taker, third = GatedSender(accept=False), GatedSender(accept=True), FakeMailSender()

    slow_thread, slow_outcome = in_thread(
        lambda: EmailLedger(store, clock, slow).deliver(KEY, message, link_included=False).delivery
    )
    assert slow.started.wait(10)
    clock.advance(LEASE + timedelta(seconds=1))
    taker_thread, taker_outcome = in_thread(
        lambda: EmailLedger(store, clock, taker).deliver(KEY, message, link_included=False).delivery
    )
    assert taker.started.wait(10)

    slow.may_finish.set()
    slow_thread.join(10)
    assert isinstance(slow_outcome[0], MailSendError)
    assert EmailLedger(store, clock, third).deliver(KEY, message, link_included=False).delivery is Delivery.IN_FLIGHT

    taker.may_finish.set()
    taker_thread.join(10)
    assert taker_outcome == [Delivery.SENT]
    assert (len(taker.sent), third.sent) == (1, [])


class HookedSender:
    """Records like FakeMailSender; runs `before_next(kind)` once, just before the first send of that kind."""

    def __init__(self) -> None:
        self.inner = FakeMailSender()
        self.hooks: dict[str, Callable[[], None]] = {}

    def send(self, msg: EmailMessage) -> None:
        hook = self.hooks.pop(str(msg["X-Flo-Email-Kind"]), None)
        if hook is not None:
            hook()
        self.inner.send(msg)


def hooked_harness() -> tuple[NotifyHarness, HookedSender]:
    sender = HookedSender()
    h = NotifyHarness(sender=sender)
    h.mail = sender.inner
    return h, sender


def test_a_reschedule_while_a_reminder_is_sent_keeps_the_reminders_of_the_new_time() -> None:
    """Planted bug: recording a sent reminder ignores the revision, so a reschedule made meanwhile is
    overwritten and the new time's one-hour reminder is marked as already sent."""
    h, sender = hooked_harness()
    booking_id, token = h.booked(h.free_offer, at(9))  # its 1 h reminder is due at once
    tuesday_ten = datetime(2026, 3, 3, 10, tzinfo=UTC)

    def fan_reschedules() -> None:
        response = h.client.post(f"/api/manage/{token}/reschedule", json={"start": tuesday_ten.isoformat()})
        assert response.status_code == 200, response.get_data(as_text=True)

    sender.hooks["reminder"] = fan_reschedules
    h.clock.advance(GRACE)
    assert h.tick()["reminders_sent"] == 1
    doc = h.doc(booking_id)
    assert (doc["start"], doc["reminders_sent"]) == (tuesday_ten, [])
    assert doc["next_reminder_at"] == tuesday_ten - timedelta(hours=24)

    h.clock.advance(datetime(2026, 3, 3, 9, tzinfo=UTC) - h.clock.now())  # an hour before the new time
    h.tick()
    h.tick()
    last_two = h.sent()[-2:]
    assert [(s.kind, s.to) for s in last_two] == [("reminder", FAN), ("reminder", CREATOR)]
    assert all("Tuesday 3 March 2026, 10:00" in s.text for s in last_two)
    assert h.doc(booking_id)["reminders_sent"] == ["reminder_24h", "reminder_1h"]


def followed_up(sent: list[Sent]) -> list[tuple[str, str]]:
    """Every (recipient, kind) told the link will follow that got no link_ready with the link afterwards."""
    missing = []
    for index, told in enumerate(sent):
        if WILL_FOLLOW not in told.text:
            continue
        later = [s for s in sent[index + 1 :] if s.kind == "link_ready" and s.to == told.to and ZOOM_URL in s.text]
        if not later:
            missing.append((told.to, told.kind))
    return missing


def test_everyone_told_the_link_will_follow_gets_a_link_ready_with_it() -> None:
    """The confirmation, the creator's notification, the 1 h reminders (the session is an hour away) and both
    rescheduled copies went out without the link."""
    h = NotifyHarness()
    booking_id, token = h.booked(h.free_offer, at(9))
    h.clock.advance(GRACE)
    h.tick()
    h.settle_link(booking_id)
    h.link_event(booking_id)

    moved = h.client.post(f"/api/manage/{token}/reschedule", json={"start": at(10, day=3)})
    assert moved.status_code == 200, moved.get_data(as_text=True)
    h.clock.advance(GRACE)
    h.tick()
    h.settle_link(booking_id)
    h.link_event(booking_id)
    h.booking_event(booking_id)  # a duplicate delivery sends nothing twice

    told = sorted((s.to, s.kind) for s in h.sent() if WILL_FOLLOW in s.text)
    assert told == [
        (CREATOR, "creator_notification"),
        (CREATOR, "reminder"),
        (CREATOR, "rescheduled"),
        (FAN, "confirmation"),
        (FAN, "reminder"),
        (FAN, "rescheduled"),
    ]
    assert followed_up(h.sent()) == []
    assert sorted(s.to for s in h.sent("link_ready")) == [CREATOR, CREATOR, FAN, FAN]


def test_a_copy_that_carried_the_link_gets_no_link_ready() -> None:
    h = NotifyHarness()
    booking_id = h.new_booking(at(11))
    h.settle_link(booking_id)
    h.link_event(booking_id)
    h.clock.advance(GRACE)
    h.tick()
    assert sorted(h.kinds()) == [("confirmation", FAN), ("creator_notification", CREATOR)]
    assert all(WILL_FOLLOW not in s.text and ZOOM_URL in s.text for s in h.sent())


def test_no_reminder_goes_once_the_session_has_started() -> None:
    """A scheduler that only runs again at the start time sends no "starts in an hour" reminder."""
    h = NotifyHarness()
    booking_id = h.new_booking(at(9))
    h.clock.advance(datetime(2026, 3, 2, 9, tzinfo=UTC) - h.clock.now())
    counts = h.tick()
    assert (counts["reminders_sent"], counts["reminders_cleared"]) == (0, 1)
    assert sorted(h.kinds()) == [("confirmation", FAN), ("creator_notification", CREATOR)]
    assert h.doc(booking_id)["next_reminder_at"] is None


def test_one_tick_serves_every_booking_it_finds_and_counts_each() -> None:
    """A booking whose confirmation is still owed is skipped, not the end of the run; counts add up."""
    h = NotifyHarness()
    h.clock.advance(timedelta(minutes=30))  # 08:30: the 09:00 and 09:30 sessions' 1 h reminders are due
    waiting = h.new_booking(at(9))  # within its grace: its confirmation goes first, so its reminder waits
    ready = h.new_booking(at(9, 30))
    h.settle_link(ready)
    h.link_event(ready)  # its confirmation goes now, with the link
    h.clock.advance(timedelta(seconds=1))
    counts = h.tick()
    assert (counts["reminders_deferred"], counts["reminders_sent"]) == (1, 1)
    assert [s.to for s in h.sent("reminder")] == [FAN, CREATOR]

    h.clock.advance(GRACE)
    counts = h.tick()
    assert (counts["owed_settled"], counts["reminders_sent"]) == (1, 1)
    assert len(h.sent("reminder")) == 4
    assert {s.message["X-Flo-Booking-Id"] for s in h.sent("reminder")} == {waiting, ready}
