"""Issue 4 through the whole local stack: the Zoom and Google tiles, the OAuth connect flow through the
sandbox's consent pages, reconnect required, disconnect, and Zoom's deauthorization webhook."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from devstack.sandbox.client import authorize
from tests.e2e.flo import Creator, Flo, StackInfo, callback_result, eventually, parse_time

FAILED = "Could not complete connection. Try again or reconnect from the provider."
SETTINGS_URL_PATH = "/dashboard/settings/integrations"


def _landing(flo: Flo, response_location: str) -> None:
    assert response_location.startswith(flo.stack.base_url + SETTINGS_URL_PATH), response_location


def test_a_new_creator_sees_both_tiles_not_connected(flo: Flo) -> None:
    creator = flo.creator()

    tiles = flo.integrations(creator)

    assert set(tiles) == {"zoom", "google"}
    for tile in tiles.values():
        assert tile["status"] == "not_connected"
        assert tile["account_email"] is None
        assert tile["connected_at"] is None
        assert tile["configure_url"] is None


def test_connecting_zoom_shows_the_zoom_email_when_connected_and_the_configure_link(flo: Flo) -> None:
    """Rows: You connect Zoom (secure connection, Zoom email on the tile); Connected (green dot, email,
    when you connected); After you are connected / Configure (zoom.us/profile)."""
    creator = flo.creator()
    before = datetime.now(UTC)

    response = flo.connect(creator, "zoom")

    assert callback_result(response) == {"connected": ["zoom"]}
    _landing(flo, response.headers["Location"])
    tile = flo.tile(creator, "zoom")
    assert tile["status"] == "connected"
    assert tile["account_email"] == creator.email
    assert tile["configure_url"] == "https://zoom.us/profile"
    connected_at = parse_time(tile["connected_at"])
    assert connected_at.tzinfo is not None
    assert before - timedelta(minutes=5) <= connected_at <= datetime.now(UTC) + timedelta(minutes=5)
    assert flo.tile(creator, "google")["status"] == "not_connected"


def test_connected_tiles_never_show_tokens(flo: Flo) -> None:
    creator = flo.creator()
    flo.connected(creator, "zoom", "google")

    body = flo.http.get("/api/integrations", headers=flo.auth(creator)).text

    issued = flo.sandbox.issued_tokens()
    assert issued
    assert not [token for token in issued if token in body]


def test_connecting_google_shows_the_google_account(flo: Flo) -> None:
    creator = flo.creator()

    response = flo.connect(creator, "google")

    assert callback_result(response) == {"connected": ["google"]}
    tile = flo.tile(creator, "google")
    assert tile["status"] == "connected"
    assert tile["account_email"] == creator.email.lower()
    assert tile["connected_at"] is not None
    assert flo.tile(creator, "zoom")["status"] == "not_connected"


def test_denying_zoom_consent_shows_the_error_text_and_stores_nothing(flo: Flo) -> None:
    """Row: Approve access: cancel or deny shows 'Could not complete connection...'."""
    creator = flo.creator()

    response = flo.connect(creator, "zoom", decision="deny")

    result = callback_result(response)
    _landing(flo, response.headers["Location"])
    assert result == {"error": [FAILED]}
    assert flo.tile(creator, "zoom")["status"] == "not_connected"


def test_denying_google_consent_shows_the_error_text(flo: Flo) -> None:
    creator = flo.creator()

    result = callback_result(flo.connect(creator, "google", decision="deny"))

    assert result == {"error": [FAILED]}
    assert flo.tile(creator, "google")["status"] == "not_connected"


def test_google_with_a_permission_unticked_names_the_missing_permission(flo: Flo) -> None:
    creator = flo.creator()

    result = callback_result(
        flo.connect(creator, "google", granted_scopes=["https://www.googleapis.com/auth/calendar.freebusy"])
    )

    [error] = result["error"]
    assert error.startswith(FAILED)
    assert "calendar.events" in error
    assert "calendar.freebusy" not in error
    assert flo.tile(creator, "google")["status"] == "not_connected"


def test_a_replayed_callback_does_not_connect_again(flo: Flo) -> None:
    creator = flo.creator()
    flo.sandbox.create_zoom_user(creator.email)
    r = flo.http.post("/api/integrations/zoom/connect", headers=flo.auth(creator))
    assert r.status_code == 200, r.text
    location = authorize(r.json()["authorize_url"], creator.email)
    callback = urlsplit(location)
    path = f"{callback.path}?{callback.query}"
    assert callback_result(flo.http.get(path)) == {"connected": ["zoom"]}
    assert flo.disconnect(creator, "zoom").status_code == 200

    replayed = flo.http.get(path)

    assert callback_result(replayed) == {"error": [FAILED]}
    assert flo.tile(creator, "zoom")["status"] == "not_connected"


def _zoom_booking(flo: Flo, creator: Creator, index: int = 0) -> str:
    offer = flo.offer(creator)
    return str(flo.book(offer, flo.first_slot(creator, offer, index=index))["booking_id"])


def test_revoked_grant_with_expired_tokens_turns_the_tile_reconnect_required_on_next_use(flo: Flo) -> None:
    """Row: Reconnect required (access removed in Zoom, tokens cannot refresh) -> tile Reconnect required;
    Flo cannot create meetings until fixed; a reconnect clears it."""
    creator = flo.creator()
    flo.connected(creator, "zoom")
    assert flo.sandbox.revoke("zoom", creator.email) >= 1
    flo.sandbox.expire_access_tokens("zoom")
    assert flo.tile(creator, "zoom")["status"] == "connected"  # nothing has used it yet

    booking_id = _zoom_booking(flo, creator)

    booking = flo.settled(creator, booking_id)
    assert booking["status"] == "confirmed"
    assert booking["link_status"] == "unavailable"
    assert booking["meeting_url"] is None
    tile = eventually(
        lambda: t if (t := flo.tile(creator, "zoom"))["status"] == "reconnect_required" else None,
        what="zoom tile reconnect_required",
    )
    assert tile["configure_url"] is None
    assert flo.zoom_meetings(creator) == []

    assert callback_result(flo.connect(creator, "zoom")) == {"connected": ["zoom"]}

    tile = flo.tile(creator, "zoom")
    assert tile["status"] == "connected"
    assert tile["account_email"] == creator.email
    assert tile["configure_url"] == "https://zoom.us/profile"
    later = flo.settled(creator, _zoom_booking(flo, creator, index=1))
    assert later["video_provider"] == "zoom"
    # The reconnect also gave the booking that got no link its Zoom meeting (issue 14: links come back).
    healed = eventually(
        lambda: b if (b := flo.booking(creator, booking_id))["link_status"] == "ready" else None,
        what="the unlinked booking healed",
    )
    assert sorted(m["join_url"] for m in flo.zoom_meetings(creator)) == sorted(
        [healed["meeting_url"], later["meeting_url"]]
    )


def test_remove_connection_clears_a_broken_row_then_connect_fresh(flo: Flo) -> None:
    """Row: Reconnect required -> Remove connection clears the broken row, then Connect fresh."""
    creator = flo.creator()
    flo.connected(creator, "zoom")
    flo.sandbox.send_zoom_deauthorization(
        url=flo.stack.base_url + "/webhooks/zoom", secret=flo.stack.zoom_webhook_secret, user=creator.email
    )
    assert flo.tile(creator, "zoom")["status"] == "reconnect_required"

    r = flo.http.delete("/api/integrations/zoom", headers=flo.auth(creator))

    assert r.status_code == 200, r.text
    assert flo.tile(creator, "zoom")["status"] == "not_connected"
    flo.connected(creator, "zoom")


def test_disconnect_revokes_at_zoom_and_new_bookings_get_no_zoom_meeting(flo: Flo) -> None:
    """Row: Disconnect removes Flo's access; new bookings will not create Zoom meetings."""
    creator = flo.creator()
    flo.connected(creator, "zoom")
    flo.sandbox.clear_calls()

    r = flo.disconnect(creator, "zoom")

    assert r.status_code == 200, r.text
    assert r.json()["status"] == "not_connected"
    assert flo.tile(creator, "zoom")["status"] == "not_connected"
    revokes = [c for c in flo.sandbox.calls("zoom") if c["path"].endswith("/oauth/revoke")]
    assert len(revokes) == 1, revokes
    assert revokes[0]["status"] == 200
    booking = flo.settled(creator, _zoom_booking(flo, creator))
    assert booking["status"] == "confirmed"
    assert booking["link_status"] == "unavailable"
    assert flo.zoom_meetings(creator) == []


def test_disconnect_google_revokes_at_google(flo: Flo) -> None:
    creator = flo.creator()
    flo.connected(creator, "google")
    flo.sandbox.clear_calls()

    r = flo.disconnect(creator, "google")

    assert r.status_code == 200, r.text
    assert flo.tile(creator, "google")["status"] == "not_connected"
    revokes = [c for c in flo.sandbox.calls("google") if c["path"].endswith("/revoke")]
    assert len(revokes) == 1, revokes


def test_zoom_deauthorization_webhook_turns_the_tile_reconnect_required(flo: Flo, stack: StackInfo) -> None:
    creator = flo.creator()
    other = flo.creator()
    flo.connected(creator, "zoom")
    flo.connected(other, "zoom")

    delivery = flo.sandbox.send_zoom_deauthorization(
        url=stack.base_url + "/webhooks/zoom", secret=stack.zoom_webhook_secret, user=creator.email
    )

    assert delivery["status"] == 200, delivery
    tile = flo.tile(creator, "zoom")
    assert tile["status"] == "reconnect_required"
    assert tile["account_email"] == creator.email
    assert flo.tile(other, "zoom")["status"] == "connected"


def test_zoom_webhook_with_a_bad_signature_is_refused_and_changes_nothing(flo: Flo, stack: StackInfo) -> None:
    creator = flo.creator()
    flo.connected(creator, "zoom")

    delivery = flo.sandbox.send_zoom_deauthorization(
        url=stack.base_url + "/webhooks/zoom", secret="not-the-secret", user=creator.email, revoke=False
    )

    assert delivery["status"] == 401, delivery
    assert flo.tile(creator, "zoom")["status"] == "connected"


def test_zoom_webhook_url_validation_answers_as_zoom_expects(stack: StackInfo, flo: Flo) -> None:
    result = flo.sandbox.send_zoom_url_validation(stack.base_url + "/webhooks/zoom", stack.zoom_webhook_secret)

    assert result["status"] == 200, result
    assert result["valid"] is True


def test_integration_routes_need_a_creator_token(flo: Flo) -> None:
    r = flo.http.get("/api/integrations")

    assert r.status_code == 401, r.text
    assert "error" in r.json()


def test_an_unknown_provider_is_a_json_404(flo: Flo) -> None:
    creator = flo.creator()

    r = flo.http.post("/api/integrations/teams/connect", headers=flo.auth(creator))

    assert r.status_code == 404, r.text
    assert r.json()["error"]["code"] == "not_found"  # the route's provider converter matches zoom and google only
