"""The OpenAPI document as the routes of every service make it: `python -m tests.openapi_document` rewrites
shared/openapi.json (`make openapi`); the unit tests compare the two.

The routes are built the way each service builds them, on fakes (no client, no network), with FLO_ENV=local
so the local-only routes are in it too.
"""

from __future__ import annotations

import base64
import importlib
from datetime import UTC, datetime
from typing import Any

from shared.bootstrap import Runtime
from shared.config import Settings
from shared.openapi import DOCUMENT_FILE, build_document, render
from shared.secrets import EnvSecretSource
from shared.topology import load_topology
from shared.web import Route
from tests.fakes.bus import FakePublisher
from tests.fakes.clock import FakeClock
from tests.fakes.store import FakeDocStore

ENV = {
    "FLO_ENV": "local",
    "FLO_BASE_URL": "http://flo.test",
    "GOOGLE_CLOUD_PROJECT": "flo-openapi",
    "SMTP_HOST": "127.0.0.1",
}
SECRETS = {
    "TOKEN_ENCRYPTION_KEYS": "v1:" + base64.urlsafe_b64encode(bytes(32)).decode(),
    "MANAGE_TOKEN_KEYS": "v1:" + base64.urlsafe_b64encode(bytes(range(32))).decode(),
    "OAUTH_STATE_SECRET": "openapi-" * 8,
    "ZOOM_WEBHOOK_SECRET": "openapi",
    "ZOOM_CLIENT_ID": "openapi",
    "ZOOM_CLIENT_SECRET": "openapi",
    "GOOGLE_CLIENT_ID": "openapi",
    "GOOGLE_CLIENT_SECRET": "openapi",
}


def service_routes() -> dict[str, tuple[Route, ...]]:
    """Each service of topology.yaml with the routes its build_app registers."""
    found = {}
    for service in load_topology().services:
        runtime = Runtime(
            service=service,
            settings=Settings.from_env(ENV),
            store=FakeDocStore(),
            publisher=FakePublisher(),
            clock=FakeClock(datetime(2026, 1, 1, tzinfo=UTC)),
            secrets=EnvSecretSource(SECRETS),
        )
        found[service] = importlib.import_module(f"services.{service}.app").build_app(runtime).routes
    return found


def generated_document() -> dict[str, Any]:
    return build_document(service_routes(), load_topology())


def main() -> None:
    DOCUMENT_FILE.write_text(render(generated_document()))
    print(f"wrote {DOCUMENT_FILE}")


if __name__ == "__main__":
    main()
