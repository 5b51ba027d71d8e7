"""Issue 11, at the door: nothing a caller sends can be accepted and then break an email, a calendar entry or
a Firestore call later. Bodies are strict and bounded, path ids Firestore cannot hold are a 404, bodies too big
or too deep are refused, and a session that has started is no longer the fan's to move or cancel."""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from shared.fields import HTTPS_LINK_PATTERN, MAX_LINK_LENGTH, PLAIN_TEXT_PATTERN, HttpsLink, PlainText
from shared.store.ids import is_storable_id
from shared.web import MAX_BODY_BYTES, MAX_JSON_DEPTH
from tests.unit.test_bookings_harness import Harness, at, error_of


def _book(h: Harness, offer_id: str, fan: dict[str, Any], start: str | None = None) -> Any:
    return h.client.post("/api/public/bookings", json={"offer_id": offer_id, "start": start or at(9), "fan": fan})


# ---- fan input -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fan", "field"),
    [
        ({"name": "Frankie\r\nBcc: victim@example.com", "email": "f@example.com"}, "fan.name"),
        ({"name": "Frankie\n", "email": "f@example.com"}, "fan.name"),
        ({"name": "Fran\u2028kie", "email": "f@example.com"}, "fan.name"),
        ({"name": "Fran\x00kie", "email": "f@example.com"}, "fan.name"),
        ({"name": "   ", "email": "f@example.com"}, "fan.name"),
        ({"name": "F" * 201, "email": "f@example.com"}, "fan.name"),
        ({"name": "Frankie", "email": "f@example.com", "timezone": "Mars/Olympus"}, "fan.timezone"),
        ({"name": "Frankie", "email": "f@example.com", "timezone": "localtime"}, "fan.timezone"),
        ({"name": "Frankie", "email": "f@example.com\r\nBcc: x@example.com"}, "fan.email"),
        ({"name": "Frankie", "email": "Frankie <f@example.com>"}, "fan.email"),
        ({"name": "Frankie", "email": "f@localhost"}, "fan.email"),
        ({"name": "Frankie", "email": "f" * 250 + "@example.com"}, "fan.email"),
        ({"name": "Frankie", "email": "f@example.com", "admin": True}, "fan.admin"),
        ({"name": 7, "email": "f@example.com"}, "fan.name"),
    ],
)
def test_a_fan_that_could_never_be_emailed_is_refused_naming_the_field(fan: dict[str, Any], field: str) -> None:
    h = Harness()
    offer_id = h.offer(h.creator())
    response = _book(h, offer_id, fan)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert error_of(response)["message"].startswith(f"{field}:")
    assert h.events() == []


def test_an_internationalized_address_and_a_real_zone_are_accepted() -> None:
    h = Harness()
    offer_id = h.offer(h.creator())
    response = _book(h, offer_id, {"name": "Zoë Ñandú", "email": "zoë@example.com", "timezone": "America/Sao_Paulo"})
    assert response.status_code == 201, response.get_data(as_text=True)
    fan = h.doc(response.get_json()["booking_id"])["fan"]
    assert fan == {"name": "Zoë Ñandú", "email": "zoë@example.com", "timezone": "America/Sao_Paulo"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": "Coaching", "duration_minutes": "30", "price_cents": 0}, "duration_minutes"),
        ({"title": "Coaching", "duration_minutes": 30.5, "price_cents": 0}, "duration_minutes"),
        ({"title": "Coaching", "duration_minutes": True, "price_cents": 0}, "duration_minutes"),
        ({"title": "Coaching", "duration_minutes": 7, "price_cents": 0}, "duration_minutes"),
        ({"title": "Coaching", "duration_minutes": 1445, "price_cents": 0}, "duration_minutes"),
        ({"title": "Coaching", "duration_minutes": 30, "price_cents": "100"}, "price_cents"),
        ({"title": "Coaching", "duration_minutes": 30, "price_cents": -1}, "price_cents"),
        ({"title": "Coaching", "duration_minutes": 30, "price_cents": 10**18}, "price_cents"),
        ({"title": "Coa\nching", "duration_minutes": 30, "price_cents": 0}, "title"),
        ({"title": "C" * 151, "duration_minutes": 30, "price_cents": 0}, "title"),
        ({"title": "Coaching", "duration_minutes": 30, "price_cents": 0, "currency": "EUR"}, "currency"),
    ],
)
def test_offers_are_strict_and_bounded(body: dict[str, Any], field: str) -> None:
    h = Harness()
    response = h.client.post("/api/offers", json=body, headers=h.creator().headers)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert error_of(response)["message"].startswith(f"{field}:")


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/dev/creators", {"email": "c@example.com", "name": "C\r\n", "plan": "pro"}, "name"),
        ("/api/dev/creators", {"email": "c@example.com", "name": "C", "plan": "pro", "timezone": "Mars/X"}, "timezone"),
        (
            "/api/public/bookings",
            {"offer_id": "a/b", "start": at(9), "fan": {"name": "F", "email": "f@ex.com"}},
            "offer_id",
        ),
        ("/api/public/bookings", {"offer_id": "x", "start": "2026-03-02T09:00:00", "fan": {}}, "start"),
        ("/api/public/bookings", {"offer_id": "x", "start": 1772442000, "fan": {}}, "start"),
    ],
)
def test_other_bodies_are_strict_too(path: str, body: dict[str, Any], field: str) -> None:
    response = Harness().client.post(path, json=body)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert error_of(response)["message"].startswith(f"{field}:")


def test_availability_days_are_bounded() -> None:
    h = Harness()
    creator = h.creator()
    many = [[f"{m // 60:02d}:{m % 60:02d}", f"{m // 60:02d}:{m % 60 + 5:02d}"] for m in range(0, 49 * 15, 15)]
    response = h.client.put(
        "/api/settings/availability", json={"timezone": "UTC", "weekly_hours": {"mon": many}}, headers=creator.headers
    )
    assert response.status_code == 400
    assert error_of(response)["message"].startswith("weekly_hours.mon:")


@given(st.text(max_size=12))
def test_the_documented_text_pattern_is_the_rule_enforced(text: str) -> None:
    """The OpenAPI pattern and the validator must agree, or the fuzzer's valid input would be refused."""
    try:
        TypeAdapter(PlainText).validate_python(text)
        accepted = True
    except ValidationError:
        accepted = False
    ecma = PLAIN_TEXT_PATTERN.removesuffix("$") + r"\Z"  # Python's $ also matches before a final newline
    assert accepted == bool(re.search(ecma, text)), [unicodedata.category(c) for c in text]


# ---- the booking horizon ---------------------------------------------------------------------------------------


def test_no_slot_is_offered_or_booked_beyond_the_horizon() -> None:
    h = Harness()
    offer_id = h.offer(creator := h.creator())
    near, far = (h.clock.now() + timedelta(days=days) for days in (364, 371))  # Mondays, with morning hours
    assert h.slot_starts(creator.creator_id, offer_id, near.date().isoformat(), near.date().isoformat())
    assert h.slot_starts(creator.creator_id, offer_id, far.date().isoformat(), far.date().isoformat()) == []
    beyond = far.replace(hour=9).isoformat()
    response = h.book(offer_id, beyond)
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "beyond_horizon"
    assert error["message"].startswith("start:")


# ---- started sessions ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("minutes_after_start", [0, 10, 60 * 24])
def test_a_started_session_is_not_the_fans_to_move_or_cancel_but_the_creator_can_cancel(
    minutes_after_start: int,
) -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    booking_id, token = h.booked(offer_id, at(9))
    h.clock.advance(timedelta(hours=1, minutes=minutes_after_start))  # NOW is 08:00; the session starts at 09:00
    moved = h.client.post(f"/api/manage/{token}/reschedule", json={"start": at(10, day=3)})
    assert moved.status_code == 409
    assert error_of(moved)["code"] == "session_started"
    cancelled = h.client.post(f"/api/manage/{token}/cancel")
    assert cancelled.status_code == 409
    assert error_of(cancelled)["code"] == "session_started"
    assert h.doc(booking_id)["status"] == "confirmed"
    by_creator = h.client.post(f"/api/bookings/{booking_id}/cancel", headers=creator.headers)
    assert by_creator.status_code == 200
    assert by_creator.get_json()["status"] == "cancelled"


def test_before_the_start_the_fan_still_can() -> None:
    h = Harness()
    offer_id = h.offer(h.creator())
    _, token = h.booked(offer_id, at(9))
    h.clock.advance(timedelta(minutes=59))
    assert h.client.post(f"/api/manage/{token}/cancel").status_code == 200


# ---- ids, sizes and depths -------------------------------------------------------------------------------------

UNSAFE_IDS = ["..", ".", "__x__", "__name__", "x" * 1501, "é" * 751, "a%2Fb"]


@pytest.mark.parametrize("bad", UNSAFE_IDS)
def test_ids_firestore_cannot_hold_are_a_404_on_every_route(bad: str) -> None:
    h = Harness()
    creator = h.creator()
    for method, path in [
        ("GET", f"/api/public/creators/{bad}/offers/x/slots?from=2026-03-02&to=2026-03-02"),
        ("GET", f"/api/public/creators/x/offers/{bad}/slots?from=2026-03-02&to=2026-03-02"),
        ("GET", f"/api/manage/{bad}"),
        ("POST", f"/api/manage/{bad}/cancel"),
        ("POST", f"/api/bookings/{bad}/cancel"),
        ("POST", f"/api/notices/{bad}/dismiss"),
        ("POST", f"/api/dev/payments/{bad}/succeed"),
    ]:
        response = h.client.open(path, method=method, headers=creator.headers)
        assert response.status_code == 404, (path, response.get_data(as_text=True))
        error_of(response)


def test_the_id_rule_is_firestores() -> None:
    assert is_storable_id("abc123")
    assert is_storable_id("x" * 1500)
    assert is_storable_id("_x_")
    assert is_storable_id("__x")
    for bad in ["", "a/b", ".", "..", "__x__", "x" * 1501, "\ud800", None, 7]:
        assert not is_storable_id(bad), bad


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 5000, 30_000])
def test_deeply_nested_bodies_are_a_400(depth: int) -> None:
    h = Harness()
    body = '{"offer_id": "x", "start": "2026-03-02T09:00:00Z", "fan": ' + _nested(depth) + "}"
    assert len(body) <= MAX_BODY_BYTES  # within the size cap: the depth is what is refused
    response = h.client.post("/api/public/bookings", data=body, content_type="application/json")
    assert response.status_code == 400
    assert error_of(response)["code"] == "too_deep"


def test_a_body_over_the_size_cap_is_a_413_and_just_under_is_read() -> None:
    h = Harness()
    big = json.dumps({"offer_id": "x", "start": "2026-03-02T09:00:00Z", "fan": {"name": "a" * MAX_BODY_BYTES}})
    response = h.client.post("/api/public/bookings", data=big, content_type="application/json")
    assert response.status_code == 413
    error_of(response)
    small = json.dumps({"offer_id": "x", "start": "2026-03-02T09:00:00Z", "fan": {"name": "a" * 1000}})
    assert h.client.post("/api/public/bookings", data=small, content_type="application/json").status_code == 400


def test_after_a_413_the_body_can_still_be_drained() -> None:
    """functions-framework reads the body again after the response: that must not become a 500."""
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request

    h = Harness()
    big = b'{"fan": "' + b"a" * MAX_BODY_BYTES + b'"}'
    request = Request(EnvironBuilder(path="/api/public/bookings", method="POST", data=big).get_environ())
    assert h.app.handle(request).status_code == 413
    assert request.get_data() == big


LINKS = TypeAdapter(HttpsLink)


NOT_PLAIN_HTTPS = "must be an https URL with a host, no spaces and no user name or password"
NOT_OPENABLE = "is not a URL a browser can open"


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("http://zoom.us/j/1", NOT_PLAIN_HTTPS),
        ("https://", "String should have at least 9 characters"),  # no host
        ("https:///j/1", NOT_PLAIN_HTTPS),  # no host either
        ("https://user:secret@zoom.us/j/1", NOT_PLAIN_HTTPS),  # credentials in the link
        ("https://zoom.us/j/1 2", NOT_PLAIN_HTTPS),  # a space breaks the ICS line
        ("https://zoom.us/j/1\r\nX-Injected: 1", NOT_PLAIN_HTTPS),
        ("https://[/j/1", NOT_OPENABLE),  # fits the pattern, opens nothing
        ("https://:443/j/1", NOT_OPENABLE),  # a port but an empty host
        ("https://zoom.us:port/j/1", NOT_OPENABLE),
        ("https://" + "a" * MAX_LINK_LENGTH, f"String should have at most {MAX_LINK_LENGTH} characters"),
    ],
)
def test_a_hand_set_link_that_a_browser_could_not_open_is_refused_saying_why(bad: str, why: str) -> None:
    with pytest.raises(ValidationError) as refused:
        LINKS.validate_python(bad)
    assert refused.value.errors()[0]["msg"].removeprefix("Value error, ") == why


def test_a_hand_set_link_is_kept_as_the_url_parser_writes_it() -> None:
    assert LINKS.validate_python("https://Meet.Google.com/abc-defg-hij") == "https://meet.google.com/abc-defg-hij"
    assert re.fullmatch(HTTPS_LINK_PATTERN, "https://zoom.us/j/123?pwd=x")
