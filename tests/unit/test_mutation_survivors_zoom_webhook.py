"""Zoom's webhook edges that mutation testing found untested: what each refusal tells Zoom (its delivery log is
where an engineer sees why events bounce), the event name's length bounds, a payload that is missing or not an
object, and the erasure reaching past sessions and leaving bookings without Zoom data unwritten."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta
from typing import Any

import pytest

from shared.bookings.booking import Booking
from shared.bookings.repository import BookingRepository, DecidedFrom
from shared.connections.zoom_webhook import MAX_EVENT_LENGTH, ZoomWebhook
from shared.errors import NotAuthenticatedError
from shared.store.lease import Lease
from tests.unit.test_connect_harness import WEBHOOK_SECRET, signed
from tests.unit.test_meetings_harness import local
from tests.unit.test_test_booking import TrialHarness
from tests.unit.test_zoom_erasure import ZOOM_USER_ID, _deauthorize, _with_zoom_bookings

TOKEN_REQUIRED = "payload.plainToken is required."
USER_ID_REQUIRED = "payload.user_id is required."


def _signed_raw(raw: bytes, timestamp: str, secret: str = WEBHOOK_SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + raw, hashlib.sha256).hexdigest()
    return {"x-zm-request-timestamp": timestamp, "x-zm-signature": f"v0={digest}"}


def _error(h: TrialHarness, raw: bytes, headers: dict[str, str]) -> tuple[int, str, str]:
    response = h.connect_app.post("/webhooks/zoom", data=raw, headers=headers)
    error = response.get_json()["error"]
    return response.status_code, error["code"], error["message"]


def test_each_refused_signature_says_why() -> None:
    h = TrialHarness()
    now = int(h.clock.now().timestamp())
    raw = json.dumps({"event": "meeting.started", "payload": {}}).encode()
    good = _signed_raw(raw, str(now))

    refusals = {
        "missing x-zm-request-timestamp or x-zm-signature header": {"x-zm-signature": good["x-zm-signature"]},
        "x-zm-request-timestamp is not a whole number of seconds": _signed_raw(raw, f"{now}.5"),
        "x-zm-request-timestamp is more than 5 minutes from now": _signed_raw(raw, str(now - 301)),
        "x-zm-signature does not match": _signed_raw(raw, str(now), "another-secret"),
    }
    for message, headers in refusals.items():
        assert _error(h, raw, headers) == (401, "bad_signature", message)


def test_a_webhook_without_its_secret_refuses_every_request_and_says_so() -> None:
    h = TrialHarness()
    webhook = ZoomWebhook("", h.runtime.connection_repository, h.clock, h.runtime.bookings, h.runtime.notices)
    raw, headers = signed({"event": "meeting.started", "payload": {}}, int(h.clock.now().timestamp()), secret="")

    with pytest.raises(NotAuthenticatedError) as refused:
        webhook.handle(headers["x-zm-request-timestamp"], headers["x-zm-signature"], raw)

    assert (refused.value.code, refused.value.message) == ("bad_signature", "webhook secret is not configured")


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        (b"not json", "invalid_json", "The request body must be JSON."),
        (b"[1]", "invalid_request", "The body must be a JSON object."),
        (b'{"payload": {}}', "invalid_request", f"event: a name of 1 to {MAX_EVENT_LENGTH} characters."),
        (b'{"event": ""}', "invalid_request", f"event: a name of 1 to {MAX_EVENT_LENGTH} characters."),
        (
            json.dumps({"event": "e" * (MAX_EVENT_LENGTH + 1)}).encode(),
            "invalid_request",
            f"event: a name of 1 to {MAX_EVENT_LENGTH} characters.",
        ),
        (b'{"event": "endpoint.url_validation"}', "invalid_request", TOKEN_REQUIRED),
        (b'{"event": "endpoint.url_validation", "payload": ["x"]}', "invalid_request", TOKEN_REQUIRED),
        (b'{"event": "endpoint.url_validation", "payload": {"plainToken": 1}}', "invalid_request", TOKEN_REQUIRED),
        (b'{"event": "app_deauthorized", "payload": {"user_id": ""}}', "invalid_request", USER_ID_REQUIRED),
    ],
)
def test_a_signed_body_that_is_not_a_usable_event_is_a_400_that_says_what_is_wrong(
    body: bytes, code: str, message: str
) -> None:
    h = TrialHarness()
    headers = _signed_raw(body, str(int(h.clock.now().timestamp())))

    assert _error(h, body, headers) == (400, code, message)


@pytest.mark.parametrize("length", [1, MAX_EVENT_LENGTH])
def test_an_event_name_of_one_to_the_longest_length_is_taken_and_an_unknown_one_ignored(length: int) -> None:
    h = TrialHarness()
    event = "e" * length
    raw, headers = signed({"event": event, "payload": {}}, int(h.clock.now().timestamp()))

    response = h.connect_app.post("/webhooks/zoom", data=raw, headers=headers)

    assert (response.status_code, response.get_json()) == (200, {"ok": True, "ignored": event})


def test_no_retention_erases_the_meeting_ids_of_past_sessions_too() -> None:
    h, booking_ids = _with_zoom_bookings()
    meetings = {b: h.doc(b)["zoom"]["meeting_id"] for b in booking_ids}
    h.clock.advance(timedelta(days=3))  # both sessions are over

    _deauthorize(h, "false")

    assert all(h.doc(b)["zoom"] is None for b in booking_ids)
    noted = {n["booking_id"]: n for n in h.notices()}
    assert {b: int(n["meeting_id"]) for b, n in noted.items()} == meetings
    assert {n["creator_id"] for n in noted.values()} == {h.creator_id}  # on the creator's dashboard


class _CountedWrites:
    """The booking repository, counting which bookings the erasure writes."""

    def __init__(self, inner: BookingRepository) -> None:
        self._inner = inner
        self.written: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def update_if(
        self,
        booking_id: str,
        seen: Booking,
        changes: Booking,
        decided_from: DecidedFrom = Booking.decided_from,
        fence: Lease | None = None,
    ) -> Booking | None:
        self.written.append(booking_id)
        return self._inner.update_if(booking_id, seen, changes, decided_from, fence)


def test_the_erasure_writes_only_the_bookings_that_hold_zoom_data() -> None:
    h, with_zoom = _with_zoom_bookings()
    without = h.book(local(3, 13))  # never given a meeting
    counted = _CountedWrites(h.runtime.bookings)
    webhook = ZoomWebhook(WEBHOOK_SECRET, h.runtime.connection_repository, h.clock, counted, h.runtime.notices)
    payload = {"user_id": ZOOM_USER_ID, "user_data_retention": "false"}
    raw, headers = signed({"event": "app_deauthorized", "payload": payload}, int(h.clock.now().timestamp()))

    assert webhook.handle(headers["x-zm-request-timestamp"], headers["x-zm-signature"], raw)["connections"] == 1

    assert sorted(counted.written) == sorted(with_zoom)
    assert without not in counted.written
