"""Zoom's app_deauthorized with user_data_retention false: Flo keeps none of the creator's Zoom data (tokens,
account email and user id, scopes, meeting ids on bookings), after noting each session's meeting for the
creator; the sessions keep their links (the product page's promise). With retention, only the tokens go."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from shared.bookings.booking import Booking
from shared.bookings.model import BOOKINGS
from shared.bookings.repository import BookingRepository, DecidedFrom
from shared.connections.zoom_webhook import ZoomWebhook
from shared.providers.models import TokenSet
from shared.store.lease import Lease
from shared.store.port import update
from tests.unit.test_connect_harness import WEBHOOK_SECRET, signed
from tests.unit.test_meetings_harness import local
from tests.unit.test_test_booking import TrialHarness

ZOOM_USER_ID = "zoom-user-42"
LEFT_AFTER_ERASURE = {
    "creator_id",
    "provider",
    "status",
    "connected_at",
    "generation",
    "token_version",
    "key_version",
    "reconnect_reason",
    "reconnect_required_at",
    "broken_mail_due",
}
"""All a connection keeps once Zoom asked Flo to keep no user data: no token, email, user id or scope."""


def _with_zoom_bookings() -> tuple[TrialHarness, list[str]]:
    h = TrialHarness()
    h.connect("zoom")
    booking_ids = [h.book(local(3, 10)), h.book(local(3, 11))]
    for booking_id in booking_ids:
        h.settle(booking_id)
    tokens = TokenSet("access", "refresh", h.clock.now() + timedelta(hours=1), frozenset({"meeting:write"}))
    h.runtime.connection_repository.save(h.creator_id, "zoom", tokens, "host@zoom.example", ZOOM_USER_ID)
    return h, booking_ids


def _deauthorize(h: TrialHarness, retention: Any) -> None:
    payload = {"user_id": ZOOM_USER_ID, "account_id": "acc-1", "user_data_retention": retention}
    raw, headers = signed({"event": "app_deauthorized", "payload": payload}, int(h.clock.now().timestamp()))
    response = h.connect_app.post("/webhooks/zoom", data=raw, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"ok": True, "connections": 1}


def test_no_retention_deletes_the_creators_zoom_data_after_noting_each_meeting() -> None:
    h, booking_ids = _with_zoom_bookings()
    meetings = {b: h.doc(b)["zoom"]["meeting_id"] for b in booking_ids}
    links = {b: h.doc(b)["meeting_url"] for b in booking_ids}

    _deauthorize(h, "false")

    connection = h.store.get("connections", f"{h.creator_id}_zoom")
    assert connection is not None
    assert {k for k, v in connection.items() if v not in (None, [], "")} == LEFT_AFTER_ERASURE
    for booking_id in booking_ids:
        doc = h.doc(booking_id)
        assert doc["zoom"] is None and doc.get("zoom_intent") is None
        assert doc["meeting_url"] == links[booking_id]  # the fan's link stays until cancelled or rescheduled
    noted = {n["booking_id"]: n for n in h.notices()}
    assert {b: int(n["meeting_id"]) for b, n in noted.items()} == meetings
    assert {n["kind"] for n in noted.values()} == {"zoom_meeting_kept"}
    assert all("no longer move or delete" in n["message"] for n in noted.values())
    for _, doc in h.store.query(BOOKINGS):  # only the link itself still names the meeting
        kept = {k: v for k, v in doc.items() if k not in ("meeting_url", "google_event")}
        assert all(str(meeting_id) not in str(kept) for meeting_id in meetings.values())

    # A redelivery finds no connection with the Zoom user id any more: nothing more to do.
    raw, headers = signed(
        {"event": "app_deauthorized", "payload": {"user_id": ZOOM_USER_ID, "user_data_retention": "false"}},
        int(h.clock.now().timestamp()),
    )
    assert h.connect_app.post("/webhooks/zoom", data=raw, headers=headers).get_json() == {"ok": True, "connections": 0}


def test_with_retention_only_the_tokens_go() -> None:
    h, booking_ids = _with_zoom_bookings()

    _deauthorize(h, "true")

    connection = h.store.get("connections", f"{h.creator_id}_zoom")
    assert connection is not None
    assert connection["access_token"] is None and connection["refresh_token"] is None
    assert (connection["account_email"], connection["zoom_user_id"]) == ("host@zoom.example", ZOOM_USER_ID)
    assert all(h.doc(b)["zoom"] is not None for b in booking_ids)
    assert h.notices() == []


class _ChangedUnderTheErasure:
    """The booking repository, where another change lands on a booking just before the erasure's first write,
    as a reschedule racing the webhook would."""

    def __init__(self, inner: BookingRepository) -> None:
        self._inner = inner
        self.raced: list[str] = []

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
        if booking_id not in self.raced:
            self.raced.append(booking_id)
            assert self._inner.update_if(booking_id, seen, replace(seen, revision=seen.revision + 1))
        return self._inner.update_if(booking_id, seen, changes, decided_from, fence)


def test_a_booking_changed_during_the_erasure_is_erased_from_what_it_is_now() -> None:
    h, booking_ids = _with_zoom_bookings()
    raced = _ChangedUnderTheErasure(h.runtime.bookings)
    webhook = ZoomWebhook(WEBHOOK_SECRET, h.runtime.connection_repository, h.clock, raced, h.runtime.notices)
    payload = {"user_id": ZOOM_USER_ID, "user_data_retention": "false"}
    raw, headers = signed({"event": "app_deauthorized", "payload": payload}, int(h.clock.now().timestamp()))

    answer = webhook.handle(headers["x-zm-request-timestamp"], headers["x-zm-signature"], raw)

    assert answer == {"ok": True, "connections": 1}
    assert sorted(raced.raced) == sorted(booking_ids)  # each first write lost to the racing change
    assert all(h.doc(b)["zoom"] is None and h.doc(b)["revision"] == 2 for b in booking_ids)
    assert sorted(n["booking_id"] for n in h.notices()) == sorted(booking_ids)  # noted once each


def test_bookings_without_zoom_data_are_left_as_they_are_and_an_intent_alone_is_erased() -> None:
    h, settled = _with_zoom_bookings()
    untouched = h.book(local(3, 13))  # no meeting was ever made for it
    intent_only = h.book(local(3, 14))
    h.store.commit([update(BOOKINGS, intent_only, {"zoom_intent": "flo-booking x"})])
    before = h.doc(untouched)

    _deauthorize(h, "false")

    assert h.doc(untouched) == before
    assert h.doc(intent_only)["zoom_intent"] is None
    assert sorted(n["booking_id"] for n in h.notices()) == sorted(settled)  # no meeting to note for the others


@pytest.mark.parametrize(
    ("raw", "code"),
    [(b"not json", "invalid_json"), (b"[1]", "invalid_request"), (b'{"payload": {}}', "invalid_request")],
)
def test_a_signed_body_that_is_not_an_event_is_a_400(raw: bytes, code: str) -> None:
    h = TrialHarness()
    timestamp = str(int(h.clock.now().timestamp()))
    digest = hmac.new(WEBHOOK_SECRET.encode(), f"v0:{timestamp}:".encode() + raw, hashlib.sha256).hexdigest()
    headers = {"x-zm-request-timestamp": timestamp, "x-zm-signature": f"v0={digest}"}
    response = h.connect_app.post("/webhooks/zoom", data=raw, headers=headers)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == code


def test_an_unsigned_event_is_refused_and_an_unknown_one_ignored() -> None:
    h = TrialHarness()
    raw, headers = signed({"event": "meeting.started", "payload": {}}, int(h.clock.now().timestamp()))
    forged = {**headers, "x-zm-signature": "v0=" + "0" * 64}
    assert h.connect_app.post("/webhooks/zoom", data=raw, headers=forged).status_code == 401
    answer = h.connect_app.post("/webhooks/zoom", data=raw, headers=headers)
    assert answer.get_json() == {"ok": True, "ignored": "meeting.started"}
