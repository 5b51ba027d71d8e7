"""The scheduler's sweeps page through all that is due, oldest first, in bounded batches, and one bad
booking never aborts a tick nor hides the others: the good one's emails still go on that tick."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from email.message import EmailMessage

import pytest

import shared.bookings.service as booking_service
from shared.bookings import sweeps
from shared.bookings.model import BOOKINGS, OUTBOX
from shared.mail import MailSendError
from shared.notify import reminders
from shared.store.port import create, update
from tests.fakes.mail import FakeMailSender
from tests.unit.test_bookings_harness import at
from tests.unit.test_notify_harness import NotifyHarness

SMALL_BATCH = 2


@pytest.fixture(autouse=True)
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages of two, so a handful of bookings spans several pages."""
    monkeypatch.setattr(reminders, "BATCH", SMALL_BATCH)
    monkeypatch.setattr(booking_service, "EXPIRED_HOLDS_BATCH", SMALL_BATCH)
    monkeypatch.setattr(sweeps, "STUCK_LINKS_BATCH", SMALL_BATCH)


class DownForOne(FakeMailSender):
    """A mail server that cannot take one address for now (4xx), and takes every other."""

    def __init__(self, address: str) -> None:
        super().__init__()
        self.address = address

    def send(self, message: EmailMessage) -> None:
        if message["To"].addresses[0].addr_spec == self.address:
            raise MailSendError("451 try again later", transient=True)
        super().send(message)


def book(h: NotifyHarness, start: str, fan: str, offer_id: str | None = None) -> str:
    response = h.book(offer_id or h.free_offer, start, email=fan)
    assert response.status_code == 201, response.get_data(as_text=True)
    booking_id: str = response.get_json()["booking_id"]
    return booking_id


def unreadable(h: NotifyHarness, booking_id: str) -> None:
    """A stored booking the repository cannot turn into a Booking (say, written by hand)."""
    h.store.commit([update(BOOKINGS, booking_id, {"fan": None})])


def slot(i: int, day: int = 2) -> str:
    """The i-th half-hour slot of the creator's morning hours (09:00-12:00)."""
    return at(9 + i // 2, 30 * (i % 2), day)


def fans_mailed(h: NotifyHarness, kind: str) -> list[str]:
    return [s.to for s in h.sent(kind)]


def test_owed_confirmations_are_all_sent_in_one_tick_oldest_first_across_pages() -> None:
    h = NotifyHarness()
    fans = [f"fan{i}@example.com" for i in range(5)]
    for i, fan in enumerate(fans):
        book(h, slot(i), fan)
        h.clock.advance(timedelta(seconds=1))
    h.clock.advance(timedelta(seconds=10))

    counts = h.tick()
    assert counts["owed_settled"] == 5
    assert fans_mailed(h, "confirmation") == fans, "oldest due first, none hidden behind the first page"


def test_a_poisoned_booking_next_to_a_good_one_never_holds_back_the_good_ones_emails() -> None:
    h = NotifyHarness(sender=DownForOne("stuck@example.com"))
    h.mail = h.runtime.adapters.mail  # type: ignore[assignment]
    stuck = book(h, at(9), "stuck@example.com")
    h.clock.advance(timedelta(seconds=1))
    broken = book(h, at(9, 30), "broken@example.com")
    unreadable(h, broken)
    h.clock.advance(timedelta(seconds=1))
    good = book(h, at(10), "good@example.com")
    h.clock.advance(timedelta(seconds=10))

    counts = h.tick()
    assert fans_mailed(h, "confirmation") == ["good@example.com"], "on this very tick"
    assert (counts["owed_settled"], counts["owed_failed"]) == (1, 1), "the unreadable one is logged and passed over"
    assert h.doc(good)["mail_due_at"] is None
    assert h.doc(stuck)["mail_due_at"] is not None, "the one that could not go now is retried next tick"
    h.tick()
    assert fans_mailed(h, "confirmation") == ["good@example.com"], "nothing twice"


def test_a_poisoned_booking_never_holds_back_anothers_reminder() -> None:
    h = NotifyHarness(sender=DownForOne("stuck@example.com"))
    h.mail = h.runtime.adapters.mail  # type: ignore[assignment]
    ids = [book(h, slot(i, day=3), fan) for i, fan in enumerate(["stuck@example.com", "x@e.com", "good@e.com"])]
    for booking_id in ids:
        with contextlib.suppress(MailSendError):  # the stuck fan's confirmation cannot go either
            h.notifier.send_owed(booking_id, force=True)
    h.store.commit([update(BOOKINGS, ids[0], {"mail_due_at": None})])  # say it went: only reminders matter here
    unreadable(h, ids[1])
    h.clock.advance(timedelta(hours=2))  # each is now inside its 24-hour reminder

    counts = h.tick()
    assert "good@e.com" in fans_mailed(h, "reminder")
    assert (counts["reminders_sent"], counts["reminders_failed"]) == (1, 1)
    assert h.doc(ids[2])["reminders_sent"] == ["reminder_24h"]
    assert h.doc(ids[0])["reminders_sent"] == [], "still owed: retried next tick"


def test_every_expired_hold_is_released_even_when_one_cannot_be_released_now() -> None:
    h = NotifyHarness()
    holds = [book(h, slot(i), f"payer{i}@example.com", h.paid_offer) for i in range(5)]
    h.clock.advance(timedelta(minutes=16))
    h.store.fail_next_commit = RuntimeError("Firestore hiccup")  # type: ignore[attr-defined]

    assert h.service.release_expired_holds() == 4
    statuses = [h.doc(i)["status"] for i in holds]
    assert statuses.count("cancelled") == 4
    assert h.service.release_expired_holds() == 1, "the one left over goes on the next tick"
    assert {h.doc(i)["status"] for i in holds} == {"cancelled"}


def test_every_stuck_link_is_nudged_even_when_one_nudge_fails() -> None:
    h = NotifyHarness()
    ids = [book(h, slot(i), f"f{i}@example.com") for i in range(5)]
    h.clock.advance(timedelta(hours=1))
    h.publisher.published.clear()
    h.store.fail_next_commit = RuntimeError("Firestore hiccup")  # type: ignore[attr-defined]

    assert sweeps.nudge_stuck_links(h.runtime.bookings, h.runtime.outbox, h.clock.now()) == 4
    assert len(h.publisher.on("booking-events")) == 4
    assert sweeps.nudge_stuck_links(h.runtime.bookings, h.runtime.outbox, h.clock.now()) == 1
    assert {e["booking_id"] for e in h.publisher.on("booking-events")} == set(ids)


def test_the_outbox_sweep_publishes_every_entry_past_a_malformed_one() -> None:
    h = NotifyHarness()
    now = h.clock.now()
    entries = [create(OUTBOX, f"b{i}-1", {"booking_id": f"b{i}", "revision": 1, "created_at": now}) for i in range(205)]
    h.store.commit([create(OUTBOX, "bad", {"created_at": now - timedelta(seconds=1)}), *entries])
    h.clock.advance(timedelta(seconds=10))

    assert h.runtime.outbox.sweep(h.clock.now()) == 206
    assert len(h.publisher.on("booking-events")) == 205
    assert [doc_id for doc_id, _ in h.store.query(OUTBOX)] == ["bad"], "left, and logged, for an engineer"
