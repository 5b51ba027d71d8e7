"""Separate keys and their rotation, creators' Identity Platform tokens, and trace ids on request logs."""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

import httpx
import pytest
from werkzeug.test import Client
from werkzeug.wrappers import Request, Response

from services.meetings.app import build_app as meetings_app
from shared.auth import IdentityPlatformAuth
from shared.bookings.repository import DocStoreBookingRepository, Row
from shared.bookings.service import manage_aad
from shared.bootstrap import Runtime
from shared.config import Settings
from shared.connections.repository import CONNECTIONS
from shared.logs import JsonFormatter
from shared.oidc import GoogleCertSource
from shared.rotation import reseal_connections, reseal_manage_tokens
from shared.secrets import EnvSecretSource, SecretUnavailableError
from shared.store.port import delete, put
from shared.vault import Sealed, Vault, connection_aad
from shared.web import WebApp, json_response, route
from tests.bookings_contract import sample
from tests.fakes.bus import FakePublisher
from tests.fakes.clock import FakeClock
from tests.fakes.store import FakeDocStore, InterleavingStore
from tests.oidc_tokens import KEY_ID, key_and_cert, sign
from tests.unit.test_meetings_harness import KEYS as MEETINGS_KEYS
from tests.unit.test_meetings_harness import MeetingsHarness

PROJECT = "flo-prod"


def key(version: str, fill: int) -> str:
    return f"{version}:" + base64.urlsafe_b64encode(bytes([fill]) * 32).decode().rstrip("=")


# --- keys -----------------------------------------------------------------------------------------------


def test_notify_s_secrets_open_manage_tokens_but_not_creators_tokens() -> None:
    runtime = Runtime(
        service="notify",
        settings=Settings.from_env({"FLO_ENV": "local", "FLO_BASE_URL": "http://x.test", "GOOGLE_CLOUD_PROJECT": "p"}),
        store=FakeDocStore(),
        publisher=FakePublisher(),
        clock=FakeClock(datetime(2026, 1, 1, tzinfo=UTC)),
        secrets=EnvSecretSource({"MANAGE_TOKEN_KEYS": key("m1", 1)}),
    )
    assert runtime.manage_vault.current_version == "m1"
    with pytest.raises(SecretUnavailableError, match="TOKEN_ENCRYPTION_KEYS"):
        _ = runtime.vault


def test_rotation_reseals_idle_connections_so_the_old_key_can_go() -> None:
    store, old = FakeDocStore(), Vault(key("v1", 1))
    aad = connection_aad("c1", "zoom")
    sealed = {name: old.encrypt(f"{name}-value", aad).to_dict() for name in ("access_token", "refresh_token")}
    store.commit([put(CONNECTIONS, "c1_zoom", {"creator_id": "c1", "provider": "zoom", "key_version": "v1", **sealed})])

    rotated = Vault(f"{key('v2', 2)},{key('v1', 1)}")
    assert reseal_connections(store, rotated) == 1
    assert reseal_connections(store, rotated) == 0  # nothing left under v1
    doc = store.get(CONNECTIONS, "c1_zoom")
    assert doc is not None and doc["key_version"] == "v2"
    new_only = Vault(key("v2", 2))  # v1 removed from the secret
    assert new_only.decrypt(Sealed.from_dict(doc["refresh_token"]), aad) == "refresh_token-value"
    assert reseal_connections(store, new_only) == 0


def test_each_rotation_run_reseals_at_most_its_batch_of_connections_still_under_a_retired_key() -> None:
    store, old, current = FakeDocStore(), Vault(key("v1", 1)), Vault(key("v2", 2))
    for creator_id, vault in (("a", current), ("b", old), ("c", old), ("d", old)):
        aad = connection_aad(creator_id, "zoom")
        sealed = {name: vault.encrypt(name, aad).to_dict() for name in ("access_token", "refresh_token")}
        doc = {"creator_id": creator_id, "provider": "zoom", "key_version": vault.current_version, **sealed}
        store.commit([put(CONNECTIONS, f"{creator_id}_zoom", doc)])

    rotated = Vault(f"{key('v2', 2)},{key('v1', 1)}")
    assert [reseal_connections(store, rotated, batch=2) for _ in range(3)] == [2, 1, 0]


@pytest.mark.parametrize("meanwhile", ["re-sealed by another run", "removed"])
def test_a_connection_changed_between_the_reseal_query_and_its_transaction_is_not_counted(meanwhile: str) -> None:
    store, old = FakeDocStore(), Vault(key("v1", 1))
    aad = connection_aad("c1", "zoom")
    sealed = {name: old.encrypt(name, aad).to_dict() for name in ("access_token", "refresh_token")}
    store.commit([put(CONNECTIONS, "c1_zoom", {"creator_id": "c1", "provider": "zoom", "key_version": "v1", **sealed})])
    rotated = Vault(f"{key('v2', 2)},{key('v1', 1)}")

    def other_caller() -> None:
        if meanwhile == "removed":
            store.commit([delete(CONNECTIONS, "c1_zoom")])
        else:
            assert reseal_connections(store, rotated) == 1

    racing = InterleavingStore(store, lambda call: call.kind == "transaction", other_caller)
    assert reseal_connections(racing, rotated) == 0


def test_rotation_reseals_old_bookings_manage_tokens() -> None:
    bookings, old = DocStoreBookingRepository(FakeDocStore()), Vault(key("m1", 1), name="MANAGE_TOKEN_KEYS")
    for hour, booking_id in enumerate(("b1", "b2"), start=9):
        sealed = old.encrypt(f"token-{booking_id}", manage_aad(booking_id)).to_dict()
        bookings.add(booking_id, sample(hour=hour, token=booking_id, sealed=sealed))

    rotated = Vault(f"{key('m2', 2)},{key('m1', 1)}", name="MANAGE_TOKEN_KEYS")
    assert reseal_manage_tokens(bookings, rotated, batch=1) == 1  # a run takes its batch, the next the rest
    assert reseal_manage_tokens(bookings, rotated) == 1
    assert reseal_manage_tokens(bookings, rotated) == 0
    new_only = Vault(key("m2", 2), name="MANAGE_TOKEN_KEYS")
    assert reseal_manage_tokens(bookings, new_only) == 0
    for booking_id in ("b1", "b2"):
        booking = bookings.get(booking_id)
        assert booking is not None and booking.status == "confirmed" and booking.revision == 1
        assert new_only.decrypt(Sealed.from_dict(booking.manage_token_sealed), manage_aad(booking_id)) == (
            f"token-{booking_id}"
        )


@pytest.mark.parametrize("change", ["rescheduled", "re-sealed by another run"])
def test_a_booking_changed_since_the_reseal_query_is_left_to_the_next_run(change: str) -> None:
    store, old = FakeDocStore(), Vault(key("m1", 1), name="MANAGE_TOKEN_KEYS")
    bookings = DocStoreBookingRepository(store)
    first = sample(sealed=old.encrypt("token", manage_aad("b1")).to_dict())
    bookings.add("b1", first)
    rotated = Vault(f"{key('m2', 2)},{key('m1', 1)}", name="MANAGE_TOKEN_KEYS")
    if change == "rescheduled":
        assert bookings.update_if("b1", first, replace(first, revision=2, change="rescheduled")) is not None
    else:
        assert reseal_manage_tokens(bookings, rotated) == 1
    changed = bookings.get("b1")

    class StaleQuery(DocStoreBookingRepository):
        def manage_tokens_sealed_under(self, key_versions: Sequence[str], limit: int) -> list[Row]:
            return [("b1", first)]  # as read before the change

    assert reseal_manage_tokens(StaleQuery(store), rotated) == 0
    assert bookings.get("b1") == changed, "nothing written over the change"
    assert reseal_manage_tokens(bookings, rotated) == (1 if change == "rescheduled" else 0)


def test_the_meetings_app_reseals_creators_tokens_off_a_retired_key() -> None:
    h = MeetingsHarness()
    aad = connection_aad("c1", "google")
    sealed = {name: Vault(MEETINGS_KEYS).encrypt(name, aad).to_dict() for name in ("access_token", "refresh_token")}
    fields = {"creator_id": "c1", "provider": "google", "key_version": "v1", **sealed}
    h.store.commit([put(CONNECTIONS, "c1_google", fields)])
    rotated = EnvSecretSource({"TOKEN_ENCRYPTION_KEYS": f"{key('v7', 7)},{MEETINGS_KEYS}"})
    client = Client(meetings_app(replace(h.runtime, secrets=rotated)))

    assert client.post("/tasks/reseal").get_json() == {"resealed": 1}
    assert client.post("/tasks/reseal").get_json() == {"resealed": 0}
    doc = h.store.get(CONNECTIONS, "c1_google")
    assert doc is not None and doc["key_version"] == "v7"


# --- Identity Platform --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def signing_key() -> tuple[bytes, str]:
    return key_and_cert()


def creator_token(private_pem: bytes, **overrides: object) -> str:
    now = int(time.time())
    claims = {"iss": f"https://securetoken.google.com/{PROJECT}", "aud": PROJECT, "sub": "creator-1"}
    return sign(private_pem, {**claims, "iat": now - 5, "exp": now + 600, **overrides})


def _request(token: str) -> Request:
    return Request.from_values(headers={"Authorization": f"Bearer {token}"})


def _auth_app(auth: IdentityPlatformAuth) -> Client:
    @route("/me")
    def me(request: Request) -> Response:
        return json_response({"creator_id": auth.creator_id(request)})

    return Client(WebApp("bookings", [me]))


def test_identity_platform_certificates_are_fetched_once_and_cached(signing_key: tuple[bytes, str]) -> None:
    private_pem, cert = signing_key
    fetches: list[str] = []

    def serve(request: httpx.Request) -> httpx.Response:
        fetches.append(str(request.url))
        return httpx.Response(200, json={KEY_ID: cert}, headers={"Cache-Control": "public, max-age=3600"})

    certs = GoogleCertSource("https://certs.test/x509", httpx.Client(transport=httpx.MockTransport(serve)))
    client = _auth_app(IdentityPlatformAuth(PROJECT, certs))
    for _ in range(3):
        response = client.get("/me", headers={"Authorization": f"Bearer {creator_token(private_pem)}"})
        assert response.get_json() == {"creator_id": "creator-1"}
    assert fetches == ["https://certs.test/x509"]


def test_a_certificate_fetch_failure_is_a_503_with_retry_after(signing_key: tuple[bytes, str]) -> None:
    private_pem, _ = signing_key

    def down(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502)

    certs = GoogleCertSource("https://certs.test/x509", httpx.Client(transport=httpx.MockTransport(down)))
    response = _auth_app(IdentityPlatformAuth(PROJECT, certs)).get(
        "/me", headers={"Authorization": f"Bearer {creator_token(private_pem)}"}
    )
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    assert response.get_json()["error"]["code"] == "auth_unavailable"


def test_a_little_clock_skew_is_allowed_but_not_more(signing_key: tuple[bytes, str]) -> None:
    private_pem, cert = signing_key
    auth = IdentityPlatformAuth(PROJECT, lambda: {KEY_ID: cert})
    now = int(time.time())
    assert auth.creator_id(_request(creator_token(private_pem, iat=now + 20))) == "creator-1"
    client = _auth_app(auth)
    for token in (
        creator_token(private_pem, iat=now + 600),
        creator_token(private_pem, iss="https://securetoken.google.com/other-project"),
        creator_token(private_pem, aud="other-project"),
        creator_token(private_pem, sub=""),
    ):
        response = client.get("/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, response.get_data(as_text=True)


# --- trace ids ----------------------------------------------------------------------------------------------

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


class _Lines(logging.Handler):
    """Formats each record when it is emitted, as Cloud Run's stdout handler does."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter("bookings", PROJECT))
        self.lines: list[dict[str, object]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Cloud-Trace-Context": f"{TRACE}/1;o=1"},
        {"traceparent": f"00-{TRACE}-00f067aa0ba902b7-01"},
    ],
)
def test_every_log_line_of_a_request_carries_its_trace_id(headers: dict[str, str]) -> None:
    log = logging.getLogger("tests.trace")
    lines = _Lines()
    log.addHandler(lines)
    log.setLevel(logging.INFO)

    @route("/work")
    def work(request: Request) -> Response:
        log.info("first step")
        log.info("second step")
        return json_response({})

    try:
        assert Client(WebApp("bookings", [work])).get("/work", headers=headers).status_code == 200
        log.info("outside any request")
    finally:
        log.removeHandler(lines)
    traces = [line.get("logging.googleapis.com/trace") for line in lines.lines]
    assert traces == [f"projects/{PROJECT}/traces/{TRACE}"] * 2 + [None]


def test_malformed_trace_headers_are_ignored() -> None:
    from shared.logs import trace_id

    assert trace_id({"X-Cloud-Trace-Context": "not-a-trace"}) is None
    assert trace_id({"traceparent": "00-" + "0" * 32 + "-00f067aa0ba902b7-01"}) is None
    assert trace_id({"X-Cloud-Trace-Context": "bad", "traceparent": f"00-{TRACE}-00f067aa0ba902b7-01"}) == TRACE


@pytest.mark.parametrize(
    ("headers", "trace"),
    [
        ({"X-Cloud-Trace-Context": TRACE}, TRACE),
        ({"X-Cloud-Trace-Context": f" {TRACE.upper()}/1/2;o=1 "}, TRACE),
        ({"X-Cloud-Trace-Context": "0" * 32 + "/1;o=1"}, None),
        ({"X-Cloud-Trace-Context": TRACE[:31]}, None),
        ({"X-Cloud-Trace-Context": TRACE + "0"}, None),
        ({"traceparent": f" 00-{TRACE.upper()}-00F067AA0BA902B7-01 "}, TRACE),
        ({"traceparent": f"00-{TRACE}-00f067aa0ba902b7"}, None),
        ({"traceparent": f"00-{TRACE}-00f067aa0ba902b7-01-extra"}, None),
        ({"X-Cloud-Trace-Context": "0" * 32, "traceparent": f"00-{TRACE}-00f067aa0ba902b7-01"}, TRACE),
        ({}, None),
    ],
)
def test_the_trace_id_is_read_from_either_header_in_its_exact_form(headers: dict[str, str], trace: str | None) -> None:
    from shared.logs import trace_id

    assert trace_id(headers) == trace
