"""The connect routes with fakes: tiles, the OAuth state's guarantees, callback outcomes, disconnect, webhook."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from werkzeug.test import Client, EnvironBuilder, TestResponse
from werkzeug.wrappers import Request, Response

from services.connect.app import FAILED, bind_browser
from shared.bookings.notices import NOTICES, ZOOM_DELETE_RETRIED
from shared.connections.connect import state_aad
from shared.providers.errors import ErrorKind, ProviderError
from shared.providers.oauth import GOOGLE_SCOPES, pkce_challenge
from shared.vault import Sealed, VaultError
from tests.unit.test_connect_harness import BASE_URL, CREATOR, NOW, ZOOM_USER, Harness, settings_query, signed


@pytest.fixture
def h() -> Harness:
    return Harness()


def test_routes_need_a_creator_token(h: Harness) -> None:
    for method, path in [
        ("GET", "/api/integrations"),
        ("POST", "/api/integrations/zoom/connect"),
        ("POST", "/api/integrations/zoom/disconnect"),
        ("DELETE", "/api/integrations/zoom"),
    ]:
        response = h.client.open(path, method=method, headers={"Authorization": "Bearer nope"})
        assert response.status_code == 401, path
        assert response.get_json()["error"]["code"] == "unauthenticated"


def test_unknown_provider_is_a_json_404(h: Harness) -> None:
    for method, path in [
        ("POST", "/api/integrations/teams/connect"),
        ("POST", "/api/integrations/teams/disconnect"),
        ("DELETE", "/api/integrations/teams"),
        ("GET", "/oauth/teams/callback"),
    ]:
        response = h.client.open(path, method=method, headers=h.headers)
        assert response.status_code == 404, path
        assert response.get_json()["error"]["code"] == "not_found"


def test_tiles_start_not_connected_and_say_what_each_integration_does(h: Harness) -> None:
    empty = {"status": "not_connected", "account_email": None, "connected_at": None, "configure_url": None}
    zoom = {
        "category": "Video",
        "description": "Optional: use Zoom instead of Meet when both Zoom and Google Calendar are connected.",
    }
    tiles = h.tiles()
    assert tiles["zoom"] == {**empty, **zoom}
    assert tiles["google"] == {**empty, "category": "Calendar", "description": tiles["google"]["description"]}
    assert all(word in tiles["google"]["description"] for word in ("Google Calendar", "Google Meet", "busy"))
    h.connect("zoom")
    assert {k: h.tiles()["zoom"][k] for k in zoom} == zoom


def test_connect_url_carries_signed_state_and_s256_challenge_and_stores_the_nonce(h: Harness) -> None:
    response = h.client.post("/api/integrations/google/connect", headers=h.headers)
    query = parse_qs(urlsplit(response.get_json()["authorize_url"]).query)
    assert query["redirect_uri"] == [f"{BASE_URL}/oauth/google/callback"]
    [(nonce, stored)] = h.store.query("oauth_states")
    assert stored["creator_id"] == CREATOR and stored["provider"] == "google"
    assert stored["expires_at"] == NOW + timedelta(minutes=10)
    sealed = Sealed.from_dict(stored["verifier"])
    verifier = h.vault.decrypt(sealed, state_aad(nonce, CREATOR, "google"))
    assert pkce_challenge(verifier) == query["code_challenge"][0]
    with pytest.raises(VaultError):
        h.vault.decrypt(sealed, state_aad(nonce, "creator-2", "google"))


def test_zoom_connect_stores_sealed_tokens_and_shows_the_tile(h: Harness) -> None:
    query = settings_query(h.connect("zoom"))
    assert query == {"connected": ["zoom"]}
    doc = h.connection("zoom")
    assert doc is not None and doc["zoom_user_id"] == ZOOM_USER.id
    assert doc["access_token"]["key_version"] == "v1" and doc["key_version"] == "v1"
    issued = h.oauth["zoom"]._access_tokens | h.oauth["zoom"]._refresh_tokens
    assert issued and not any(token in repr(doc) for token in issued)
    assert h.tiles()["zoom"] == {
        "status": "connected",
        "account_email": ZOOM_USER.email,
        "connected_at": NOW.isoformat(),
        "configure_url": "https://zoom.us/profile",
        "category": "Video",
        "description": "Optional: use Zoom instead of Meet when both Zoom and Google Calendar are connected.",
    }


def test_google_connect_reads_the_email_from_userinfo(h: Harness) -> None:
    assert settings_query(h.connect("google")) == {"connected": ["google"]}
    tile = h.tiles()["google"]
    assert tile["status"] == "connected"
    assert tile["account_email"] == "creator@gmail.example"
    assert tile["configure_url"] is None


def failed(response: TestResponse, missing: str = "") -> None:
    text = f"{FAILED} Missing permission: {missing}" if missing else FAILED
    assert settings_query(response) == {"error": [text]}


def test_deny_stores_nothing(h: Harness) -> None:
    state = h.start("zoom")
    failed(h.callback("zoom", error="access_denied", state=state))
    assert h.connection("zoom") is None


def test_connects_started_one_after_another_in_one_browser_each_complete(h: Harness) -> None:
    """Google pressed while Zoom's consent screen is still open in another tab, and Zoom pressed twice: the
    browser keeps one binding, so every state it started still completes there."""
    first_zoom, google, second_zoom = h.start("zoom"), h.start("google"), h.start("zoom")

    for provider, state in (("zoom", first_zoom), ("google", google)):
        response = h.callback(provider, code=h.oauth[provider].consent(state), state=state)
        assert settings_query(response) == {"connected": [provider]}
    response = h.callback("zoom", code=h.oauth["zoom"].consent(second_zoom), state=second_zoom)
    assert settings_query(response) == {"connected": ["zoom"]}
    assert h.tiles()["zoom"]["status"] == h.tiles()["google"]["status"] == "connected"


def test_a_replayed_state_fails_and_the_first_connection_stays(h: Harness) -> None:
    state = h.start("zoom")
    code = h.oauth["zoom"].consent(state)
    settings_query(h.callback("zoom", code=code, state=state))
    failed(h.callback("zoom", code=code, state=state))
    assert h.oauth["zoom"].calls.count("exchange_code") == 1
    assert h.tiles()["zoom"]["status"] == "connected"


def test_an_expired_state_fails(h: Harness) -> None:
    state = h.start("zoom")
    code = h.oauth["zoom"].consent(state)
    h.clock.advance(timedelta(minutes=10, seconds=1))
    failed(h.callback("zoom", code=code, state=state))
    assert h.connection("zoom") is None


def test_state_is_bound_to_provider_and_signature(h: Harness) -> None:
    state = h.start("zoom")
    code = h.oauth["zoom"].consent(state)
    failed(h.callback("google", code=code, state=state))
    body, _, signature = state.partition(".")
    failed(h.callback("zoom", code=code, state=f"{body}.{signature[::-1]}"))
    failed(h.callback("zoom", code=code))
    assert h.oauth["zoom"].calls.count("exchange_code") == 0


def test_state_of_another_creator_connects_that_creator_only(h: Harness) -> None:
    other = {"Authorization": f"Bearer {h.auth.issue('creator-2')}"}
    state = h.start("zoom", other)
    settings_query(h.callback("zoom", code=h.oauth["zoom"].consent(state), state=state))
    assert h.connection("zoom") is None
    assert h.store.get("connections", "creator-2_zoom") is not None


def test_a_failed_code_exchange_stores_nothing(h: Harness) -> None:
    state = h.start("zoom")
    code = h.oauth["zoom"].consent(state)
    h.oauth["zoom"].fail_next(ProviderError(ErrorKind.TRANSIENT, "zoom", 503))
    failed(h.callback("zoom", code=code, state=state))
    assert h.connection("zoom") is None


def test_google_permission_left_unticked_names_it_and_revokes_the_grant(h: Harness) -> None:
    h.oauth["google"].granted_scopes = GOOGLE_SCOPES - {"https://www.googleapis.com/auth/calendar.events"}
    failed(h.connect("google"), missing="calendar.events")
    assert h.connection("google") is None
    assert h.oauth["google"].calls[-1] == "revoke"


def test_disconnect_revokes_and_deletes(h: Harness) -> None:
    h.connect("zoom")
    response = h.client.post("/api/integrations/zoom/disconnect", headers=h.headers)
    assert response.status_code == 200
    assert response.get_json()["status"] == "not_connected"
    assert h.connection("zoom") is None
    assert len(h.oauth["zoom"].revoked) == 1
    assert h.tiles()["zoom"]["status"] == "not_connected"


def test_disconnect_deletes_even_when_the_provider_is_down(h: Harness) -> None:
    h.connect("google")
    h.oauth["google"].fail_next(ProviderError(ErrorKind.TRANSIENT, "google", 503))
    assert h.client.post("/api/integrations/google/disconnect", headers=h.headers).status_code == 200
    assert h.connection("google") is None


def deauthorize(h: Harness, user_id: str = ZOOM_USER.id) -> None:
    body = {"event": "app_deauthorized", "payload": {"user_id": user_id, "account_id": "acc-1"}}
    raw, headers = signed(body, int(NOW.timestamp()))
    response = h.client.post("/webhooks/zoom", data=raw, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)


def test_deauthorization_marks_reconnect_required_and_drops_the_tokens(h: Harness) -> None:
    h.connect("zoom")
    h.clock.advance(timedelta(minutes=3))
    deauthorize(h)
    doc = h.connection("zoom")
    assert doc is not None and doc["access_token"] is None and doc["refresh_token"] is None
    tile = h.tiles()["zoom"]
    assert tile["status"] == "reconnect_required" and tile["configure_url"] is None
    assert tile["reconnect_reason"] == "app_deauthorized"
    assert tile["reconnect_required_at"] == (NOW + timedelta(minutes=3)).isoformat()


def test_delete_clears_a_reconnect_required_row_and_reconnect_works(h: Harness) -> None:
    h.connect("zoom")
    deauthorize(h)
    assert h.client.delete("/api/integrations/zoom", headers=h.headers).status_code == 200
    assert h.tiles()["zoom"]["status"] == "not_connected"
    settings_query(h.connect("zoom"))
    assert h.tiles()["zoom"]["status"] == "connected"


def test_reconnect_replaces_a_reconnect_required_connection(h: Harness) -> None:
    h.connect("zoom")
    deauthorize(h)
    settings_query(h.connect("zoom"))
    tile = h.tiles()["zoom"]
    assert tile["status"] == "connected" and "reconnect_reason" not in tile
    assert len(h.store.query("connections")) == 1


def test_webhook_answers_url_validation(h: Harness) -> None:
    raw, headers = signed({"event": "endpoint.url_validation", "payload": {"plainToken": "abc"}}, int(NOW.timestamp()))
    response = h.client.post("/webhooks/zoom", data=raw, headers=headers)
    assert response.status_code == 200
    answer = response.get_json()
    assert answer["plainToken"] == "abc" and len(answer["encryptedToken"]) == 64


@pytest.mark.parametrize(
    ("secret", "age"),
    [("wrong-secret", 0), ("zoom-webhook-secret-for-tests", 301)],
    ids=["bad signature", "stale timestamp"],
)
def test_webhook_refuses_unsigned_or_stale_requests(h: Harness, secret: str, age: int) -> None:
    h.connect("zoom")
    body = {"event": "app_deauthorized", "payload": {"user_id": ZOOM_USER.id}}
    raw, headers = signed(body, int(NOW.timestamp()) - age, secret)
    response = h.client.post("/webhooks/zoom", data=raw, headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "bad_signature"
    assert h.tiles()["zoom"]["status"] == "connected"


def test_a_callback_in_another_browser_is_refused_and_connects_nothing(h: Harness) -> None:
    """A creator sending their authorize URL to someone else: that person's consent must not attach their account."""
    state = h.start("zoom")
    code = h.oauth["zoom"].consent(state)
    other_browser = Client(h.client.application)

    refused = other_browser.get("/oauth/zoom/callback", query_string={"code": code, "state": state})

    assert settings_query(refused) == {"error": [FAILED]}
    assert h.connection("zoom") is None
    assert h.tiles()["zoom"]["status"] == "not_connected"


def test_connect_keeps_the_browser_cookie_for_the_state_lifetime_out_of_scripts_reach(h: Harness) -> None:
    response = h.client.post("/api/integrations/zoom/connect", headers=h.headers)
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("flo_oauth_browser=")
    for attribute in ("HttpOnly", "Path=/;", "SameSite=Lax", "Max-Age=600"):
        assert attribute in cookie, cookie
    assert "Secure" not in cookie  # the harness is the local stack, served over plain http


def test_the_browser_cookie_is_secure_outside_local() -> None:
    _, set_cookie = bind_browser(Request(EnvironBuilder().get_environ()), secure=True)
    cookie = set_cookie(Response()).headers["Set-Cookie"]
    for attribute in ("Secure", "HttpOnly", "Path=/;", "SameSite=Lax", "Max-Age=600"):
        assert attribute in cookie, cookie


def test_a_zoom_reconnect_to_the_same_account_deletes_the_meetings_left_behind_meanwhile(h: Harness) -> None:
    h.connect("zoom")
    deauthorize(h)
    h.runtime.notices.zoom_delete_failed(CREATOR, "booking-1", 111)  # a cancel could not delete it meanwhile

    settings_query(h.connect("zoom"))

    [(_, notice)] = h.store.query(NOTICES)
    assert (notice["message"], notice["resolved"]) == (ZOOM_DELETE_RETRIED, True)
    assert h.zoom.calls.count("delete_meeting") == 1
