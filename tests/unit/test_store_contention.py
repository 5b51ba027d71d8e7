"""A booking contended in the store: settling it takes no lock it does not need, and contention is retried.

In the chaos run one booking's mail_due_at stayed set for minutes: a SIGKILLed worker's open transaction
held the booking's lock (Firestore expires it after 60 s idle), the pushes and sweeps that piled up behind
it each took the booking's lock again, mostly to clear a timer that was clear already, and every one that
timed out came back as a redelivery. These tests pin the three parts of the fix: a write with nothing to
write is a plain read, a retry after another caller's identical write writes nothing, and contention
answers 503 (Pub/Sub redelivers, the sweep tries again) until a later delivery settles the booking.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import TypeVar

from shared.bookings.model import BOOKINGS
from shared.bookings.repository import DocStoreBookingRepository
from shared.store.port import Contended, Doc, DocStore, Txn, Write
from tests.fakes.store import DelegatingStore, FakeDocStore
from tests.unit.test_bookings_harness import Harness, at
from tests.unit.test_notify_harness import NotifyHarness

T = TypeVar("T")


class ContendedStore(DelegatingStore):
    """Counts transactions and the writes they commit; the next `contended` transactions raise Contended
    (writing nothing), as Firestore's lock timeout does while another transaction holds the document."""

    def __init__(self, inner: DocStore) -> None:
        super().__init__(inner)
        self.contended = 0
        self.transactions = 0
        self.written: list[Write] = []

    def transaction(self, fn: Callable[[Txn], T]) -> T:
        self.transactions += 1
        if self.contended:
            self.contended -= 1
            raise Contended("Transaction lock timeout.")

        def recording(txn: Txn) -> T:
            return fn(_RecordingTxn(txn, self.written))

        return super().transaction(recording)


class _RecordingTxn:
    def __init__(self, inner: Txn, written: list[Write]) -> None:
        self._inner = inner
        self._written = written

    def get(self, collection: str, doc_id: str) -> Doc | None:
        return self._inner.get(collection, doc_id)

    def write(self, write: Write) -> None:
        self._written.append(write)
        self._inner.write(write)


def _settled(store: ContendedStore) -> tuple[NotifyHarness, str]:
    h = NotifyHarness(store=store)
    booking_id = h.new_booking()
    h.settle_link(booking_id)
    assert h.booking_event(booking_id)[0].status_code == 200
    assert h.doc(booking_id)["mail_due_at"] is None
    return h, booking_id


def test_a_redelivery_for_a_booking_whose_emails_are_settled_takes_no_transaction() -> None:
    store = ContendedStore(FakeDocStore())
    h, booking_id = _settled(store)
    sent = len(h.sent())
    before = store.transactions

    answers = [*h.booking_event(booking_id, times=3), h.link_event(booking_id)]

    assert [a.status_code for a in answers] == [200] * 4
    assert store.transactions == before, "each redelivery locked the booking to clear a timer already clear"
    assert len(h.sent()) == sent


def test_a_retried_write_after_another_caller_made_the_same_change_writes_nothing() -> None:
    store = ContendedStore(FakeDocStore())
    h, booking_id = _settled(store)
    bookings = DocStoreBookingRepository(store)
    seen = bookings.get(booking_id)
    assert seen is not None
    due = replace(seen, mail_due_at=h.clock.now())
    stale = bookings.update_if(booking_id, seen, due)
    assert stale is not None
    first = bookings.update_if(booking_id, due, replace(due, mail_due_at=None))  # this one clears the timer
    assert first is not None
    store.written.clear()

    again = bookings.update_if(booking_id, due, replace(due, mail_due_at=None))  # a retry decided from `due`

    assert again is not None and again.mail_due_at is None
    assert [w for w in store.written if w.collection == BOOKINGS] == []


def test_a_contended_clear_of_mail_due_at_is_redelivered_until_it_lands_and_each_email_goes_once() -> None:
    store = ContendedStore(FakeDocStore())
    h = NotifyHarness(store=store)
    booking_id = h.new_booking()
    h.settle_link(booking_id)
    store.contended = 2

    refused = h.booking_event(booking_id, times=2)

    assert [r.status_code for r in refused] == [503, 503]
    assert refused[0].headers["Retry-After"] == "1"
    assert refused[0].get_json()["error"]["code"] == "busy"
    assert h.doc(booking_id)["mail_due_at"] is not None, "nothing written: the timer keeps the booking due"
    assert h.booking_event(booking_id)[0].status_code == 200  # Pub/Sub's redelivery
    assert h.doc(booking_id)["mail_due_at"] is None
    assert sorted(s.kind for s in h.sent()) == ["confirmation", "creator_notification"]


def test_the_sweep_counts_a_contended_booking_as_failed_and_its_next_tick_settles_it() -> None:
    store = ContendedStore(FakeDocStore())
    h = NotifyHarness(store=store)
    booking_id = h.new_booking()
    h.clock.advance(timedelta(minutes=10))  # past the grace: the sweep sends without the link
    store.contended = 1

    assert h.tick()["owed_failed"] == 1
    assert h.doc(booking_id)["mail_due_at"] is not None
    assert h.tick()["owed_settled"] == 1
    assert h.doc(booking_id)["mail_due_at"] is None
    owed = sorted(s.kind for s in h.sent() if s.kind != "reminder")  # the jump made a reminder due too
    assert owed == ["confirmation", "creator_notification"]


def test_a_fan_whose_cancel_meets_contention_gets_503_with_retry_after_never_a_500() -> None:
    store = ContendedStore(FakeDocStore())
    h = Harness(store=store)
    offer = h.offer(h.creator())
    booking_id, token = h.booked(offer, at(9))
    store.contended = 1

    answer = h.client.post(f"/api/manage/{token}/cancel")

    assert answer.status_code == 503, answer.get_data(as_text=True)
    assert answer.headers["Retry-After"] == "1"
    assert h.doc(booking_id)["status"] == "confirmed"
    assert h.client.post(f"/api/manage/{token}/cancel").status_code == 200
    assert h.doc(booking_id)["status"] == "cancelled"
