"""The connect service as build_app wires it from a Runtime (local settings, fake store), driven over HTTP:
kills mutants in the wiring that the route tests, which hand in their own deps, never reach."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import parse_qs, urlsplit

from werkzeug.test import Client

from services.connect.app import build_app
from shared.auth import DevTokenAuth
from shared.bootstrap import Runtime
from shared.config import Settings
from shared.secrets import EnvSecretSource
from tests.fakes.bus import FakePublisher
from tests.fakes.clock import FakeClock
from tests.fakes.store import FakeDocStore
from tests.unit.test_bookings_harness import BASE_URL, ENV, KEYS, MANAGE_KEYS, NOW
from tests.unit.test_connect_harness import signed

SECRETS = {
    "TOKEN_ENCRYPTION_KEYS": KEYS,
    "MANAGE_TOKEN_KEYS": MANAGE_KEYS,
    "ZOOM_CLIENT_ID": "zoom-client-id",
    "ZOOM_CLIENT_SECRET": "zoom-client-secret",
    "GOOGLE_CLIENT_ID": "google-client-id",
    "GOOGLE_CLIENT_SECRET": "google-client-secret",
    "OAUTH_STATE_SECRET": "s" * 32,
    "ZOOM_WEBHOOK_SECRET": "wired-webhook-secret",
}


def wired() -> tuple[Client, dict[str, str]]:
    store = FakeDocStore()
    runtime = Runtime(
        service="connect",
        settings=Settings.from_env(ENV),
        store=store,
        publisher=FakePublisher(),
        clock=FakeClock(NOW),
        secrets=EnvSecretSource(SECRETS),
    )
    headers = {"Authorization": f"Bearer {DevTokenAuth(store).issue('creator-1')}"}
    return Client(build_app(runtime)), headers


def test_the_wired_connect_service_serves_tiles_to_a_local_creator() -> None:
    client, headers = wired()
    response = client.get("/api/integrations", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert (body["zoom"]["status"], body["google"]["status"]) == ("not_connected", "not_connected")
    assert client.get("/api/integrations").status_code == 401


def test_the_wired_connect_button_sends_the_creator_to_zoom_with_this_apps_redirect() -> None:
    client, headers = wired()
    response = client.post("/api/integrations/zoom/connect", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    url = urlsplit(response.get_json()["authorize_url"])
    query = parse_qs(url.query)
    assert f"{url.scheme}://{url.netloc}{url.path}" == "https://zoom.us/oauth/authorize"
    assert query["client_id"] == ["zoom-client-id"]
    assert query["redirect_uri"] == [f"{BASE_URL}/oauth/zoom/callback"]
    callback = client.get("/oauth/zoom/callback", query_string={"state": query["state"][0], "error": "access_denied"})
    assert callback.status_code == 302
    assert callback.headers["Location"].startswith(f"{BASE_URL}/dashboard/settings/integrations?error=")


def test_the_wired_webhook_checks_signatures_with_the_webhook_secret() -> None:
    client, _ = wired()
    secret = SECRETS["ZOOM_WEBHOOK_SECRET"]
    body = {"event": "endpoint.url_validation", "payload": {"plainToken": "plain-1"}}
    raw, headers = signed(body, int(NOW.timestamp()), secret=secret)
    response = client.post("/webhooks/zoom", data=raw, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    expected = hmac.new(secret.encode(), b"plain-1", hashlib.sha256).hexdigest()
    assert response.get_json() == {"plainToken": "plain-1", "encryptedToken": expected}
    raw, headers = signed(body, int(NOW.timestamp()), secret="another-secret")
    assert client.post("/webhooks/zoom", data=raw, headers=headers).status_code == 401
