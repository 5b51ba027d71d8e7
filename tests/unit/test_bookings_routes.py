"""The bookings service's HTTP routes with fakes: creators' settings and offers, fans' bookings, manage links,
the dashboard list and notices, and bad input answered with a 4xx JSON error (never a 500)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.bookings.app import build_routes
from shared.auth import DevTokenAuth, IdentityPlatformAuth
from shared.bookings.model import BOOKINGS, CELLS, CREATORS
from shared.bookings.notices import NOTICES
from shared.bootstrap import bookings_use_cases
from shared.config import Settings
from shared.pages.kit import STATIC_DIR
from shared.providers.errors import ErrorKind, ProviderError
from shared.store.port import delete, put, update
from tests.unit.test_bookings_harness import BASE_URL, MORNINGS, Creator, Harness, at, error_of

# ---- dev creators and settings -------------------------------------------------------------------------------


def test_the_dev_route_makes_a_creator_and_a_token_that_authenticates() -> None:
    h = Harness()
    response = h.client.post(
        "/api/dev/creators", json={"email": "a@example.com", "name": "A", "plan": "pro", "timezone": "Europe/Paris"}
    )
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"creator_id", "token"}
    stored = h.store.get(CREATORS, body["creator_id"])
    assert stored is not None
    assert stored["plan"] == "pro"
    assert stored["timezone"] == "Europe/Paris"
    ok = h.client.get("/api/bookings", headers={"Authorization": f"Bearer {body['token']}"})
    assert ok.status_code == 200
    assert ok.get_json() == {"bookings": [], "next_cursor": None}


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email", "name": "A", "plan": "pro"},
        {"email": "a@example.com", "name": "A", "plan": "platinum"},
        {"email": "a@example.com", "plan": "pro"},
        {"email": "a@example.com", "name": "A", "plan": "pro", "timezone": "Mars/Olympus_Mons"},
    ],
)
def test_the_dev_route_rejects_bad_bodies(body: dict[str, Any]) -> None:
    h = Harness()
    response = h.client.post("/api/dev/creators", json=body)
    assert response.status_code == 400
    error_of(response)


@pytest.mark.parametrize("header", [None, "Bearer nope", "Basic abc", "Bearer "])
def test_creator_routes_need_a_valid_token(header: str | None) -> None:
    h = Harness()
    headers = {"Authorization": header} if header is not None else {}
    for method, path in [("GET", "/api/bookings"), ("GET", "/api/notices"), ("PUT", "/api/settings/availability")]:
        response = h.client.open(path, method=method, headers=headers, json={})
        assert response.status_code == 401, path
        assert error_of(response)["code"] == "unauthenticated"


def test_availability_is_saved_and_used_for_slots() -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator, duration=60)
    response = h.client.put(
        "/api/settings/availability",
        json={"timezone": "Asia/Tokyo", "weekly_hours": {"mon": [["19:00", "21:00"]]}},
        headers=creator.headers,
    )
    assert response.status_code == 200
    assert response.get_json() == {"timezone": "Asia/Tokyo", "weekly_hours": {"mon": [["19:00", "21:00"]]}}
    stored = h.store.get(CREATORS, creator.creator_id)
    assert stored is not None
    assert stored["timezone"] == "Asia/Tokyo"
    body = h.slots_response(creator.creator_id, offer_id).get_json()
    assert body["timezone"] == "Asia/Tokyo"
    assert [s["start"] for s in body["slots"]] == ["2026-03-02T19:00:00+09:00", "2026-03-02T20:00:00+09:00"]


def _nested_arrays(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_nested_arrays(v) for v in value.values())
    if isinstance(value, list):
        return any(isinstance(v, list) or _nested_arrays(v) for v in value)
    return False


def test_saved_hours_are_a_document_firestore_can_store() -> None:
    """Firestore refuses an array directly inside an array, the shape the API takes hours in."""
    h = Harness()
    creator = h.creator(hours={"mon": [["09:00", "10:00"], ["13:00", "14:00"]], "wed": []})
    stored = h.store.get(CREATORS, creator.creator_id)
    assert stored is not None
    assert not _nested_arrays(stored)
    assert _nested_arrays({"mon": [["09:00", "10:00"]]})  # the check itself can fail


@pytest.mark.parametrize(
    ("body", "word"),
    [
        ({"timezone": "Mars/Olympus_Mons", "weekly_hours": MORNINGS}, "timezone"),
        ({"timezone": "localtime", "weekly_hours": MORNINGS}, "timezone"),
        ({"timezone": "UTC", "weekly_hours": {"someday": [["09:00", "10:00"]]}}, "someday"),
        ({"timezone": "UTC", "weekly_hours": {"mon": [["10:00", "09:00"]]}}, "mon"),
        ({"timezone": "UTC", "weekly_hours": {"mon": [["09:00", "11:00"], ["10:00", "12:00"]]}}, "overlap"),
        ({"timezone": "UTC", "weekly_hours": {"mon": [["09:03", "10:00"]]}}, "5-minute"),
        ({"timezone": "UTC", "weekly_hours": {"mon": [["9am", "10:00"]]}}, "HH:MM"),
        ({"timezone": "UTC", "weekly_hours": {"mon": [["09:00"]]}}, "weekly_hours"),
        ({"timezone": "UTC"}, "weekly_hours"),
        ({"weekly_hours": MORNINGS}, "timezone"),
    ],
)
def test_bad_availability_is_400_naming_the_problem(body: dict[str, Any], word: str) -> None:
    h = Harness()
    creator = h.creator()
    before = h.store.get(CREATORS, creator.creator_id)
    response = h.client.put("/api/settings/availability", json=body, headers=creator.headers)
    assert response.status_code == 400
    assert word in error_of(response)["message"]
    assert h.store.get(CREATORS, creator.creator_id) == before


def test_a_creator_without_a_creator_document_gets_a_4xx_not_a_500() -> None:
    h = Harness()
    creator = h.creator()
    h.store.commit([delete(CREATORS, creator.creator_id)])
    response = h.client.put(
        "/api/settings/availability", json={"timezone": "UTC", "weekly_hours": MORNINGS}, headers=creator.headers
    )
    assert response.status_code == 404
    error_of(response)


# ---- offers ---------------------------------------------------------------------------------------------------


def test_an_offer_is_created() -> None:
    h = Harness()
    creator = h.creator(plan="studio")
    response = h.client.post(
        "/api/offers", json={"title": "Intro", "duration_minutes": 45, "price_cents": 0}, headers=creator.headers
    )
    assert response.status_code == 201
    offer = h.store.get("offers", response.get_json()["offer_id"])
    assert offer is not None
    assert (offer["creator_id"], offer["duration_minutes"], offer["title"]) == (creator.creator_id, 45, "Intro")


@pytest.mark.parametrize(
    "body",
    [
        {"title": "x", "duration_minutes": 31, "price_cents": 0},
        {"title": "x", "duration_minutes": 0, "price_cents": 0},
        {"title": "x", "duration_minutes": 1445, "price_cents": 0},
        {"title": "x", "duration_minutes": -30, "price_cents": 0},
        {"title": "x", "duration_minutes": "half an hour", "price_cents": 0},
        {"title": "x", "duration_minutes": 30, "price_cents": -1},
        {"title": "", "duration_minutes": 30, "price_cents": 0},
        {"duration_minutes": 30, "price_cents": 0},
    ],
)
def test_a_bad_offer_is_400(body: dict[str, Any]) -> None:
    h = Harness()
    creator = h.creator()
    response = h.client.post("/api/offers", json=body, headers=creator.headers)
    assert response.status_code == 400
    error_of(response)
    assert h.store.query("offers") == []


def test_a_duration_off_the_5_minute_grid_says_so() -> None:
    h = Harness()
    creator = h.creator()
    response = h.client.post(
        "/api/offers", json={"title": "x", "duration_minutes": 32, "price_cents": 0}, headers=creator.headers
    )
    assert response.status_code == 400
    assert "multiple of 5" in error_of(response)["message"]


def test_a_free_plan_creator_cannot_make_offers() -> None:
    h = Harness()
    creator = h.creator(plan="free")
    response = h.client.post(
        "/api/offers", json={"title": "x", "duration_minutes": 30, "price_cents": 0}, headers=creator.headers
    )
    assert response.status_code == 403
    error = error_of(response)
    assert error["code"] == "plan_required"
    for plan in ("Creator", "Pro", "Studio"):
        assert plan in error["message"]
    assert h.store.query("offers") == []


# ---- fans' bookings -----------------------------------------------------------------------------------------


def test_a_free_booking_is_confirmed_with_a_manage_url() -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    response = h.book(offer_id, at(9, 30))
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"booking_id", "status", "manage_url"}
    assert body["status"] == "confirmed"
    assert body["manage_url"].startswith(f"{BASE_URL}/manage/")
    doc = h.doc(body["booking_id"])
    assert doc["status"] == "confirmed"
    assert doc["start"] == datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    assert doc["end"] == datetime(2026, 3, 2, 10, tzinfo=UTC)
    assert doc["creator_id"] == creator.creator_id
    # The manage token itself is not stored in the clear.
    token = body["manage_url"].rsplit("/", 1)[1]
    assert token not in repr(doc)


def test_a_paid_booking_waits_for_payment() -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator, price_cents=2500)
    response = h.book(offer_id, at(9))
    assert response.status_code == 201
    body = response.get_json()
    assert body["status"] == "pending_payment"
    assert h.doc(body["booking_id"])["hold_expires_at"] == h.clock.now() + timedelta(minutes=15)


def test_a_start_with_another_offset_books_the_same_instant() -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    h.booked(offer_id, "2026-03-02T10:00:00+01:00")
    response = h.book(offer_id, at(9))
    assert response.status_code == 409
    assert error_of(response)["code"] == "slot_taken"


def test_a_taken_slot_is_409_and_writes_nothing() -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    h.booked(offer_id, at(9))
    cells_before = h.store.query(CELLS)
    response = h.book(offer_id, at(9), email="late@example.com")
    assert response.status_code == 409
    assert error_of(response)["code"] == "slot_taken"
    assert len(h.store.query(BOOKINGS)) == 1
    assert h.store.query(CELLS) == cells_before


def test_an_overlapping_slot_of_another_offer_is_409() -> None:
    h = Harness()
    creator = h.creator()
    half_hour, hour = h.offer(creator, duration=30), h.offer(creator, duration=60)
    h.booked(half_hour, at(10, 30))
    response = h.book(hour, at(10))
    assert response.status_code == 409
    # Touching is fine.
    assert h.book(hour, at(11)).status_code == 201


@pytest.mark.parametrize(
    "start",
    [
        at(9, 10),  # not on the offer's step
        at(9).replace("09:00:00", "09:00:30"),  # seconds
        at(8, 30),  # before hours
        at(11, 45),  # would run past 12:00
        at(13),  # after hours
        at(9, day=1),  # Sunday: no hours
        at(7, day=2),  # before hours and before now
        "2026-03-01T09:00:00+00:00",
        "2026-02-27T09:00:00+00:00",  # a past Friday slot
    ],
)
def test_a_start_that_is_not_an_available_slot_is_409(start: str) -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    response = h.book(offer_id, start)
    assert response.status_code == 409
    assert error_of(response)["code"] == "slot_unavailable"
    assert h.store.query(BOOKINGS) == []


def test_google_busy_time_blocks_a_booking() -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    h.connections.connect(creator.creator_id, "google")
    assert h.slot_starts(creator.creator_id, offer_id)[0] == at(9)
    # The creator adds a meeting in Google after the fan loaded the page: the booking reads afresh.
    h.calendar.busy.append((datetime(2026, 3, 2, 9, tzinfo=UTC), datetime(2026, 3, 2, 9, 15, tzinfo=UTC)))
    response = h.book(offer_id, at(9))
    assert response.status_code == 409
    assert error_of(response)["code"] == "slot_unavailable"


def test_a_calendar_that_cannot_be_read_does_not_stop_a_booking() -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    h.connections.connect(creator.creator_id, "google")
    h.calendar.fail_next(ProviderError(ErrorKind.TRANSIENT, "google", 503, None, "backend error"), times=5)
    response = h.book(offer_id, at(9))
    assert response.status_code == 201
    assert response.get_json()["status"] == "confirmed"


def test_a_free_plan_creators_offer_cannot_be_booked() -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    h.store.commit([update(CREATORS, creator.creator_id, {"plan": "free"})])
    response = h.book(offer_id, at(9))
    assert response.status_code == 403
    assert error_of(response)["code"] == "plan_required"
    assert h.store.query(BOOKINGS) == []


def test_an_unknown_offer_is_404() -> None:
    h = Harness()
    response = h.book("nope", at(9))
    assert response.status_code == 404
    error_of(response)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"offer_id": "x", "start": "2026-03-02T09:00:00", "fan": {"name": "F", "email": "f@example.com"}},
        {"offer_id": "x", "start": "next tuesday", "fan": {"name": "F", "email": "f@example.com"}},
        {"offer_id": "x", "start": "2026-03-02T09:00:00Z", "fan": {"name": "F", "email": "nope"}},
        {"offer_id": "x", "start": "2026-03-02T09:00:00Z", "fan": {"name": "", "email": "f@example.com"}},
        {"offer_id": "x", "start": "2026-03-02T09:00:00Z"},
        {"offer_id": "", "start": "2026-03-02T09:00:00Z", "fan": {"name": "F", "email": "f@example.com"}},
        [],
        "text",
    ],
)
def test_a_bad_booking_body_is_400(body: Any) -> None:
    h = Harness()
    response = h.client.post("/api/public/bookings", json=body)
    assert response.status_code == 400
    error_of(response)


@pytest.mark.parametrize("raw", [b"{", b"\xff\xfe", b"null", b"42"])
def test_a_body_that_is_not_a_json_object_is_400(raw: bytes) -> None:
    h = Harness()
    response = h.client.post("/api/public/bookings", data=raw, content_type="application/json")
    assert response.status_code == 400
    error_of(response)


@pytest.mark.parametrize(
    "start",
    [
        "9999-12-31T23:59:00+00:00",
        "0001-01-01T00:00:00+00:00",
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:00-12:00",
    ],
)
def test_a_start_at_the_edge_of_the_calendar_is_a_4xx_not_a_500(start: str) -> None:
    h = Harness()
    creator = h.creator(timezone="Pacific/Kiritimati")
    offer_id = h.offer(creator)
    _, token = h.booked(offer_id, "2026-03-03T09:00:00+14:00")
    response = h.book(offer_id, start)
    assert 400 <= response.status_code < 500
    error_of(response)
    moved = h.client.post(f"/api/manage/{token}/reschedule", json={"start": start})
    assert 400 <= moved.status_code < 500
    error_of(moved)


# ---- manage links ---------------------------------------------------------------------------------------------


def test_the_manage_link_shows_the_booking() -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    booking_id, token = h.booked(offer_id, at(9))
    response = h.client.get(f"/api/manage/{token}")
    assert response.status_code == 200
    body = response.get_json()
    assert body["id"] == booking_id
    assert body["status"] == "confirmed"
    assert body["start"] == at(9)
    assert body["fan"] == {"name": "Fan", "email": "fan@example.com"}
    assert "manage_token_hash" not in body
    assert "manage_token_sealed" not in body


def test_an_unknown_manage_token_is_404() -> None:
    h = Harness()
    for method, path in [("GET", "/api/manage/nope"), ("POST", "/api/manage/nope/cancel")]:
        response = h.client.open(path, method=method)
        assert response.status_code == 404
        assert error_of(response)["code"] == "booking_not_found"
    response = h.client.post("/api/manage/nope/reschedule", json={"start": at(9)})
    assert response.status_code == 404


def test_a_fan_reschedules_into_a_free_slot() -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    booking_id, token = h.booked(offer_id, at(9))
    h.store.commit([update(BOOKINGS, booking_id, {"meeting_url": "https://zoom.us/j/1", "link_status": "ready"})])
    response = h.client.post(f"/api/manage/{token}/reschedule", json={"start": at(11)})
    assert response.status_code == 200
    body = response.get_json()
    assert (body["start"], body["end"]) == (at(11), at(11, 30))
    # The old link belongs to the old time: the meetings worker makes a new one.
    assert body["meeting_url"] is None
    assert body["link_status"] == "pending"
    starts = h.slot_starts(creator.creator_id, offer_id)
    assert at(9) in starts
    assert at(11) not in starts
    assert h.doc(booking_id)["change"] == "rescheduled"


def test_a_reschedule_into_a_taken_slot_is_409_and_keeps_the_booking() -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    booking_id, token = h.booked(offer_id, at(9))
    h.booked(offer_id, at(10))
    before = h.doc(booking_id)
    response = h.client.post(f"/api/manage/{token}/reschedule", json={"start": at(10)})
    assert response.status_code == 409
    assert error_of(response)["code"] == "slot_taken"
    assert h.doc(booking_id) == before
    assert at(9) not in h.slot_starts(creator.creator_id, offer_id)


def test_a_reschedule_outside_hours_is_409() -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    _, token = h.booked(offer_id, at(9))
    response = h.client.post(f"/api/manage/{token}/reschedule", json={"start": at(14)})
    assert response.status_code == 409
    assert error_of(response)["code"] == "slot_unavailable"


def test_a_reschedule_to_the_same_time_changes_nothing() -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    booking_id, token = h.booked(offer_id, at(9))
    events = len(h.events())
    response = h.client.post(f"/api/manage/{token}/reschedule", json={"start": at(9)})
    assert response.status_code == 200
    assert h.doc(booking_id)["revision"] == 1
    assert len(h.events()) == events


def test_a_reschedule_with_a_bad_body_is_400() -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    _, token = h.booked(offer_id, at(9))
    for body in ({}, {"start": "soon"}, {"start": "2026-03-02T11:00:00"}):
        response = h.client.post(f"/api/manage/{token}/reschedule", json=body)
        assert response.status_code == 400
        error_of(response)


def test_a_pending_or_cancelled_booking_cannot_be_rescheduled() -> None:
    h = Harness()
    creator = h.creator()
    paid = h.offer(creator, price_cents=100)
    _, token = h.booked(paid, at(9))
    response = h.client.post(f"/api/manage/{token}/reschedule", json={"start": at(11)})
    assert response.status_code == 409
    assert error_of(response)["code"] == "not_reschedulable"
    assert h.client.post(f"/api/manage/{token}/cancel").status_code == 200
    assert h.client.post(f"/api/manage/{token}/reschedule", json={"start": at(11)}).status_code == 409


def test_cancelling_twice_is_idempotent() -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    booking_id, token = h.booked(offer_id, at(9))
    first = h.client.post(f"/api/manage/{token}/cancel")
    assert first.status_code == 200
    assert first.get_json()["status"] == "cancelled"
    doc = h.doc(booking_id)
    assert doc["cancelled_by"] == "fan"
    events = len(h.events())
    second = h.client.post(f"/api/manage/{token}/cancel")
    assert second.status_code == 200
    assert second.get_json()["status"] == "cancelled"
    assert h.doc(booking_id) == doc
    assert len(h.events()) == events
    assert h.store.query(CELLS) == []


def test_the_creator_cancels_their_own_booking_only() -> None:
    h = Harness()
    creator, other = h.creator(), h.creator()
    offer_id = h.offer(creator)
    booking_id, _ = h.booked(offer_id, at(9))
    stranger = h.client.post(f"/api/bookings/{booking_id}/cancel", headers=other.headers)
    assert stranger.status_code == 404
    assert h.doc(booking_id)["status"] == "confirmed"
    response = h.client.post(f"/api/bookings/{booking_id}/cancel", headers=creator.headers)
    assert response.status_code == 200
    assert response.get_json()["status"] == "cancelled"
    assert h.doc(booking_id)["cancelled_by"] == "creator"
    assert h.client.post("/api/bookings/nope/cancel", headers=creator.headers).status_code == 404


# ---- the dashboard list ---------------------------------------------------------------------------------------


def _listed(h: Harness, headers: dict[str, str], scope: str = "upcoming") -> list[dict[str, Any]]:
    response = h.client.get(f"/api/bookings?scope={scope}", headers=headers)
    assert response.status_code == 200
    bookings: list[dict[str, Any]] = response.get_json()["bookings"]
    return bookings


@pytest.mark.parametrize(
    ("url", "chip"),
    [
        ("https://zoom.us/j/123", True),
        ("https://us02web.zoom.us/j/123?pwd=x", True),
        ("https://ZOOM.US/j/1", True),
        ("https://meet.google.com/abc-defg-hij", False),
        ("https://notzoom.us/j/1", False),
        ("https://zoom.us.evil.example/j/1", False),
        ("https://evil.example/zoom.us/j/1", False),
        ("https://zoom.us@evil.example/j/1", False),
        ("https://evil.example/?next=.zoom.us", False),
        (None, False),
    ],
)
def test_the_zoom_chip_shows_exactly_for_zoom_links(url: str | None, chip: bool) -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    booking_id, _ = h.booked(offer_id, at(9))
    h.store.commit([update(BOOKINGS, booking_id, {"meeting_url": url})])
    [item] = _listed(h, creator.headers)
    assert item["meeting_url"] == url
    assert item["zoom_chip"] is chip
    assert item["join_available"] is (url is not None)


def test_join_is_available_only_for_confirmed_bookings_with_a_link() -> None:
    h = Harness()
    creator = h.creator()
    free, paid = h.offer(creator), h.offer(creator, price_cents=900)
    confirmed, _ = h.booked(free, at(9))
    no_link, _ = h.booked(free, at(10))
    pending, _ = h.booked(paid, at(11))
    cancelled, cancel_token = h.booked(free, at(9, day=3))
    for booking_id in (confirmed, pending, cancelled):
        h.store.commit([update(BOOKINGS, booking_id, {"meeting_url": "https://zoom.us/j/9", "link_status": "ready"})])
    assert h.client.post(f"/api/manage/{cancel_token}/cancel").status_code == 200
    # A cancelled booking keeps a stale link on the doc in this test, to check the view does not offer it.
    h.store.commit([update(BOOKINGS, cancelled, {"meeting_url": "https://zoom.us/j/9"})])
    listed = {item["id"]: item for item in _listed(h, creator.headers)}
    assert listed[confirmed]["join_available"] is True
    assert listed[no_link]["join_available"] is False
    assert listed[pending]["join_available"] is False
    assert listed[cancelled]["join_available"] is False
    assert [item["id"] for item in _listed(h, creator.headers)] == [confirmed, no_link, pending, cancelled]


def test_the_list_has_the_contracts_fields() -> None:
    h = Harness()
    creator = h.creator(timezone="Europe/London")
    offer_id = h.offer(creator)
    booking_id, _ = h.booked(offer_id, at(9))
    [item] = _listed(h, creator.headers)
    expected = {
        "id": booking_id,
        "status": "confirmed",
        "start": at(9),
        "end": at(9, 30),
        "timezone": "Europe/London",
        "offer_id": offer_id,
        "fan": {"name": "Fan", "email": "fan@example.com"},
        "meeting_url": None,
        "video_provider": None,
        "zoom_chip": False,
        "join_available": False,
        "link_status": "pending",
    }
    assert {k: item[k] for k in expected} == expected


def test_upcoming_and_past_split_at_the_end_of_a_booking() -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    early, _ = h.booked(offer_id, at(9))
    late, _ = h.booked(offer_id, at(11))
    h.clock.advance(timedelta(hours=1, minutes=29))  # 09:29: the 09:00 session is still on
    assert [b["id"] for b in _listed(h, creator.headers)] == [early, late]
    h.clock.advance(timedelta(minutes=1))
    assert [b["id"] for b in _listed(h, creator.headers)] == [late]
    assert [b["id"] for b in _listed(h, creator.headers, "past")] == [early]


def test_a_creator_sees_only_their_bookings() -> None:
    h = Harness()
    creator, other = h.creator(), h.creator()
    h.booked(h.offer(creator), at(9))
    assert _listed(h, other.headers) == []


def test_an_unknown_scope_is_400() -> None:
    h = Harness()
    creator = h.creator()
    response = h.client.get("/api/bookings?scope=everything", headers=creator.headers)
    assert response.status_code == 400
    assert error_of(response)["message"].startswith("scope:")


# ---- notices --------------------------------------------------------------------------------------------------


def _notice(h: Harness, notice_id: str, creator_id: str, minutes: int = 0) -> None:
    h.store.commit(
        [
            put(
                NOTICES,
                notice_id,
                {
                    "creator_id": creator_id,
                    "kind": "zoom_delete_failed",
                    "booking_id": "b1",
                    "meeting_id": 81000000001,
                    "message": "We could not remove a Zoom meeting for a cancelled session",
                    "created_at": datetime(2026, 3, 2, 7, minutes, tzinfo=UTC),
                    "dismissed": False,
                },
            )
        ]
    )


def test_notices_are_listed_oldest_first_and_dismissed() -> None:
    h = Harness()
    creator, other = h.creator(), h.creator()
    _notice(h, "n2", creator.creator_id, minutes=30)
    _notice(h, "n1", creator.creator_id, minutes=10)
    _notice(h, "theirs", other.creator_id)
    response = h.client.get("/api/notices", headers=creator.headers)
    assert response.status_code == 200
    notices = response.get_json()["notices"]
    assert [n["id"] for n in notices] == ["n1", "n2"]
    assert notices[0] == {
        "id": "n1",
        "kind": "zoom_delete_failed",
        "booking_id": "b1",
        "meeting_id": 81000000001,
        "message": "We could not remove a Zoom meeting for a cancelled session",
        "created_at": "2026-03-02T07:10:00+00:00",
    }
    # Another creator's notice is neither listed nor dismissable.
    assert h.client.post("/api/notices/theirs/dismiss", headers=creator.headers).status_code == 404
    assert h.client.post("/api/notices/nope/dismiss", headers=creator.headers).status_code == 404
    dismissed = h.client.post("/api/notices/n1/dismiss", headers=creator.headers)
    assert (dismissed.status_code, dismissed.get_json()) == (200, {"id": "n1", "dismissed": True})
    assert [n["id"] for n in h.client.get("/api/notices", headers=creator.headers).get_json()["notices"]] == ["n2"]
    # Dismissing again is harmless.
    assert h.client.post("/api/notices/n1/dismiss", headers=creator.headers).status_code == 200
    assert [n["id"] for n in h.client.get("/api/notices", headers=other.headers).get_json()["notices"]] == ["theirs"]


# ---- routing --------------------------------------------------------------------------------------------------


def test_an_unknown_route_is_a_json_404() -> None:
    h = Harness()
    response = h.client.get("/api/nothing/here")
    assert response.status_code == 404
    error_of(response)


def test_a_wrong_method_is_a_json_405() -> None:
    h = Harness()
    response = h.client.delete("/api/public/bookings")
    assert response.status_code == 405
    error_of(response)


def test_the_dev_routes_do_not_exist_outside_local() -> None:
    h = Harness()
    production = {**h.runtime.settings.environ, "FLO_ENV": "production", "OIDC_SERVICE_ACCOUNTS": "a@b.iam"}
    runtime = replace(h.runtime, settings=Settings.from_env(production))
    rules = {r.rule for r in build_routes(bookings_use_cases(runtime))}
    assert "/api/public/bookings" in rules
    assert not any(rule.startswith("/api/dev/") for rule in rules)


def test_the_dev_routes_need_both_local_settings_and_dev_token_auth() -> None:
    """Either alone opens no door: a dev token auth wired outside local, or local settings whose auth is not dev
    tokens (whose issue() the dev creator route calls)."""
    uses = Harness().uses
    assert isinstance(uses.auth, DevTokenAuth) and uses.local
    for wired in (replace(uses, local=False), replace(uses, auth=IdentityPlatformAuth("flo-test"))):
        rules = {r.rule for r in build_routes(wired)}
        assert "/api/public/bookings" in rules
        assert not any(rule.startswith("/api/dev/") for rule in rules)


@pytest.mark.parametrize(("name", "mimetype"), [("pages.css", "text/css"), ("pages.js", "text/javascript")])
def test_the_wired_app_serves_the_pages_assets_with_the_page_headers(name: str, mimetype: str) -> None:
    h = Harness()
    response = h.client.get(f"/assets/{name}")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == mimetype
    assert response.get_data() == (STATIC_DIR / name).read_bytes()
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "public, max-age=300"
    missing = h.client.get("/assets/nothing.css")
    assert missing.status_code == 404
    assert missing.headers["X-Content-Type-Options"] == "nosniff"


# ---- the dashboard list in pages -----------------------------------------------------------------------------


def _pages(h: Harness, creator: Creator, scope: str, limit: int) -> list[list[str]]:
    """Follow next_cursor from the first page to the last; each page's booking ids."""
    pages: list[list[str]] = []
    query = f"/api/bookings?scope={scope}&limit={limit}"
    while True:
        body = h.client.get(query, headers=creator.headers).get_json()
        pages.append([b["id"] for b in body["bookings"]])
        if body["next_cursor"] is None:
            return pages
        query = f"/api/bookings?scope={scope}&limit={limit}&cursor={body['next_cursor']}"


def test_the_bookings_list_pages_upcoming_soonest_first_and_past_newest_first() -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    made = [h.booked(offer_id, at(9 + i // 2, 30 * (i % 2), day=day))[0] for day in (2, 3) for i in range(5)]
    upcoming = _pages(h, creator, "upcoming", 3)
    assert upcoming == [made[0:3], made[3:6], made[6:9], made[9:]]
    everything = h.client.get("/api/bookings", headers=creator.headers).get_json()
    assert [b["id"] for b in everything["bookings"]] == made and everything["next_cursor"] is None
    h.clock.advance(timedelta(hours=26))
    assert _pages(h, creator, "past", 4) == [made[6::-1][:4], made[6::-1][4:]]
    assert _pages(h, creator, "upcoming", 2) == [made[7:9], made[9:]]


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "limit=-1", "limit=two", "cursor=nope", "cursor=e30"])
def test_a_bad_page_size_or_cursor_is_a_400(query: str) -> None:
    h = Harness()
    creator = h.creator()
    response = h.client.get(f"/api/bookings?scope=past&{query}", headers=creator.headers)
    assert response.status_code == 400
    expected = "invalid_cursor" if query.startswith("cursor") else "invalid_request"  # the query model names limit
    assert error_of(response)["code"] == expected, error_of(response)


def test_test_bookings_are_hidden_and_every_page_but_the_last_stays_full() -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    made = [h.booked(offer_id, at(9 + i // 2, 30 * (i % 2), day=day))[0] for day in (2, 3) for i in range(4)]
    tests = {made[1], made[2], made[3], made[6]}  # a run of hidden ones longer than a page, and one more
    h.store.commit([update(BOOKINGS, booking_id, {"test_booking": True}) for booking_id in tests])
    shown = [b for b in made if b not in tests]
    assert _pages(h, creator, "upcoming", 2) == [shown[0:2], shown[2:]]
    assert _pages(h, creator, "upcoming", 3) == [shown[0:3], shown[3:]]
    assert _pages(h, creator, "upcoming", 4) == [shown]
