"""The connect service against the provider sandbox and the Firestore emulator: real OAuth, real HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.test import Client, TestResponse

from devstack.sandbox import SandboxServer
from devstack.sandbox.client import Provider, SandboxControl, authorize
from services.connect.app import FAILED, build_app
from shared.auth import DevTokenAuth
from shared.bootstrap import Runtime
from shared.config import Settings
from shared.connections.repository import REFRESH_LEASE, DocStoreConnections, RefreshPolicy
from shared.logs import configure_logging
from shared.providers.errors import ErrorKind, ProviderError
from shared.providers.models import TokenSet
from shared.providers.oauth import GOOGLE_SCOPES, ZoomOAuth
from shared.providers.urls import ProviderUrls
from shared.providers.zoom import ZoomClient
from shared.secrets import EnvSecretSource
from shared.store.firestore import FirestoreDocStore
from shared.web import WebApp
from tests.fakes.bus import FakePublisher
from tests.fakes.clock import FakeClock
from tests.integration.conftest import PROJECT_ID

pytestmark = pytest.mark.integration

CREATOR = "creator-1"
ZOOM_HOST = "host@zoom.example"
GOOGLE_USER = "creator@gmail.example"
SECRETS = {
    "ZOOM_CLIENT_ID": "flo-zoom-client",
    "ZOOM_CLIENT_SECRET": "flo-zoom-client-secret",
    "GOOGLE_CLIENT_ID": "flo-google-client",
    "GOOGLE_CLIENT_SECRET": "flo-google-client-secret",
    "ZOOM_WEBHOOK_SECRET": "flo-zoom-webhook-secret",
    "OAUTH_STATE_SECRET": "flo-oauth-state-secret-for-integration-tests",
    "TOKEN_ENCRYPTION_KEYS": "v1:" + base64.urlsafe_b64encode(bytes(range(32))).decode().rstrip("="),
    "MANAGE_TOKEN_KEYS": "m1:" + base64.urlsafe_b64encode(bytes(range(32, 64))).decode().rstrip("="),
}
"""As Terraform grants them to connect (the test booking seals a manage token like any booking)."""


class _LateApp:
    """The server must exist before the app (its port is the base URL), so the app is set afterwards."""

    app: WebApp | None = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        assert self.app is not None
        return self.app(environ, start_response)


class _Quiet(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Request lines are not needed here (and query strings may carry codes)."""


@dataclass
class Flo:
    """The connect service over HTTP (for the sandbox's webhooks) and in process (for everything else)."""

    runtime: Runtime
    client: Client
    clock: FakeClock
    control: SandboxControl
    webhook_url: str
    headers: dict[str, str]
    responses: list[str] = field(default_factory=list)

    def _seen(self, response: TestResponse) -> TestResponse:
        self.responses.append(f"{response.status_code} {dict(response.headers)} {response.get_data(as_text=True)}")
        return response

    def get(self, path: str) -> TestResponse:
        return self._seen(self.client.get(path, headers=self.headers))

    def post(self, path: str) -> TestResponse:
        return self._seen(self.client.post(path, headers=self.headers))

    def delete(self, path: str) -> TestResponse:
        return self._seen(self.client.delete(path, headers=self.headers))

    def authorize_url(self, provider: str) -> str:
        response = self.post(f"/api/integrations/{provider}/connect")
        assert response.status_code == 200, response.get_data(as_text=True)
        url: str = response.get_json()["authorize_url"]
        return url

    def follow(self, location: str) -> dict[str, list[str]]:
        """Return from the provider to Flo's callback; the query of Flo's redirect to the settings page."""
        parts = urlsplit(location)
        response = self._seen(self.client.get(parts.path, query_string=parts.query))
        assert response.status_code == 302, response.get_data(as_text=True)
        target = urlsplit(response.headers["Location"])
        assert target.path == "/dashboard/settings/integrations"
        return parse_qs(target.query)

    def connect(self, provider: str, user: str, **consent: Any) -> dict[str, list[str]]:
        return self.follow(authorize(self.authorize_url(provider), user, **consent))

    def tile(self, provider: str) -> dict[str, Any]:
        tile: dict[str, Any] = self.get("/api/integrations").get_json()[provider]
        return tile

    def connection(self, provider: str) -> dict[str, Any] | None:
        return self.runtime.store.get("connections", f"{CREATOR}_{provider}")

    def use_zoom(self, connections: DocStoreConnections | None = None) -> str:
        """What a worker does: call Zoom with the creator's token (here: who am I)."""
        zoom = self.runtime.zoom
        return (connections or self.runtime.connections).with_token(CREATOR, "zoom", lambda t: zoom.get_me(t).id)


@pytest.fixture
def flo(firestore_store: FirestoreDocStore, control: SandboxControl, sandbox_server: SandboxServer) -> Iterator[Flo]:
    late = _LateApp()
    server = make_server("127.0.0.1", 0, late, threaded=True, request_handler=_Quiet)
    base_url = f"http://127.0.0.1:{server.server_port}"
    env = {"FLO_ENV": "local", "FLO_BASE_URL": base_url, "GOOGLE_CLOUD_PROJECT": PROJECT_ID}
    clock = FakeClock(datetime.now(UTC))
    runtime = Runtime(
        service="connect",
        settings=Settings.from_env({**env, "PROVIDER_SANDBOX_URL": sandbox_server.url}),
        store=firestore_store,
        publisher=FakePublisher(),
        clock=clock,
        secrets=EnvSecretSource(SECRETS),
    )
    late.app = build_app(runtime)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    token = DevTokenAuth(firestore_store).issue(CREATOR)
    try:
        yield Flo(
            runtime=runtime,
            client=Client(late.app),
            clock=clock,
            control=control,
            webhook_url=f"{base_url}/webhooks/zoom",
            headers={"Authorization": f"Bearer {token}"},
        )
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def error_text(missing: str = "") -> list[str]:
    return [f"{FAILED} Missing permission: {missing}" if missing else FAILED]


def token_calls(control: SandboxControl, provider: Provider) -> list[dict[str, Any]]:
    path = "/zoom/oauth/token" if provider == "zoom" else "/google/token"
    return [c for c in control.calls(provider) if c["path"] == path and c["method"] == "POST"]


# ---- connect -----------------------------------------------------------------------------------------------


def test_zoom_connects_with_the_zoom_email_and_user_id(flo: Flo) -> None:
    flo.control.create_zoom_user(ZOOM_HOST)
    assert flo.connect("zoom", ZOOM_HOST) == {"connected": ["zoom"]}
    tile = flo.tile("zoom")
    assert tile["status"] == "connected" and tile["account_email"] == ZOOM_HOST
    assert tile["configure_url"] == "https://zoom.us/profile"
    doc = flo.connection("zoom")
    assert doc is not None and doc["zoom_user_id"] and doc["access_token"]["key_version"] == "v1"
    assert flo.use_zoom() == doc["zoom_user_id"]


def test_google_connects_asking_offline_access_and_only_the_scopes_it_needs(flo: Flo) -> None:
    url = flo.authorize_url("google")
    query = parse_qs(urlsplit(url).query)
    assert query["access_type"] == ["offline"] and query["code_challenge_method"] == ["S256"]
    assert set(query["scope"][0].split()) == GOOGLE_SCOPES
    assert flo.follow(authorize(url, GOOGLE_USER)) == {"connected": ["google"]}
    tile = flo.tile("google")
    assert tile["status"] == "connected" and tile["account_email"] == GOOGLE_USER and tile["configure_url"] is None


def test_deny_stores_nothing(flo: Flo) -> None:
    assert flo.connect("zoom", ZOOM_HOST, decision="deny") == {"error": error_text()}
    assert flo.connection("zoom") is None
    assert token_calls(flo.control, "zoom") == []


def test_an_expired_state_stores_nothing(flo: Flo) -> None:
    location = authorize(flo.authorize_url("zoom"), ZOOM_HOST)
    flo.clock.advance(timedelta(minutes=11))
    assert flo.follow(location) == {"error": error_text()}
    assert flo.connection("zoom") is None


def test_a_replayed_callback_fails(flo: Flo) -> None:
    location = authorize(flo.authorize_url("zoom"), ZOOM_HOST)
    assert flo.follow(location) == {"connected": ["zoom"]}
    assert flo.follow(location) == {"error": error_text()}
    assert len(token_calls(flo.control, "zoom")) == 1
    assert flo.tile("zoom")["status"] == "connected"


def test_google_permission_left_unticked_is_named_and_nothing_stored(flo: Flo) -> None:
    ticked = GOOGLE_SCOPES - {"https://www.googleapis.com/auth/calendar.events"}
    assert flo.connect("google", GOOGLE_USER, granted_scopes=ticked) == {"error": error_text("calendar.events")}
    assert flo.connection("google") is None
    assert any(c["path"] == "/google/revoke" for c in flo.control.calls("google"))


# ---- reconnect required, reconnect, disconnect, delete -------------------------------------------------------


def test_a_revoked_grant_needs_reconnecting_and_reconnect_clears_it(flo: Flo) -> None:
    flo.connect("zoom", ZOOM_HOST)
    flo.control.revoke("zoom", ZOOM_HOST)
    flo.clock.advance(timedelta(minutes=1))
    with pytest.raises(Exception) as refused:
        flo.use_zoom()
    assert "revoked" in str(refused.value)
    tile = flo.tile("zoom")
    assert tile["status"] == "reconnect_required" and tile["reconnect_reason"] == "refresh_refused"
    assert tile["reconnect_required_at"] == flo.clock.now().isoformat()
    assert flo.connect("zoom", ZOOM_HOST) == {"connected": ["zoom"]}
    tile = flo.tile("zoom")
    assert tile["status"] == "connected" and "reconnect_reason" not in tile
    flo.use_zoom()


def test_a_timeout_on_refresh_keeps_the_connection(flo: Flo) -> None:
    flo.connect("zoom", ZOOM_HOST)
    flo.control.add_fault("zoom", "/oauth/token", status=503, times=1)
    flo.clock.advance(timedelta(hours=2))
    with pytest.raises(Exception, match="transient"):
        flo.use_zoom()
    assert flo.tile("zoom")["status"] == "connected"
    flo.use_zoom()


def test_disconnect_revokes_at_the_provider_and_deletes(flo: Flo) -> None:
    flo.connect("zoom", ZOOM_HOST)
    response = flo.post("/api/integrations/zoom/disconnect")
    assert response.status_code == 200
    revokes = [c for c in flo.control.calls("zoom") if c["path"] == "/zoom/oauth/revoke"]
    assert [c["status"] for c in revokes] == [200]
    assert flo.connection("zoom") is None
    assert flo.tile("zoom")["status"] == "not_connected"
    assert flo.runtime.connections.status(CREATOR, "zoom") == "not_connected"


def test_delete_clears_a_reconnect_required_row(flo: Flo) -> None:
    flo.connect("google", GOOGLE_USER)
    flo.control.revoke("google", GOOGLE_USER)
    flo.clock.advance(timedelta(hours=2))
    with pytest.raises(Exception, match="revoked"):
        flo.runtime.connections.with_token(CREATOR, "google", lambda t: t)
    assert flo.tile("google")["status"] == "reconnect_required"
    assert flo.delete("/api/integrations/google").status_code == 200
    assert flo.connection("google") is None
    assert flo.connect("google", GOOGLE_USER) == {"connected": ["google"]}


# ---- single-flight refresh -----------------------------------------------------------------------------------


def test_twenty_instances_finding_an_expired_token_refresh_once(flo: Flo, sandbox_server: SandboxServer) -> None:
    flo.connect("zoom", ZOOM_HOST)
    flo.clock.advance(timedelta(hours=2))
    flo.control.clear_calls()
    urls = ProviderUrls.from_env({"PROVIDER_SANDBOX_URL": sandbox_server.url})
    barrier = threading.Barrier(20)
    results: list[str] = []
    errors: list[BaseException] = []

    def instance() -> None:
        with httpx.Client(timeout=10.0) as http:
            oauth = ZoomOAuth(urls, SECRETS["ZOOM_CLIENT_ID"], SECRETS["ZOOM_CLIENT_SECRET"], http, flo.clock)
            connections = DocStoreConnections(
                FirestoreDocStore(PROJECT_ID),
                flo.runtime.vault,
                {"zoom": oauth},
                flo.clock,
                RefreshPolicy(poll_seconds=0.02),
            )
            zoom = ZoomClient(urls.zoom_api, http, flo.clock)
            barrier.wait()
            try:
                results.append(connections.with_token(CREATOR, "zoom", lambda t: zoom.get_me(t).id))
            except BaseException as exc:  # collected so the assertion below shows it
                errors.append(exc)

    threads = [threading.Thread(target=instance) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(results) == 20 and len(set(results)) == 1
    assert len(token_calls(flo.control, "zoom")) == 1
    me_calls = [c for c in flo.control.calls("zoom") if c["path"] == "/zoom/v2/users/me"]
    assert len(me_calls) == 20 and {c["status"] for c in me_calls} == {200}
    assert len({c["token_id"] for c in me_calls}) == 1
    assert flo.tile("zoom")["status"] == "connected"
    assert flo.runtime.store.get("leases", f"refresh-{CREATOR}-zoom") is None


class _StallingZoomOAuth(ZoomOAuth):
    """A worker whose first refresh freezes past its lease (meanwhile `during` runs), then goes on."""

    during: Callable[[], None] | None = None

    def refresh(self, refresh_token: str) -> TokenSet:
        if self.during is not None:
            during, self.during = self.during, None
            during()
        return super().refresh(refresh_token)


def test_a_worker_frozen_past_its_refresh_lease_does_not_mark_the_connection_broken(
    flo: Flo, sandbox_server: SandboxServer
) -> None:
    flo.connect("zoom", ZOOM_HOST)
    flo.clock.advance(timedelta(hours=2))
    urls = ProviderUrls.from_env({"PROVIDER_SANDBOX_URL": sandbox_server.url})
    with httpx.Client(timeout=10.0) as http:

        def instance(oauth: ZoomOAuth) -> DocStoreConnections:
            """Another process: its own Firestore client and OAuth client, the same clock."""
            store = FirestoreDocStore(PROJECT_ID)
            return DocStoreConnections(store, flo.runtime.vault, {"zoom": oauth}, flo.clock, RefreshPolicy())

        frozen_oauth = _StallingZoomOAuth(
            urls, SECRETS["ZOOM_CLIENT_ID"], SECRETS["ZOOM_CLIENT_SECRET"], http, flo.clock
        )
        other = instance(ZoomOAuth(urls, SECRETS["ZOOM_CLIENT_ID"], SECRETS["ZOOM_CLIENT_SECRET"], http, flo.clock))

        def another_worker_takes_over() -> None:
            flo.clock.advance(REFRESH_LEASE + timedelta(seconds=1))
            flo.use_zoom(other)  # refreshes: Zoom rotates the refresh token the frozen worker holds

        frozen_oauth.during = another_worker_takes_over
        with pytest.raises(ProviderError) as refused:
            flo.use_zoom(instance(frozen_oauth))  # its refresh token was rotated away: invalid_grant
    assert refused.value.kind is ErrorKind.TRANSIENT  # fenced out: retried later with the new token
    assert len(token_calls(flo.control, "zoom")) == 3  # the code exchange, the takeover's refresh, the refused one
    doc = flo.connection("zoom")
    assert doc is not None and (doc["status"], doc["token_version"]) == ("connected", 2)
    assert flo.tile("zoom")["status"] == "connected"
    assert flo.use_zoom()


# ---- Zoom webhook --------------------------------------------------------------------------------------------


def test_webhook_answers_url_validation(flo: Flo) -> None:
    answer = flo.control.send_zoom_url_validation(flo.webhook_url, SECRETS["ZOOM_WEBHOOK_SECRET"])
    assert answer["valid"] is True


def test_deauthorization_drops_tokens_and_needs_reconnecting(flo: Flo) -> None:
    flo.connect("zoom", ZOOM_HOST)
    sent = flo.control.send_zoom_deauthorization(flo.webhook_url, SECRETS["ZOOM_WEBHOOK_SECRET"], ZOOM_HOST)
    assert sent["status"] == 200, sent
    doc = flo.connection("zoom")
    assert doc is not None and doc["access_token"] is None and doc["refresh_token"] is None
    tile = flo.tile("zoom")
    assert tile["status"] == "reconnect_required" and tile["reconnect_reason"] == "app_deauthorized"


def test_webhook_with_a_bad_signature_is_refused(flo: Flo) -> None:
    flo.connect("zoom", ZOOM_HOST)
    sent = flo.control.send_zoom_deauthorization(flo.webhook_url, "not-the-secret", ZOOM_HOST, revoke=False)
    assert sent["status"] == 401
    assert json.loads(sent["response_body"])["error"]["code"] == "bad_signature"
    assert flo.tile("zoom")["status"] == "connected"


def test_webhook_with_a_stale_timestamp_is_refused(flo: Flo) -> None:
    flo.connect("zoom", ZOOM_HOST)
    doc = flo.connection("zoom")
    assert doc is not None
    raw = json.dumps({"event": "app_deauthorized", "payload": {"user_id": doc["zoom_user_id"]}}).encode()
    stale = str(int(flo.clock.now().timestamp()) - 301)
    secret = SECRETS["ZOOM_WEBHOOK_SECRET"].encode()
    signature = "v0=" + hmac.new(secret, f"v0:{stale}:".encode() + raw, hashlib.sha256).hexdigest()
    headers = {"x-zm-request-timestamp": stale, "x-zm-signature": signature, "content-type": "application/json"}
    response = httpx.post(flo.webhook_url, content=raw, headers=headers)
    assert response.status_code == 401
    assert flo.tile("zoom")["status"] == "connected"


# ---- no token anywhere ---------------------------------------------------------------------------------------


def test_no_token_reaches_logs_responses_or_messages(
    flo: Flo, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    configure_logging("connect", PROJECT_ID)
    root.addHandler(caplog.handler)
    try:
        flo.connect("zoom", ZOOM_HOST)
        flo.connect("google", GOOGLE_USER)
        flo.connect("google", GOOGLE_USER, granted_scopes=["openid"])
        flo.clock.advance(timedelta(hours=2))
        flo.use_zoom()
        flo.control.expire_access_tokens("zoom")
        flo.use_zoom()
        flo.control.revoke("google", GOOGLE_USER)
        with pytest.raises(Exception, match="revoked"):
            flo.runtime.connections.with_token(CREATOR, "google", lambda t: t)
        flo.control.send_zoom_deauthorization(flo.webhook_url, SECRETS["ZOOM_WEBHOOK_SECRET"], ZOOM_HOST)
        flo.control.add_fault("google", "/revoke", status=500)
        flo.delete("/api/integrations/google")
        flo.connect("zoom", ZOOM_HOST)
        flo.post("/api/integrations/zoom/disconnect")
        flo.get("/api/integrations")
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    captured = capsys.readouterr()
    published = json.dumps(getattr(flo.runtime.publisher, "published", []))
    haystacks = {
        "logs": captured.out + captured.err + caplog.text,
        "responses": "\n".join(flo.responses),
        "messages": published,
    }
    issued = flo.control.issued_tokens()
    assert len(issued) >= 8
    assert "connection stored" in haystacks["logs"]
    for where, text in haystacks.items():
        leaked = [token[:6] for token in issued if token in text]
        assert leaked == [], f"token prefixes found in {where}: {leaked}"
