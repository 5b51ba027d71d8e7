"""The connect service wired by the composition root with fakes (store, clock, providers), shared by the
connect unit tests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from werkzeug.test import Client, TestResponse

from services.connect.app import build_app
from shared.auth import DevTokenAuth
from shared.bootstrap import Adapters, Runtime
from shared.config import Settings
from shared.connections.repository import DocStoreConnections, RefreshPolicy
from shared.providers.models import ZoomUser
from shared.secrets import EnvSecretSource
from shared.vault import Vault
from tests.fakes.bus import FakePublisher
from tests.fakes.clock import FakeClock
from tests.fakes.providers import FakeZoom, fake_oauth_providers
from tests.fakes.store import FakeDocStore

BASE_URL = "http://flo.test"
KEYS = "v1:" + base64.urlsafe_b64encode(bytes(range(32))).decode().rstrip("=")
MANAGE_KEYS = "m1:" + base64.urlsafe_b64encode(bytes(range(160, 192))).decode().rstrip("=")
"""The test booking seals its manage token like any booking, so connect holds the manage-token key."""
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
WEBHOOK_SECRET = "zoom-webhook-secret-for-tests"
CREATOR = "creator-1"
ZOOM_USER = ZoomUser(id="zoom-user-1", email="host@zoom.example", timezone="UTC")


def settings_query(response: TestResponse) -> dict[str, list[str]]:
    """The query of a 302 to the integrations settings page."""
    assert response.status_code == 302, response.get_data(as_text=True)
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{BASE_URL}/dashboard/settings/integrations"
    return parse_qs(location.query)


def signed(body: dict[str, Any], timestamp: int, secret: str = WEBHOOK_SECRET) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    digest = hmac.new(secret.encode(), b"v0:" + str(timestamp).encode() + b":" + raw, hashlib.sha256).hexdigest()
    return raw, {"x-zm-request-timestamp": str(timestamp), "x-zm-signature": f"v0={digest}"}


class Harness:
    def __init__(self) -> None:
        self.store = FakeDocStore()
        self.clock = FakeClock(NOW)
        self.vault = Vault(KEYS)
        self.sleeps: list[float] = []
        self.oauth = fake_oauth_providers(self.clock)
        self.zoom = FakeZoom(ZOOM_USER)
        self.connections = self.instance(RefreshPolicy(max_polls=5))
        self.auth = DevTokenAuth(self.store)
        self.runtime = Runtime(
            service="connect",
            settings=Settings.from_env(
                {"FLO_ENV": "local", "FLO_BASE_URL": BASE_URL, "GOOGLE_CLOUD_PROJECT": "flo-test"}
            ),
            store=self.store,
            publisher=FakePublisher(),
            clock=self.clock,
            secrets=EnvSecretSource(
                {
                    "TOKEN_ENCRYPTION_KEYS": KEYS,
                    "MANAGE_TOKEN_KEYS": MANAGE_KEYS,
                    "OAUTH_STATE_SECRET": "s" * 32,
                    "ZOOM_WEBHOOK_SECRET": WEBHOOK_SECRET,
                }
            ),
            adapters=Adapters(oauth=self.oauth, zoom=self.zoom, connection_repository=self.connections),
        )
        self.client = Client(build_app(self.runtime))
        self.headers = {"Authorization": f"Bearer {self.auth.issue(CREATOR)}"}

    def instance(self, policy: RefreshPolicy, sleep: Callable[[float], None] | None = None) -> DocStoreConnections:
        """Another DocStoreConnections over the same store, as another instance of a service would be;
        by default its waits are recorded, not slept."""
        return DocStoreConnections(self.store, self.vault, self.oauth, self.clock, policy, sleep or self.sleeps.append)

    def start(self, provider: str, headers: dict[str, str] | None = None) -> str:
        """Press Connect; the state from the authorize URL."""
        response = self.client.post(f"/api/integrations/{provider}/connect", headers=headers or self.headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        url: str = response.get_json()["authorize_url"]
        return parse_qs(urlsplit(url).query)["state"][0]

    def callback(self, provider: str, **params: str) -> TestResponse:
        return self.client.get(f"/oauth/{provider}/callback", query_string=params)

    def connect(self, provider: str) -> TestResponse:
        state = self.start(provider)
        return self.callback(provider, code=self.oauth[provider].consent(state), state=state)

    def tiles(self) -> dict[str, Any]:
        response = self.client.get("/api/integrations", headers=self.headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        tiles: dict[str, Any] = response.get_json()
        return tiles

    def connection(self, provider: str) -> dict[str, Any] | None:
        return self.store.get("connections", f"{CREATOR}_{provider}")
