"""Zoom's app_deauthorized with user_data_retention false: Flo keeps none of the creator's Zoom data (tokens,
account email and user id, scopes, meeting ids on bookings), after noting each session's meeting for the
creator; the sessions keep their links (the product page's promise). With retention, only the tokens go."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from shared.bookings.model import BOOKINGS
from shared.providers.models import TokenSet
from tests.unit.test_connect_harness import signed
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
