"""Payments, payment holds and booking events: the push route, hold expiry, and the outbox that makes every
committed change reach the topic even when publishing fails or the process dies after the commit."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from shared.bookings.booking import Fan
from shared.bookings.model import BOOKINGS, CELLS, HOLD_RELEASES, OUTBOX
from shared.bookings.outbox import Outbox
from shared.errors import ConflictError, NotFoundError
from shared.web import status_of
from tests.fakes.pubsub import encode_push
from tests.fakes.store import FakeDocStore
from tests.unit.test_bookings_harness import Harness, at, error_of

PAYMENTS = "/pubsub/payment-events"


def _pay(h: Harness, booking_id: str, message_id: str = "m1") -> Any:
    envelope = encode_push({"type": "payment.succeeded", "booking_id": booking_id}, message_id)
    return h.client.post(PAYMENTS, json=envelope)


def _paid_booking(h: Harness, start: str | None = None) -> tuple[str, str, str, str]:
    """(creator_id, offer_id, booking_id, manage token) of a pending-payment booking."""
    creator = h.creator()
    offer_id = h.offer(creator, price_cents=4000)
    booking_id, token = h.booked(offer_id, start or at(9))
    return creator.creator_id, offer_id, booking_id, token


# ---- payments -------------------------------------------------------------------------------------------------


def test_a_payment_confirms_a_pending_booking() -> None:
    h = Harness()
    _, _, booking_id, token = _paid_booking(h)
    response = _pay(h, booking_id)
    assert response.status_code == 200
    doc = h.doc(booking_id)
    assert doc["status"] == "confirmed"
    assert doc["hold_expires_at"] is None
    assert doc["revision"] == 2
    assert h.client.get(f"/api/manage/{token}").get_json()["status"] == "confirmed"
    # Confirmed: the hold's expiry no longer frees the slot.
    h.clock.advance(timedelta(hours=1))
    assert h.service.release_expired_holds() == 0
    assert h.doc(booking_id)["status"] == "confirmed"


def test_a_duplicate_payment_delivery_is_harmless() -> None:
    h = Harness()
    _, _, booking_id, _ = _paid_booking(h)
    assert _pay(h, booking_id, "m1").status_code == 200
    doc = h.doc(booking_id)
    events = len(h.events())
    assert _pay(h, booking_id, "m1").status_code == 200
    assert _pay(h, booking_id, "m2").status_code == 200
    assert h.doc(booking_id) == doc
    assert len(h.events()) == events


def test_a_payment_for_an_unknown_booking_is_acked() -> None:
    h = Harness()
    response = _pay(h, "no-such-booking")
    assert response.status_code == 200
    assert h.store.query(BOOKINGS) == []


@pytest.mark.parametrize(
    "data",
    [
        {"type": "payment.refunded", "booking_id": "b"},
        {"type": "payment.succeeded"},
        {"type": "payment.succeeded", "booking_id": 42},
        {},
    ],
)
def test_other_payment_events_are_acked_and_ignored(data: dict[str, Any]) -> None:
    """Not for us (another type, no booking_id): 204, the one push rule of every worker."""
    h = Harness()
    _, _, booking_id, _ = _paid_booking(h)
    response = h.client.post(PAYMENTS, json=encode_push(data, "m9"))
    assert response.status_code == 204
    assert h.doc(booking_id)["status"] == "pending_payment"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"message": "hello"},
        {"message": {"data": "eyJ9", "messageId": "1"}},  # base64 of '{"}': not JSON
        {"message": {"data": "!!!", "messageId": "1"}},
        {"message": {"data": "WzFd", "messageId": "1"}},  # base64 of [1]: not an object
        {"message": {"messageId": "1"}},
        {"message": {"data": encode_push({"type": "x"}, "1")["message"]["data"]}},  # no messageId
        [],
    ],
)
def test_a_malformed_envelope_is_400(body: Any) -> None:
    h = Harness()
    response = h.client.post(PAYMENTS, json=body)
    assert response.status_code == 400
    assert error_of(response)["code"] == "malformed_envelope"


def test_a_payment_for_a_fan_cancelled_booking_leaves_it_cancelled() -> None:
    h = Harness()
    _, _, booking_id, token = _paid_booking(h)
    assert h.client.post(f"/api/manage/{token}/cancel").status_code == 200
    assert _pay(h, booking_id).status_code == 200
    assert h.doc(booking_id)["status"] == "cancelled"
    assert h.store.query(CELLS) == []


def test_a_late_payment_reclaims_a_slot_that_is_still_free() -> None:
    h = Harness()
    creator_id, offer_id, booking_id, _ = _paid_booking(h)
    h.clock.advance(timedelta(minutes=16))
    h.service.release_expired_holds()
    assert h.doc(booking_id)["cancel_reason"] == "payment_timeout"
    assert _pay(h, booking_id).status_code == 200
    assert h.doc(booking_id)["status"] == "confirmed"
    assert at(9) not in h.slot_starts(creator_id, offer_id)
    assert h.book(offer_id, at(9)).status_code == 409


def test_a_late_payment_for_a_slot_taken_meanwhile_does_not_double_book() -> None:
    h = Harness()
    _, offer_id, booking_id, _ = _paid_booking(h)
    h.clock.advance(timedelta(minutes=16))
    h.service.release_expired_holds()
    other_id, _ = h.booked(offer_id, at(9))
    assert _pay(h, booking_id).status_code == 200
    assert h.doc(booking_id)["status"] == "cancelled"
    assert h.doc(other_id)["status"] == "pending_payment"
    assert {c["booking_id"] for _, c in h.store.query(CELLS)} == {other_id}


# ---- payment holds ---------------------------------------------------------------------------------------------


def test_releasing_expired_holds_frees_the_slot() -> None:
    h = Harness()
    creator_id, offer_id, booking_id, _ = _paid_booking(h)
    h.clock.advance(timedelta(minutes=14))
    h.service.release_expired_holds()
    assert h.doc(booking_id)["status"] == "pending_payment"
    assert h.book(offer_id, at(9)).status_code == 409
    h.clock.advance(timedelta(minutes=1))
    h.service.release_expired_holds()
    doc = h.doc(booking_id)
    assert doc["status"] == "cancelled"
    assert (doc["cancelled_by"], doc["cancel_reason"]) == ("system", "payment_timeout")
    assert h.store.query(CELLS) == []
    assert at(9) in h.slot_starts(creator_id, offer_id)
    assert h.book(offer_id, at(9)).status_code == 201
    # Released once: a second sweep finds nothing to do.
    assert h.service.release_expired_holds() == 0


def test_an_expired_hold_is_released_by_the_next_booking_even_before_the_sweep() -> None:
    h = Harness()
    _, offer_id, booking_id, _ = _paid_booking(h)
    h.clock.advance(timedelta(minutes=15))
    response = h.book(offer_id, at(9), email="next@example.com")
    assert response.status_code == 201
    assert h.doc(booking_id)["status"] == "cancelled"
    new_id = response.get_json()["booking_id"]
    assert {c["booking_id"] for _, c in h.store.query(CELLS)} == {new_id}


def test_a_live_hold_is_not_released_by_another_booking() -> None:
    h = Harness()
    _, offer_id, booking_id, _ = _paid_booking(h)
    h.clock.advance(timedelta(minutes=10))
    assert h.book(offer_id, at(9), email="next@example.com").status_code == 409
    assert h.doc(booking_id)["status"] == "pending_payment"


def _pay_right_after(h: Harness, booking_id: str, step: str, hit: Callable[..., bool]) -> None:
    """Deliver the payment the moment the store step `step` ("query" or "commit") matching `hit` returns,
    so it lands between what a hold release read and what it writes."""
    store = h.store
    original = getattr(store, step)

    def then_pay(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        if hit(*args):
            setattr(store, step, original)
            assert _pay(h, booking_id).status_code == 200
        return result

    setattr(store, step, then_pay)


def test_a_payment_landing_after_the_sweep_read_the_hold_keeps_the_booking() -> None:
    h = Harness()
    _, offer_id, booking_id, _ = _paid_booking(h)
    h.clock.advance(timedelta(minutes=16))
    _pay_right_after(h, booking_id, "query", lambda collection, *_: collection == BOOKINGS)
    assert h.service.release_expired_holds() == 0
    doc = h.doc(booking_id)
    assert (doc["status"], doc["cancel_reason"], doc["revision"]) == ("confirmed", None, 2)
    assert {c["booking_id"] for _, c in h.store.query(CELLS)} == {booking_id}
    assert h.book(offer_id, at(9), email="next@example.com").status_code == 409


def test_a_payment_landing_while_another_fan_claims_the_expired_hold_keeps_the_booking() -> None:
    h = Harness()
    _, offer_id, booking_id, _ = _paid_booking(h)
    h.clock.advance(timedelta(minutes=16))
    _pay_right_after(h, booking_id, "commit", lambda writes: any(w.collection == HOLD_RELEASES for w in writes))
    response = h.book(offer_id, at(9), email="next@example.com")
    assert response.status_code == 409, response.get_data(as_text=True)
    assert h.doc(booking_id)["status"] == "confirmed"
    assert {c["booking_id"] for _, c in h.store.query(CELLS)} == {booking_id}


# ---- booking events and the outbox -------------------------------------------------------------------------


def test_every_change_publishes_booking_changed_with_its_revision() -> None:
    h = Harness()
    creator = h.creator()
    free, paid = h.offer(creator), h.offer(creator, price_cents=100)
    booking_id, token = h.booked(free, at(9))
    h.client.post(f"/api/manage/{token}/reschedule", json={"start": at(10)})
    h.client.post(f"/api/manage/{token}/cancel")
    pending_id, _ = h.booked(paid, at(11))
    _pay(h, pending_id)
    held_id, _ = h.booked(paid, at(9, day=3))
    h.clock.advance(timedelta(minutes=20))
    h.service.release_expired_holds()
    assert [topic for topic, _ in h.publisher.published] == ["booking-events"] * 7
    assert h.events() == [
        {"type": "booking.changed", "booking_id": booking_id, "revision": 1},
        {"type": "booking.changed", "booking_id": booking_id, "revision": 2},
        {"type": "booking.changed", "booking_id": booking_id, "revision": 3},
        {"type": "booking.changed", "booking_id": pending_id, "revision": 1},
        {"type": "booking.changed", "booking_id": pending_id, "revision": 2},
        {"type": "booking.changed", "booking_id": held_id, "revision": 1},
        {"type": "booking.changed", "booking_id": held_id, "revision": 2},
    ]
    changes = [h.doc(booking_id)["change"], h.doc(pending_id)["change"], h.doc(held_id)["change"]]
    assert changes == ["cancelled", "confirmed", "cancelled"]
    # Published events leave no outbox entries behind.
    assert h.store.query(OUTBOX) == []


def test_the_creators_cancel_publishes_too() -> None:
    h = Harness()
    creator = h.creator()
    booking_id, _ = h.booked(h.offer(creator), at(9))
    h.client.post(f"/api/bookings/{booking_id}/cancel", headers=creator.headers)
    assert h.events()[-1] == {"type": "booking.changed", "booking_id": booking_id, "revision": 2}


def test_rejected_requests_publish_nothing() -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    _, token = h.booked(offer_id, at(9))
    h.booked(offer_id, at(10))
    published = len(h.publisher.published)
    assert h.book(offer_id, at(9)).status_code == 409
    assert h.book(offer_id, at(13)).status_code == 409
    assert h.client.post(f"/api/manage/{token}/reschedule", json={"start": at(10)}).status_code == 409
    assert len(h.publisher.published) == published
    assert h.store.query(OUTBOX) == []


def test_a_failed_publish_leaves_the_outbox_entry_for_the_sweep() -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    h.publisher.fail_next = RuntimeError("pubsub unavailable")
    booking_id, _ = h.booked(offer_id, at(9))
    # The fan's booking stands; only the event is late.
    assert h.doc(booking_id)["status"] == "confirmed"
    assert h.events() == []
    assert [entry for _, entry in h.store.query(OUTBOX)] == [
        {"booking_id": booking_id, "revision": 1, "created_at": h.clock.now()}
    ]
    # A young entry may still be being published by its own request: the sweep leaves it.
    assert h.runtime.outbox.sweep(h.clock.now()) == 0
    assert h.events() == []
    h.clock.advance(timedelta(seconds=30))
    assert h.runtime.outbox.sweep(h.clock.now()) == 1
    assert h.events() == [{"type": "booking.changed", "booking_id": booking_id, "revision": 1}]
    assert h.store.query(OUTBOX) == []
    assert h.runtime.outbox.sweep(h.clock.now()) == 0
    assert len(h.events()) == 1


def test_a_republish_whose_publish_fails_is_swept_up_like_a_new_revision() -> None:
    h = Harness()
    booking_id, _ = h.booked(h.offer(h.creator()), at(9))
    h.publisher.fail_next = RuntimeError("pubsub unavailable")
    h.runtime.outbox.republish(booking_id, 1, h.clock.now())
    event = {"type": "booking.changed", "booking_id": booking_id, "revision": 1}
    assert h.events() == [event]
    h.clock.advance(timedelta(seconds=30))
    assert h.runtime.outbox.sweep(h.clock.now()) == 1
    assert h.events() == [event, event]


def test_a_sweep_that_fails_again_keeps_the_entry() -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    h.publisher.fail_next = RuntimeError("down")
    booking_id, _ = h.booked(offer_id, at(9))
    h.clock.advance(timedelta(minutes=1))
    h.publisher.fail_next = RuntimeError("still down")
    h.runtime.outbox.sweep(h.clock.now())
    assert len(h.store.query(OUTBOX)) == 1
    h.runtime.outbox.sweep(h.clock.now())
    assert h.events() == [{"type": "booking.changed", "booking_id": booking_id, "revision": 1}]
    assert h.store.query(OUTBOX) == []


def test_a_crash_between_commit_and_publish_loses_no_event(monkeypatch: pytest.MonkeyPatch) -> None:
    """The process dies right after the commit: nothing is published by the request at all."""

    class Crash(BaseException):
        pass

    def die(*args: object) -> None:
        raise Crash

    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    booking_id, token = h.booked(offer_id, at(9))
    monkeypatch.setattr(Outbox, "publish", die)
    with pytest.raises(Crash):
        h.service.reschedule(booking_id, h.doc(booking_id)["start"] + timedelta(hours=1))
    with pytest.raises(Crash):
        h.service.cancel(booking_id, by="fan")
    monkeypatch.undo()
    assert h.doc(booking_id)["revision"] == 3
    assert h.events() == [{"type": "booking.changed", "booking_id": booking_id, "revision": 1}]
    h.clock.advance(timedelta(seconds=10))
    assert h.runtime.outbox.sweep(h.clock.now()) == 2
    assert h.events()[1:] == [
        {"type": "booking.changed", "booking_id": booking_id, "revision": 2},
        {"type": "booking.changed", "booking_id": booking_id, "revision": 3},
    ]
    assert token


def test_a_failed_commit_publishes_nothing_and_leaves_no_outbox_entry() -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    assert isinstance(h.store, FakeDocStore)
    h.store.fail_next_commit = RuntimeError("firestore unavailable")
    response = h.book(offer_id, at(9))
    assert response.status_code == 500
    assert error_of(response)["code"] == "internal"
    assert h.store.query(BOOKINGS) == []
    assert h.store.query(OUTBOX) == []
    assert h.events() == []
    assert h.book(offer_id, at(9)).status_code == 201


def test_the_service_raises_domain_errors_that_map_to_the_api_status() -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    start = h.doc(h.booked(offer_id, at(9))[0])["start"]
    with pytest.raises(ConflictError) as caught:
        h.service.book(offer_id, start, Fan(name="F", email="f@example.com"))
    assert (status_of(caught.value), caught.value.code) == (409, "slot_taken")
    with pytest.raises(NotFoundError) as missing:
        h.service.get("nope")
    assert status_of(missing.value) == 404


def test_a_payment_for_an_unknown_booking_is_acknowledged_as_ignored_and_changes_nothing() -> None:
    h = Harness()

    response = _pay(h, "no-such-booking")

    assert (response.status_code, response.get_json()) == (200, {"ignored": "unknown booking"})  # not redelivered
    assert h.store.query(BOOKINGS) == [] and h.events() == []
