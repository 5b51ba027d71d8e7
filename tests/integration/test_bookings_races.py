"""Hold expiry racing a payment on real Firestore (the emulator), across two service instances: the payment
lands right between what the releasing instance read and what it writes, and wins."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest

from shared.bookings.booking import Fan
from shared.bookings.busy import NoCalendar
from shared.bookings.catalog import new_offer
from shared.bookings.model import BOOKINGS, CELLS, HOLD_RELEASES
from shared.bookings.service import BookingService, SlotTakenError
from shared.bootstrap import booking_service
from shared.store.firestore import FirestoreDocStore
from shared.store.port import Doc, DocStore, Txn, Where, Write
from tests.fakes.bus import FakePublisher
from tests.fakes.clock import FakeClock
from tests.integration.conftest import PROJECT_ID
from tests.integration.test_bookings_concurrency import _creator, _service
from tests.unit.test_bookings_harness import NOW, runtime_for

T = TypeVar("T")
START = datetime(2026, 3, 2, 11, tzinfo=UTC)


class _PaymentLandsAfter:
    """The releasing instance's own Firestore client; once `hit` matches a step it took, the other instance's
    payment is confirmed before this instance goes on."""

    def __init__(self, hit: Callable[[str, Any], bool], pay: Callable[[], object]) -> None:
        self._store = FirestoreDocStore(PROJECT_ID)
        self._hit = hit
        self._pay: Callable[[], object] | None = pay

    def _after(self, step: str, arg: Any) -> None:
        if self._pay is not None and self._hit(step, arg):
            pay, self._pay = self._pay, None
            pay()

    def get(self, collection: str, doc_id: str) -> Doc | None:
        return self._store.get(collection, doc_id)

    def query(
        self,
        collection: str,
        where: Sequence[Where] = (),
        order_by: str | None = None,
        limit: int | None = None,
        start_after: tuple[Any, str] | None = None,
    ) -> list[tuple[str, Doc]]:
        rows = self._store.query(collection, where, order_by, limit, start_after)
        self._after("query", collection)
        return rows

    def commit(self, writes: Sequence[Write]) -> None:
        self._store.commit(writes)
        self._after("commit", writes)

    def transaction(self, fn: Callable[[Txn], T]) -> T:
        return self._store.transaction(fn)


def _instance(store: DocStore, clock: FakeClock) -> BookingService:
    """Another instance of the bookings service, on its own store client."""
    return booking_service(runtime_for(store, FakePublisher(), clock), NoCalendar())


def _held(firestore_store: FirestoreDocStore, clock: FakeClock) -> tuple[BookingService, str, str]:
    """The paying instance, the offer and an unpaid hold whose time has run out."""
    payer = _service(firestore_store, FakePublisher(), clock)
    offer_id = new_offer(firestore_store, _creator(firestore_store), "Paid", 60, 2500, NOW)
    booking_id = payer.book(offer_id, START, Fan("Fan", "fan@example.com")).booking_id
    clock.advance(timedelta(minutes=16))
    return payer, offer_id, booking_id


def test_a_payment_between_the_sweep_read_and_its_write_keeps_the_booking(firestore_store: FirestoreDocStore) -> None:
    clock = FakeClock(NOW)
    payer, _, booking_id = _held(firestore_store, clock)
    racing = _PaymentLandsAfter(
        lambda step, arg: step == "query" and arg == BOOKINGS, lambda: payer.confirm_payment(booking_id)
    )
    sweeper = _instance(racing, clock)

    assert sweeper.release_expired_holds() == 0

    stored = firestore_store.get(BOOKINGS, booking_id)
    assert stored is not None and (stored["status"], stored["cancel_reason"]) == ("confirmed", None)
    assert {cell["booking_id"] for _, cell in firestore_store.query(CELLS)} == {booking_id}


def test_a_payment_while_another_fan_claims_the_expired_hold_keeps_the_booking(
    firestore_store: FirestoreDocStore,
) -> None:
    clock = FakeClock(NOW)
    payer, offer_id, booking_id = _held(firestore_store, clock)

    def claimed(step: str, arg: Any) -> bool:
        return step == "commit" and any(write.collection == HOLD_RELEASES for write in arg)

    racing = _PaymentLandsAfter(claimed, lambda: payer.confirm_payment(booking_id))
    fan_side = _instance(racing, clock)

    with pytest.raises(SlotTakenError):
        fan_side.book(offer_id, START, Fan("Next", "next@example.com"))

    stored = firestore_store.get(BOOKINGS, booking_id)
    assert stored is not None and stored["status"] == "confirmed"
    assert [doc_id for doc_id, _ in firestore_store.query(BOOKINGS)] == [booking_id]
    assert {cell["booking_id"] for _, cell in firestore_store.query(CELLS)} == {booking_id}
