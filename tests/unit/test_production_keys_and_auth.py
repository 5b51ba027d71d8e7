"""Separate keys and their rotation, creators' Identity Platform tokens, and trace ids on request logs."""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable, Sequence
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
from shared.store.port import delete, put, update
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


OLD_KEY, NEW_KEY = key("v1", 1), key("v2", 2)
ROTATED = Vault(f"{NEW_KEY},{OLD_KEY}")


def stored_connection(store: FakeDocStore, vault: Vault, creator_id: str) -> str:
    """A creator's Zoom connection with both tokens sealed by ``vault``, as stored; returns its document id."""
    aad = connection_aad(creator_id, "zoom")
    sealed = {name: vault.encrypt(f"{name}-value", aad).to_dict() for name in ("access_token", "refresh_token")}
    fields = {"creator_id": creator_id, "provider": "zoom", "key_version": vault.current_version, **sealed}
    store.commit([put(CONNECTIONS, f"{creator_id}_zoom", fields)])
    return f"{creator_id}_zoom"


def test_rotation_reseals_idle_connections_so_the_old_key_can_go() -> None:
    store = FakeDocStore()
    doc_id = stored_connection(store, Vault(OLD_KEY), "c1")

    assert reseal_connections(store, ROTATED) == 1
    assert reseal_connections(store, ROTATED) == 0  # nothing left under v1
    doc = store.get(CONNECTIONS, doc_id)
    assert doc is not None and doc["key_version"] == "v2"
    new_only = Vault(NEW_KEY)  # v1 removed from the secret
    assert new_only.decrypt(Sealed.from_dict(doc["refresh_token"]), connection_aad("c1", "zoom")) == (
        "refresh_token-value"
    )
    assert reseal_connections(store, new_only) == 0


def test_each_run_reseals_one_batch_of_connections_under_the_old_key() -> None:
    """A connection already under the current key takes no place in a batch: the query asks for old ones only."""
    store = FakeDocStore()
    stored_connection(store, ROTATED, "a-current")
    for creator_id in ("c1", "c2"):
        stored_connection(store, Vault(OLD_KEY), creator_id)
    assert [reseal_connections(store, ROTATED, batch=1) for _ in range(3)] == [1, 1, 0]


def test_a_connection_waiting_for_reconnect_under_the_old_key_does_not_stop_the_sweep() -> None:
    """Its tokens were dropped (nothing to re-seal): it only moves on to the current key, the others are re-sealed."""
    store = FakeDocStore()
    waiting = stored_connection(store, Vault(OLD_KEY), "c1")
    cleared = {"status": "reconnect_required", "access_token": None, "refresh_token": None}
    store.commit([update(CONNECTIONS, waiting, cleared)])
    other = stored_connection(store, Vault(OLD_KEY), "c2")

    assert reseal_connections(store, ROTATED) == 2
    assert reseal_connections(store, ROTATED) == 0
    assert store.get(CONNECTIONS, waiting) == {
        "creator_id": "c1",
        "provider": "zoom",
        "key_version": "v2",
        **cleared,
    }
    doc = store.get(CONNECTIONS, other)
    assert doc is not None and doc["key_version"] == "v2"


def _resealed_by_another_run(store: FakeDocStore) -> None:
    assert reseal_connections(store, ROTATED) == 1


def _deleted(store: FakeDocStore) -> None:
    store.commit([delete(CONNECTIONS, "c1_zoom")])


@pytest.mark.parametrize("meanwhile", [_resealed_by_another_run, _deleted], ids=["re-sealed", "removed"])
def test_a_connection_changed_since_the_reseal_query_is_left_alone(
    meanwhile: Callable[[FakeDocStore], None],
) -> None:
    store = FakeDocStore()
    stored_connection(store, Vault(OLD_KEY), "c1")
    between_query_and_write = InterleavingStore(
        store, at=lambda call: call.kind == "transaction", step=lambda: meanwhile(store)
    )
    assert reseal_connections(between_query_and_write, ROTATED) == 0
    after_the_other = store.get(CONNECTIONS, "c1_zoom")
    assert reseal_connections(store, ROTATED) == 0
    assert store.get(CONNECTIONS, "c1_zoom") == after_the_other


def test_without_a_retired_key_nothing_is_resealed() -> None:
    store = FakeDocStore()
    stored_connection(store, Vault(OLD_KEY), "c1")
    bookings = DocStoreBookingRepository(store)
    current = Vault(key("m1", 1), name="MANAGE_TOKEN_KEYS")
    bookings.add("b1", sample(sealed=current.encrypt("token", manage_aad("b1")).to_dict()))
    assert (reseal_connections(store, Vault(OLD_KEY)), reseal_manage_tokens(bookings, current)) == (0, 0)


def test_rotation_reseals_old_bookings_manage_tokens() -> None:
    bookings, old = DocStoreBookingRepository(FakeDocStore()), Vault(key("m1", 1), name="MANAGE_TOKEN_KEYS")
    for hour, booking_id in enumerate(("b1", "b2"), start=9):
        sealed = old.encrypt(f"token-{booking_id}", manage_aad(booking_id)).to_dict()
        bookings.add(booking_id, sample(hour=hour, token=booking_id, sealed=sealed))

    rotated = Vault(f"{key('m2', 2)},{key('m1', 1)}", name="MANAGE_TOKEN_KEYS")
    assert reseal_manage_tokens(bookings, rotated) == 2
    assert reseal_manage_tokens(bookings, rotated) == 0
    new_only = Vault(key("m2", 2), name="MANAGE_TOKEN_KEYS")
    for booking_id in ("b1", "b2"):
        booking = bookings.get(booking_id)
        assert booking is not None and booking.status == "confirmed" and booking.revision == 1
        assert new_only.decrypt(Sealed.from_dict(booking.manage_token_sealed), manage_aad(booking_id)) == (
            f"token-{booking_id}"
        )


class QueriedBefore(DocStoreBookingRepository):
    """The bookings' store whose re-seal query answers with rows read earlier, before other writes."""

    def __init__(self, store: FakeDocStore, rows: list[Row]) -> None:
        super().__init__(store)
        self._rows = rows

    def manage_tokens_sealed_under(self, key_versions: Sequence[str], limit: int) -> list[Row]:
        return self._rows


def test_a_booking_changed_since_the_reseal_query_is_left_to_the_next_run() -> None:
    store, old = FakeDocStore(), Vault(key("m1", 1), name="MANAGE_TOKEN_KEYS")
    bookings = DocStoreBookingRepository(store)
    first = sample(sealed=old.encrypt("token", manage_aad("b1")).to_dict())
    bookings.add("b1", first)
    moved = bookings.update_if("b1", first, replace(first, revision=2, change="rescheduled"))
    assert moved is not None

    rotated = Vault(f"{key('m2', 2)},{key('m1', 1)}", name="MANAGE_TOKEN_KEYS")
    stale = QueriedBefore(store, [("b1", first)])  # as read before the reschedule
    assert reseal_manage_tokens(stale, rotated) == 0
    assert bookings.get("b1") == moved, "nothing written over the newer revision"
    assert reseal_manage_tokens(bookings, rotated) == 1


def test_a_booking_resealed_by_another_run_since_the_query_is_left_to_it() -> None:
    store, old = FakeDocStore(), Vault(key("m1", 1), name="MANAGE_TOKEN_KEYS")
    bookings = DocStoreBookingRepository(store)
    first = sample(sealed=old.encrypt("token", manage_aad("b1")).to_dict())
    bookings.add("b1", first)
    rotated = Vault(f"{key('m2', 2)},{key('m1', 1)}", name="MANAGE_TOKEN_KEYS")
    assert reseal_manage_tokens(bookings, rotated) == 1
    resealed = bookings.get("b1")

    assert reseal_manage_tokens(QueriedBefore(store, [("b1", first)]), rotated) == 0
    assert bookings.get("b1") == resealed


def test_each_run_reseals_one_batch_of_manage_tokens() -> None:
    bookings, old = DocStoreBookingRepository(FakeDocStore()), Vault(key("m1", 1), name="MANAGE_TOKEN_KEYS")
    for hour, booking_id in enumerate(("b1", "b2"), start=9):
        bookings.add(
            booking_id, sample(hour=hour, token=booking_id, sealed=old.encrypt("t", manage_aad(booking_id)).to_dict())
        )
    rotated = Vault(f"{key('m2', 2)},{key('m1', 1)}", name="MANAGE_TOKEN_KEYS")
    assert [reseal_manage_tokens(bookings, rotated, batch=1) for _ in range(3)] == [1, 1, 0]


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
