"""No double booking on real Firestore (the emulator): many fans racing for one slot, and overlapping slots of
different offers, leave exactly one booking holding the time."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from werkzeug.test import Client

from shared.bookings.booking import Fan
from shared.bookings.busy import NoCalendar
from shared.bookings.catalog import new_offer
from shared.bookings.model import BOOKINGS, CELLS, CREATORS, OUTBOX, hours_to_doc
from shared.bookings.service import Booked, BookingService
from shared.bootstrap import booking_service
from shared.errors import DomainError
from shared.store.firestore import FirestoreDocStore
from shared.store.port import put
from shared.web import status_of
from tests.fakes.bus import FakePublisher
from tests.fakes.clock import FakeClock
from tests.unit.test_bookings_harness import MORNINGS, NOW, Harness, at, runtime_for

ATTEMPTS = 50


def _service(store: FirestoreDocStore, publisher: FakePublisher, clock: FakeClock | None = None) -> BookingService:
    """The booking service as the composition root builds it, on the emulator, with an always-free calendar."""
    return booking_service(runtime_for(store, publisher, clock or FakeClock(NOW)), NoCalendar())


def _creator(store: FirestoreDocStore, creator_id: str = "c1") -> str:
    store.commit(
        [
            put(
                CREATORS,
                creator_id,
                {
                    "plan": "creator",
                    "timezone": "UTC",
                    "weekly_hours": hours_to_doc(MORNINGS),
                    "email": "c@example.com",
                },
            )
        ]
    )
    return creator_id


def _race(attempts: list[Callable[[], Booked]]) -> tuple[list[Booked], list[DomainError]]:
    """Run every attempt at once (a barrier releases all threads together); unexpected errors fail the test."""
    barrier = threading.Barrier(len(attempts))

    def run(attempt: Callable[[], Booked]) -> Booked | DomainError:
        barrier.wait()
        try:
            return attempt()
        except DomainError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=len(attempts)) as pool:
        outcomes = list(pool.map(run, attempts))
    wins = [o for o in outcomes if isinstance(o, Booked)]
    losses = [o for o in outcomes if isinstance(o, DomainError)]
    assert len(wins) + len(losses) == len(attempts)
    return wins, losses


def _fan(n: int) -> Fan:
    return Fan(name=f"Fan {n}", email=f"fan{n}@example.com")


def test_fifty_fans_racing_for_one_slot_through_the_route_make_exactly_one_booking(
    firestore_store: FirestoreDocStore,
) -> None:
    """The whole path on Firestore: dev creator, availability, offer, then 50 simultaneous POSTs."""
    h = Harness(store=firestore_store)
    creator = h.creator()
    offer_id = h.offer(creator)
    start = at(10)
    assert start in h.slot_starts(creator.creator_id, offer_id)
    barrier = threading.Barrier(ATTEMPTS)

    def attempt(n: int) -> tuple[int, dict[str, Any]]:
        client = Client(h.app)  # one client a thread
        fan = _fan(n)
        body = {"offer_id": offer_id, "start": start, "fan": {"name": fan.name, "email": fan.email}}
        barrier.wait()
        response = client.post("/api/public/bookings", json=body)
        return response.status_code, response.get_json()

    with ThreadPoolExecutor(max_workers=ATTEMPTS) as pool:
        outcomes = list(pool.map(attempt, range(ATTEMPTS)))

    statuses = sorted(status for status, _ in outcomes)
    assert statuses == [201] + [409] * (ATTEMPTS - 1), outcomes
    [winner] = [body for status, body in outcomes if status == 201]
    assert winner["status"] == "confirmed"
    assert {body["error"]["code"] for status, body in outcomes if status == 409} == {"slot_taken"}
    bookings = firestore_store.query(BOOKINGS)
    assert [booking_id for booking_id, _ in bookings] == [winner["booking_id"]]
    cells = firestore_store.query(CELLS)
    assert len(cells) == 6  # 30 minutes of 5-minute cells
    assert {cell["booking_id"] for _, cell in cells} == {winner["booking_id"]}
    # One event, for the one booking; no outbox entry left by the losers.
    assert h.events() == [{"type": "booking.changed", "booking_id": winner["booking_id"], "revision": 1}]
    assert firestore_store.query(OUTBOX) == []
    assert start not in h.slot_starts(creator.creator_id, offer_id)


def test_fifty_fans_racing_for_one_slot_make_exactly_one_booking(firestore_store: FirestoreDocStore) -> None:
    store = firestore_store
    service = _service(store, FakePublisher())
    creator_id = _creator(store)
    offer_id = new_offer(store, creator_id, "Half hour", 30, 0, NOW)
    start = datetime(2026, 3, 2, 10, tzinfo=UTC)

    wins, losses = _race([partial(service.book, offer_id, start, _fan(n)) for n in range(ATTEMPTS)])

    assert len(wins) == 1
    assert len(losses) == ATTEMPTS - 1
    assert {(status_of(e), e.code) for e in losses} == {(409, "slot_taken")}
    assert [booking_id for booking_id, _ in store.query(BOOKINGS)] == [wins[0].booking_id]
    assert {cell["booking_id"] for _, cell in store.query(CELLS)} == {wins[0].booking_id}


def test_fifty_fans_racing_for_a_paid_slot_make_exactly_one_hold(firestore_store: FirestoreDocStore) -> None:
    store = firestore_store
    service = _service(store, FakePublisher())
    creator_id = _creator(store)
    offer_id = new_offer(store, creator_id, "Paid", 60, 2500, NOW)
    start = datetime(2026, 3, 2, 11, tzinfo=UTC)

    wins, losses = _race([partial(service.book, offer_id, start, _fan(n)) for n in range(ATTEMPTS)])

    assert [w.status for w in wins] == ["pending_payment"]
    assert {(status_of(e), e.code) for e in losses} == {(409, "slot_taken")}
    assert [booking_id for booking_id, _ in store.query(BOOKINGS)] == [wins[0].booking_id]


def test_overlapping_slots_of_a_30_and_a_60_minute_offer_cannot_both_be_booked(
    firestore_store: FirestoreDocStore,
) -> None:
    store = firestore_store
    service = _service(store, FakePublisher())
    creator_id = _creator(store)
    half_hour = new_offer(store, creator_id, "Half hour", 30, 0, NOW)
    hour = new_offer(store, creator_id, "Hour", 60, 0, NOW)
    # 10:30-11:00 lies inside 10:00-11:00; the two share the last six cells only.
    attempts: list[Callable[[], Booked]] = []
    for n in range(ATTEMPTS // 2):
        attempts.append(partial(service.book, half_hour, datetime(2026, 3, 2, 10, 30, tzinfo=UTC), _fan(n)))
        attempts.append(partial(service.book, hour, datetime(2026, 3, 2, 10, tzinfo=UTC), _fan(100 + n)))

    wins, losses = _race(attempts)

    assert len(wins) == 1
    assert len(losses) == ATTEMPTS - 1
    assert {status_of(e) for e in losses} == {409}
    [(booking_id, doc)] = store.query(BOOKINGS)
    assert booking_id == wins[0].booking_id
    assert {cell["booking_id"] for _, cell in store.query(CELLS)} == {booking_id}
    assert len(store.query(CELLS)) == int(doc["duration_minutes"]) // 5


def test_a_reschedule_and_new_bookings_racing_for_one_slot_leave_one_holder(
    firestore_store: FirestoreDocStore,
) -> None:
    store = firestore_store
    service = _service(store, FakePublisher())
    creator_id = _creator(store)
    offer_id = new_offer(store, creator_id, "Half hour", 30, 0, NOW)
    moving = service.book(offer_id, datetime(2026, 3, 2, 9, tzinfo=UTC), _fan(0))
    target = datetime(2026, 3, 2, 11, tzinfo=UTC)

    def move() -> Booked:
        service.reschedule(moving.booking_id, target)
        return moving

    attempts: list[Callable[[], Booked]] = [move]
    attempts += [partial(service.book, offer_id, target, _fan(n)) for n in range(1, 20)]

    wins, losses = _race(attempts)

    assert len(wins) == 1
    assert {status_of(e) for e in losses} == {409}
    holders = {cell["booking_id"] for cell_id, cell in store.query(CELLS) if cell_id.startswith(creator_id)}
    at_target = [i for i, d in store.query(BOOKINGS) if d["start"] == target and d["status"] == "confirmed"]
    assert at_target == [wins[0].booking_id]
    assert wins[0].booking_id in holders
    # The moved booking holds only its own time: 6 cells at 09:00 or at 11:00, never both.
    assert len(store.query(CELLS)) == 6 * len(store.query(BOOKINGS))


def test_fans_racing_for_a_slot_held_by_an_expired_payment_make_exactly_one_booking(
    firestore_store: FirestoreDocStore,
) -> None:
    store = firestore_store
    clock = FakeClock(NOW)
    service = _service(store, FakePublisher(), clock)
    creator_id = _creator(store)
    offer_id = new_offer(store, creator_id, "Paid", 30, 900, NOW)
    start = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    held = service.book(offer_id, start, _fan(0))
    clock.advance(timedelta(minutes=16))  # the hold has expired; no sweep has run

    wins, losses = _race([partial(service.book, offer_id, start, _fan(n)) for n in range(1, 21)])

    assert len(wins) == 1
    assert {status_of(e) for e in losses} == {409}
    statuses = {booking_id: doc["status"] for booking_id, doc in store.query(BOOKINGS)}
    assert statuses == {held.booking_id: "cancelled", wins[0].booking_id: "pending_payment"}
    assert {cell["booking_id"] for _, cell in store.query(CELLS)} == {wins[0].booking_id}
