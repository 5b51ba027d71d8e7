"""Outside local, a service's push and scheduler routes refuse requests without Google's OIDC token."""

from __future__ import annotations

from datetime import UTC, datetime

from werkzeug.test import Client
from werkzeug.wrappers import Request, Response

from shared.bootstrap import Runtime, service_app
from shared.config import Settings
from shared.secrets import EnvSecretSource
from shared.web import json_response, route
from tests.fakes.bus import FakePublisher
from tests.fakes.clock import FakeClock
from tests.fakes.store import FakeDocStore
from tests.oidc_tokens import AUDIENCE, KEY_ID, PUSH_SA, claims, key_and_cert, sign

PRODUCTION = {
    "FLO_ENV": "production",
    "FLO_BASE_URL": "https://book.flo.example",
    "GOOGLE_CLOUD_PROJECT": "proj",
    "OIDC_AUDIENCE": AUDIENCE,
    "OIDC_SERVICE_ACCOUNTS": PUSH_SA,
}


def _app(cert_pem: str) -> Client:
    runtime = Runtime(
        service="meetings",
        settings=Settings.from_env(PRODUCTION),
        store=FakeDocStore(),
        publisher=FakePublisher(),
        clock=FakeClock(datetime(2026, 12, 1, tzinfo=UTC)),
        secrets=EnvSecretSource({}),
    )

    @route("/pubsub/booking-events", "POST")
    def push(request: Request) -> Response:
        return json_response({"handled": True})

    @route("/api/public/thing")
    def public(request: Request) -> Response:
        return json_response({"public": True})

    return Client(service_app(runtime, [push, public], certs=lambda: {KEY_ID: cert_pem}))


def test_push_routes_need_a_token_signed_for_this_audience_by_an_allowed_account() -> None:
    private_pem, cert = key_and_cert()
    client = _app(cert)
    assert client.post("/pubsub/booking-events").status_code == 401
    other_pem, _ = key_and_cert()
    forged = sign(other_pem, claims())
    assert client.post("/pubsub/booking-events", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    wrong_audience = sign(private_pem, claims(aud="https://elsewhere.example"))
    response = client.post("/pubsub/booking-events", headers={"Authorization": f"Bearer {wrong_audience}"})
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "unauthorized"
    wrong_issuer = sign(private_pem, claims(iss="https://evil.example"))
    assert client.post("/pubsub/booking-events", headers={"Authorization": f"Bearer {wrong_issuer}"}).status_code == 403
    good = sign(private_pem, claims())
    ok = client.post("/pubsub/booking-events", headers={"Authorization": f"Bearer {good}"})
    assert ok.status_code == 200 and ok.get_json() == {"handled": True}
    assert client.get("/api/public/thing").get_json() == {"public": True}, "other routes need no OIDC token"
