"""A payment that arrives after its hold expired and its slot was taken: the booking is not left silently
cancelled. The creator gets a payment_needs_refund notice, the fan a slot_lost email, and Flo Payments a
refund.requested on its topic."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest

from tests.fakes.pubsub import encode_push
from tests.unit.test_bookings_harness import at
from tests.unit.test_notify_harness import FAN, NotifyHarness

PAYMENTS = "/pubsub/payment-events"


def pay(h: NotifyHarness, booking_id: str, message_id: str = "p1") -> Any:
    envelope = encode_push({"type": "payment.succeeded", "booking_id": booking_id}, message_id)
    return h.client.post(PAYMENTS, json=envelope)


def lost_slot(h: NotifyHarness) -> tuple[str, str]:
    """A paid hold that expired and whose slot another fan then booked: (late payer's id, the other's id)."""
    late = h.new_booking(at(9), offer_id=h.paid_offer)
    h.clock.advance(timedelta(minutes=16))
    response = h.book(h.free_offer, at(9), email="other@example.com")
    assert response.status_code == 201, response.get_data(as_text=True)
    assert h.doc(late)["status"] == "cancelled"
    return late, str(response.get_json()["booking_id"])


def test_a_late_payment_for_a_taken_slot_asks_for_a_refund_tells_the_creator_and_the_fan() -> None:
    h = NotifyHarness()
    late, other = lost_slot(h)
    revision = h.doc(late)["revision"]

    response = pay(h, late)
    assert response.status_code == 200
    assert response.get_json() == {"refund_requested": late}
    doc = h.doc(late)
    assert (doc["status"], doc["change"], doc["revision"]) == ("cancelled", "slot_lost", revision + 1)
    assert h.doc(other)["status"] == "confirmed", "the other fan keeps the slot"
    assert h.publisher.on("refund-requests") == [
        {"type": "refund.requested", "booking_id": late, "reason": "slot_taken"}
    ]
    [notice] = h.runtime.notices.open_for(h.creator_id)
    assert (notice.kind, notice.booking_id) == ("payment_needs_refund", late)
    assert FAN in notice.message and "refunded" in notice.message

    h.booking_event(late)
    [email] = h.sent("slot_lost")
    assert email.to == FAN
    assert "your payment will be refunded in full" in email.text
    assert [s.kind for s in h.sent() if s.to != "other@example.com"] == ["slot_lost"], "the creator has the notice"
    assert h.doc(late)["mail_due_at"] is None


def test_a_redelivered_late_payment_asks_again_but_tells_nobody_twice() -> None:
    h = NotifyHarness()
    late, _ = lost_slot(h)
    pay(h, late)
    revision = h.doc(late)["revision"]
    h.booking_event(late)

    assert pay(h, late, "p2").get_json() == {"refund_requested": late}
    assert h.doc(late)["revision"] == revision, "decided once"
    assert len(h.publisher.on("refund-requests")) == 2, "at least once: Payments keys on booking_id"
    assert len(h.runtime.notices.open_for(h.creator_id)) == 1
    h.booking_event(late)
    assert len(h.sent("slot_lost")) == 1


def test_a_refund_request_that_cannot_be_published_is_redelivered_and_asked_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    h = NotifyHarness()
    late, _ = lost_slot(h)
    publish = h.publisher.publish

    def refunds_down(topic: str, data: Mapping[str, Any]) -> str:
        if topic == "refund-requests":
            raise RuntimeError("Pub/Sub unavailable")
        return publish(topic, data)

    monkeypatch.setattr(h.publisher, "publish", refunds_down)
    assert pay(h, late).status_code >= 500, "not acknowledged, so Pub/Sub redelivers the payment"
    monkeypatch.setattr(h.publisher, "publish", publish)
    assert h.publisher.on("refund-requests") == []
    assert pay(h, late, "p2").status_code == 200
    assert len(h.publisher.on("refund-requests")) == 1


def test_the_slot_lost_email_goes_on_the_next_tick_when_the_booking_event_is_lost() -> None:
    h = NotifyHarness()
    late, _ = lost_slot(h)
    pay(h, late)
    assert h.sent("slot_lost") == []
    h.tick()
    assert [s.to for s in h.sent("slot_lost")] == [FAN]


def test_a_late_payment_whose_slot_is_still_free_confirms_and_asks_no_refund() -> None:
    h = NotifyHarness()
    late = h.new_booking(at(9), offer_id=h.paid_offer)
    h.clock.advance(timedelta(minutes=16))
    h.service.release_expired_holds()
    assert pay(h, late).get_json() == {"confirmed": late}
    assert h.doc(late)["status"] == "confirmed"
    assert h.publisher.on("refund-requests") == []
    assert h.runtime.notices.open_for(h.creator_id) == []
