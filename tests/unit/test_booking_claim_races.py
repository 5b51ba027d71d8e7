"""A fan booking a slot whose cells another booking held when the first claim was refused, while that
booking gives them back (the sweep releases its expired hold, or its fan moves it): the claim is tried
again and the fan gets the slot, never a 409 for a slot that is free. Each interleaving is staged by a
store that runs the other instance's step just ahead of a chosen read of the booking path."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from shared.bookings.booking import Fan
from shared.bookings.busy import NoCalendar
from shared.bookings.model import BOOKINGS, CELLS
from shared.bookings.service import BookingService, SlotTakenError
from shared.bootstrap import booking_service
from tests.fakes.bus import FakePublisher
from tests.fakes.store import Call, InterleavingStore
from tests.unit.test_bookings_harness import Harness, at, runtime_for

SECOND_FAN = Fan(name="Second", email="second@example.com")


NINE = datetime.fromisoformat(at(9))
TEN = datetime.fromisoformat(at(10))


def second_instance(h: Harness, at_call: Callable[[Call], bool], step: Callable[[], object]) -> BookingService:
    """The bookings service of another instance, on a store that runs `step` just ahead of `at_call`."""
    racing = InterleavingStore(h.store, at_call, step)
    return booking_service(runtime_for(racing, FakePublisher(), h.clock), NoCalendar())


def reading_a_cell(call: Call) -> bool:
    return call.kind == "get" and call.collection == CELLS


def reading_booking(booking_id: str) -> Callable[[Call], bool]:
    return lambda call: call.kind == "get" and call.collection == BOOKINGS and call.doc_id == booking_id


def expired_hold(h: Harness) -> tuple[str, str]:
    """A paid offer and a hold on its 09:00 slot that has just run out: (offer id, held booking id)."""
    paid = h.offer(h.creator(), price_cents=2500)
    response = h.book(paid, at(9))
    assert response.status_code == 201, response.get_data(as_text=True)
    h.clock.advance(timedelta(minutes=16))
    return paid, str(response.get_json()["booking_id"])


@pytest.mark.parametrize(
    "sweep_lands",
    [pytest.param("cells", id="before the cells are read"), pytest.param("holder", id="before the holder is read")],
)
def test_a_hold_the_sweep_releases_while_a_fan_claims_its_slot_gives_the_fan_the_slot(sweep_lands: str) -> None:
    h = Harness()
    offer_id, held = expired_hold(h)
    at_call = reading_a_cell if sweep_lands == "cells" else reading_booking(held)
    fan = second_instance(h, at_call, h.service.release_expired_holds)

    booked = fan.book(offer_id, NINE, SECOND_FAN)

    assert (h.doc(held)["status"], h.doc(held)["cancel_reason"]) == ("cancelled", "payment_timeout")
    assert h.doc(booked.booking_id)["status"] == "pending_payment"
    assert {cell["booking_id"] for _, cell in h.store.query(CELLS)} == {booked.booking_id}


def test_a_booking_moved_away_while_a_fan_claims_its_old_slot_gives_the_fan_the_slot() -> None:
    h = Harness()
    offer_id = h.offer(h.creator())
    moved, _ = h.booked(offer_id, at(9))
    fan = second_instance(h, reading_booking(moved), lambda: h.service.reschedule(moved, TEN))

    booked = fan.book(offer_id, NINE, SECOND_FAN)

    assert h.doc(moved)["start"] == TEN
    assert h.doc(booked.booking_id)["status"] == "confirmed"


def test_a_hold_paid_while_a_fan_claims_its_slot_keeps_the_slot_and_the_fan_gets_409() -> None:
    h = Harness()
    offer_id, held = expired_hold(h)
    fan = second_instance(h, reading_booking(held), lambda: h.service.confirm_payment(held))

    with pytest.raises(SlotTakenError):
        fan.book(offer_id, NINE, SECOND_FAN)

    assert h.doc(held)["status"] == "confirmed"
    assert {cell["booking_id"] for _, cell in h.store.query(CELLS)} == {held}
    assert len(h.store.query(BOOKINGS)) == 1
