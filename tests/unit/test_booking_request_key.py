"""A booking request sent again with its key (its answer was lost, Confirm pressed twice) gets the booking it
made, never a second booking nor a 409 for the slot that booking holds; the key with another request is refused."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest
from werkzeug.test import Client

from services.bookings.pages import page_routes
from shared.auth import DevTokenAuth
from shared.bookings.booking import Fan
from shared.bookings.model import BOOKINGS
from shared.bookings.service import RequestKeyReusedError, requested_booking_id
from shared.pages.kit import PageKit
from shared.web import WebApp
from tests.unit.test_booking_claim_races import second_instance
from tests.unit.test_bookings_harness import BASE_URL, Harness, at, error_of

FAN = {"name": "Fan", "email": "fan@example.com"}


def _book(h: Harness, offer_id: str, start: str, key: str | None, fan: dict[str, str] = FAN) -> tuple[int, Any]:
    headers = {"Idempotency-Key": key} if key is not None else {}
    response = h.client.post(
        "/api/public/bookings", json={"offer_id": offer_id, "start": start, "fan": fan}, headers=headers
    )
    return response.status_code, response.get_json()


def _bookings(h: Harness) -> list[str]:
    return [doc_id for doc_id, _ in h.store.query(BOOKINGS)]


def test_the_same_request_sent_again_with_its_key_answers_with_the_booking_it_made() -> None:
    h = Harness()
    offer_id = h.offer(h.creator())

    first = _book(h, offer_id, at(9), "key-1")
    again = _book(h, offer_id, at(9), "key-1")

    assert first[0] == again[0] == 201
    assert again[1] == first[1], "the same booking id, status and manage link"
    assert _bookings(h) == [first[1]["booking_id"]]
    assert len(h.events()) == 1, "the booking's event is published once"


def test_without_a_key_the_same_request_again_is_refused_as_the_slot_is_taken() -> None:
    h = Harness()
    offer_id = h.offer(h.creator())
    assert _book(h, offer_id, at(9), None)[0] == 201
    status, body = _book(h, offer_id, at(9), None)
    assert status == 409 and body["error"]["code"] == "slot_taken"


@pytest.mark.parametrize(
    ("start", "fan"),
    [
        pytest.param(at(10), FAN, id="another time"),
        pytest.param(at(9), {"name": "Fan", "email": "someone@example.com"}, id="another fan"),
        pytest.param(at(9), {"name": "Someone", "email": "fan@example.com"}, id="another name"),
    ],
)
def test_a_key_sent_with_another_request_is_refused_and_tells_nothing_of_the_first(
    start: str, fan: dict[str, str]
) -> None:
    h = Harness()
    offer_id = h.offer(h.creator())
    made = _book(h, offer_id, at(9), "key-1")[1]

    status, body = _book(h, offer_id, start, "key-1", fan)

    assert status == 409
    assert body["error"] == {
        "code": "idempotency_key_reused",
        "message": "This Idempotency-Key came before with another booking request: send a new key for a new booking.",
    }
    assert made["manage_url"] not in str(body) and made["booking_id"] not in str(body)
    assert _bookings(h) == [made["booking_id"]]


def test_the_booking_a_key_stands_for_is_named_alike_by_every_release() -> None:
    """A request retried across a deploy must find the booking the previous release made for its key."""
    assert requested_booking_id("offer-1", "key-1") == "f6154b21b62d10095416fbddee412b98"


def test_one_key_serves_each_offer_apart() -> None:
    h = Harness()
    creator = h.creator()
    first, second = h.offer(creator), h.offer(creator, duration=60)
    assert _book(h, first, at(9), "key-1")[0] == 201
    status, body = _book(h, second, at(11), "key-1")
    assert status == 201, body
    assert len(_bookings(h)) == 2


@pytest.mark.parametrize("key", ["", "with space", "x" * 256, "naïve"])
def test_a_key_that_is_not_visible_ascii_of_at_most_255_is_refused_and_books_nothing(key: str) -> None:
    h = Harness()
    offer_id = h.offer(h.creator())
    response = h.client.post(
        "/api/public/bookings",
        json={"offer_id": offer_id, "start": at(9), "fan": FAN},
        headers={"Idempotency-Key": key.encode().decode("latin-1")},
    )
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_idempotency_key"
    assert _bookings(h) == []


def test_the_same_request_sent_twice_at_once_makes_one_booking_and_both_get_it() -> None:
    """The twin's booking lands after this request looked for it and before its own add."""
    h = Harness()
    offer_id = h.offer(h.creator())
    start, fan = datetime.fromisoformat(at(9)), Fan(FAN["name"], FAN["email"])
    twin = []
    racing = second_instance(
        h, lambda call: call.kind == "commit", lambda: twin.append(h.service.book(offer_id, start, fan, "k"))
    )

    booked = racing.book(offer_id, start, fan, "k")

    assert [booked] == twin
    assert _bookings(h) == [booked.booking_id]
    with pytest.raises(RequestKeyReusedError):
        racing.book(offer_id, datetime.fromisoformat(at(10)), fan, "k")


def _form(client: Client, path: str) -> dict[str, str]:
    page = client.get(path).get_data(as_text=True)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))
    assert set(fields) == {"csrf", "request_key"}, fields
    return fields


def test_confirm_pressed_twice_on_the_booking_page_makes_one_booking_and_the_back_button_a_new_one() -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    kit = PageKit(base_url=BASE_URL, local=True, auth=DevTokenAuth(h.store), clock=h.clock)
    client = Client(WebApp("bookings", page_routes(kit, h.uses)))
    path = f"/book/{creator.creator_id}/{offer_id}"
    form = {**_form(client, path), **FAN, "start": at(9)}

    first, again = client.post(path, data=form), client.post(path, data=form)
    assert first.status_code == again.status_code == 303
    assert first.headers["Location"] == again.headers["Location"]
    assert len(_bookings(h)) == 1

    back = client.post(path, data={**form, "start": at(10)})  # the same form, shown once, another time chosen
    assert back.status_code == 303 and back.headers["Location"] != first.headers["Location"]
    assert len(_bookings(h)) == 2
    assert _form(client, path)["request_key"] != form["request_key"], "each showing of the form draws a new key"
