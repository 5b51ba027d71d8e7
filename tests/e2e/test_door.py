"""Issue 11 at the door, through the whole local stack: what a fan types or a client sends that could never
be emailed or stored is refused with a 4xx naming it, before anything is booked; a session that has started
is no longer the fan's to move or cancel; the gateway's per-IP limit trips."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from devstack.emulators import free_port
from devstack.gateway import Gateway, serve_gateway
from devstack.ratelimit import limiter_from_env
from shared.bookings.model import BOOKINGS
from shared.store.port import update
from shared.topology import load_topology
from shared.web import MAX_BODY_BYTES
from tests.e2e.flo import Flo, StackInfo

pytestmark = pytest.mark.e2e


def _post_booking(flo: Flo, offer_id: str, start: str, fan: dict[str, Any]) -> httpx.Response:
    return flo.http.post("/api/public/bookings", json={"offer_id": offer_id, "start": start, "fan": fan})


def _error(response: httpx.Response, status: int) -> dict[str, str]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error: dict[str, str] = response.json()["error"]
    assert error["code"]
    assert error["message"]
    return error


@pytest.mark.parametrize(
    ("fan", "field"),
    [
        ({"name": "Frankie\r\nBcc: everyone@example.com", "email": "frankie@example.com"}, "fan.name"),
        ({"name": "Frankie", "email": "frankie@example.com", "timezone": "Mars/Olympus"}, "fan.timezone"),
    ],
)
def test_a_fan_who_could_never_be_emailed_is_refused_and_nothing_is_booked(
    flo: Flo, fan: dict[str, Any], field: str
) -> None:
    creator = flo.creator()
    offer_id = flo.offer(creator)
    start = flo.first_slot(creator, offer_id)
    error = _error(_post_booking(flo, offer_id, start, fan), 400)
    assert error["message"].startswith(f"{field}:")
    assert flo.bookings(creator) == {}
    assert start in [s["start"] for s in flo.slots(creator, offer_id, *_day_of(start))["slots"]]  # still free


def _day_of(start: str) -> tuple[Any, Any]:
    day = datetime.fromisoformat(start).date()
    return day, day


def test_an_unknown_creator_timezone_is_refused(flo: Flo) -> None:
    creator = flo.creator()
    response = flo.http.put(
        "/api/settings/availability",
        headers=flo.auth(creator),
        json={"timezone": "Mars/Olympus", "weekly_hours": {"mon": [["09:00", "17:00"]]}},
    )
    assert _error(response, 400)["message"].startswith("timezone:")


def test_an_internationalized_address_is_accepted_and_booked(flo: Flo) -> None:
    creator = flo.creator()
    offer_id = flo.offer(creator)
    fan = {"name": "Zoë Ñandú", "email": "zoë@example.com", "timezone": "Europe/Paris"}
    response = _post_booking(flo, offer_id, flo.first_slot(creator, offer_id), fan)
    assert response.status_code == 201, response.text
    booking = flo.booking(creator, response.json()["booking_id"])
    assert booking["fan"] == {"name": "Zoë Ñandú", "email": "zoë@example.com"}
    assert booking["status"] == "confirmed"


@pytest.fixture
def emulator_store(stack: StackInfo, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The stack's Firestore, to let time pass for one booking (moving it into the past)."""
    from shared.store.firestore import FirestoreDocStore

    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", stack.firestore_emulator)
    yield FirestoreDocStore(stack.project_id)


def test_a_started_session_cannot_be_moved_or_cancelled_by_the_fan_but_the_creator_can_cancel(
    flo: Flo, emulator_store: Any
) -> None:
    creator = flo.creator()
    offer_id = flo.offer(creator)
    booking = flo.book(offer_id, flo.first_slot(creator, offer_id))
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    emulator_store.commit(
        [update(BOOKINGS, booking["booking_id"], {"start": started, "end": started + timedelta(minutes=30)})]
    )
    later = flo.first_slot(creator, offer_id, days_ahead=4)
    assert _error(flo.reschedule(booking, later), 409)["code"] == "session_started"
    assert _error(flo.fan_cancel(booking), 409)["code"] == "session_started"
    assert flo.any_booking(creator, booking["booking_id"])["status"] == "confirmed"
    cancelled = flo.creator_cancel(creator, booking["booking_id"])
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"


def test_huge_and_deeply_nested_bodies_are_refused(flo: Flo, stack: StackInfo) -> None:
    huge = b'{"offer_id": "x", "fan": {"name": "' + b"a" * MAX_BODY_BYTES + b'"}}'
    headers = {"content-type": "application/json"}
    _error(flo.http.post("/api/public/bookings", content=huge, headers=headers), 413)
    deep = b'{"offer_id": "x", "fan": ' + b"[" * 20_000 + b"]" * 20_000 + b"}"
    assert _error(flo.http.post("/api/public/bookings", content=deep, headers=headers), 400)["code"] == "too_deep"
    creator = flo.creator()
    creator_deep = b'{"timezone": "UTC", "weekly_hours": {"mon": ' + b"[" * 50 + b"]" * 50 + b"}}"
    response = flo.http.put(
        "/api/settings/availability", content=creator_deep, headers={**headers, **flo.auth(creator)}
    )
    assert _error(response, 400)["code"] == "too_deep"
    _error(flo.http.post("/webhooks/zoom", content=huge, headers=_zoom_headers(stack, huge, int(time.time()))), 413)


def _raw_get(base_url: str, path: str) -> tuple[int, str, dict[str, Any]]:
    """A request whose path is sent byte for byte (httpx would normalise '..')."""
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.getheader("content-type", ""), json.loads(response.read())
    finally:
        connection.close()


@pytest.mark.parametrize("bad", ["..", "%2E%2E", "__x__", "x" * 1501, "a%2Fb", "%C3%A9" * 751, "a%0Ab"])
def test_ids_firestore_cannot_hold_are_a_json_404(flo: Flo, stack: StackInfo, bad: str) -> None:
    creator = flo.creator()
    offer_id = flo.offer(creator)
    for path in [
        f"/api/manage/{bad}",
        f"/api/public/creators/{bad}/offers/{offer_id}/slots?from=2030-01-07&to=2030-01-07",
        f"/api/public/creators/{creator.creator_id}/offers/{bad}/slots?from=2030-01-07&to=2030-01-07",
    ]:
        status, content_type, body = _raw_get(stack.base_url, path)
        assert status == 404, (path, body)
        assert content_type.startswith("application/json")
        assert body["error"]["code"]
    for path in [f"/api/bookings/{bad}/cancel", f"/api/notices/{bad}/dismiss"]:
        _error(flo.http.post(path, headers=flo.auth(creator)), 404)


def _zoom_headers(stack: StackInfo, body: bytes, timestamp: int | str) -> dict[str, str]:
    message = b"v0:" + str(timestamp).encode() + b":" + body
    signature = "v0=" + hmac.new(stack.zoom_webhook_secret.encode(), message, hashlib.sha256).hexdigest()
    return {"x-zm-request-timestamp": str(timestamp), "x-zm-signature": signature, "content-type": "application/json"}


@pytest.mark.parametrize("timestamp", ["9" * 400, "9" * 20, "-1", "1e9", "+1", "0"])
def test_a_zoom_webhook_with_an_absurd_timestamp_is_refused_like_a_stale_one(
    flo: Flo, stack: StackInfo, timestamp: str
) -> None:
    body = json.dumps({"event": "endpoint.url_validation", "payload": {"plainToken": "abc"}}).encode()
    response = flo.http.post("/webhooks/zoom", content=body, headers=_zoom_headers(stack, body, timestamp))
    assert _error(response, 401)["code"] == "bad_signature"
    fresh = flo.http.post("/webhooks/zoom", content=body, headers=_zoom_headers(stack, body, int(time.time())))
    assert fresh.status_code == 200, fresh.text  # the same request, signed now, is answered


def test_the_gateway_limits_each_client_on_public_routes(stack: StackInfo) -> None:
    """A gateway of the stack's own kind, with FLO_RATE_LIMIT_PER_MINUTE=5, in front of the same services."""
    port = free_port()
    server = serve_gateway(
        Gateway(load_topology(), stack.services, limiter_from_env({"FLO_RATE_LIMIT_PER_MINUTE": "5"})), port
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            slots = "/api/public/creators/x/offers/y/slots?from=2030-01-07&to=2030-01-07"
            answers = [client.get(slots).status_code for _ in range(5)]
            assert answers == [404] * 5  # answered (no such offer) while under the limit
            assert client.get("/health/bookings").status_code == 200  # local-only health: not a public route
            limited = client.get(slots)
            assert _error(limited, 429)["code"] == "rate_limited"
            assert 1 <= int(limited.headers["Retry-After"]) <= 60
            assert client.post("/tasks/reminders").status_code == 200  # not a public route: not limited
    finally:
        server.shutdown()
