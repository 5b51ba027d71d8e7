"""Tests that kill mutants which survived the unit tier in leases, token refresh, the OAuth callback and
creator auth. Interleavings are staged by a store that runs another caller's step at a chosen point."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.connect.app import FAILED
from shared.connections.repository import DocStoreConnections, RefreshPolicy
from shared.providers.errors import ErrorKind, ProviderError
from shared.providers.models import TokenSet
from shared.providers.oauth import GOOGLE_SCOPES
from shared.store.lease import LEASES, Lease, LeaseLost, release_lease, take_lease
from shared.store.port import create
from tests.fakes.store import Call, FakeDocStore, InterleavingStore
from tests.unit.test_connect_harness import CREATOR, NOW, ZOOM_USER, Harness, settings_query, signed

TTL = timedelta(seconds=30)


def _in_a_transaction(call: Call) -> bool:
    return call.kind == "transaction"


def _creating_a_lease(call: Call) -> bool:
    return call.kind == "commit" and any(w.collection == LEASES and w.kind == "create" for w in call.writes)


# ---- store/lease.py --------------------------------------------------------------------------------------


def test_two_callers_taking_over_one_expired_lease_leave_one_holder() -> None:
    """Planted bug: the takeover does not check the holder it saw is still there, so both take over."""
    store = FakeDocStore()
    assert take_lease(store, "job", NOW, TTL) is not None
    later = NOW + TTL + timedelta(seconds=1)
    other: list[Lease | None] = []
    racing = InterleavingStore(store, _in_a_transaction, lambda: other.append(take_lease(store, "job", later, TTL)))
    mine = take_lease(racing, "job", later, TTL)  # saw the expired lease; the other caller takes it over first
    assert other[0] is not None
    assert mine is None
    lease = store.get(LEASES, "job")
    assert lease is not None and lease["holder"] == other[0].holder


def test_a_slow_holder_releasing_after_a_takeover_leaves_the_new_holders_lease() -> None:
    """Planted bug: release deletes whatever lease is there, so a third caller gets a lease still held."""
    store = FakeDocStore()
    slow = take_lease(store, "job", NOW, TTL)
    later = NOW + TTL + timedelta(seconds=1)
    taker = take_lease(store, "job", later, TTL)
    assert slow is not None and taker is not None
    release_lease(store, slow)
    assert take_lease(store, "job", later, TTL) is None
    release_lease(store, taker)
    assert take_lease(store, "job", later, TTL) is not None


def test_a_write_under_a_lease_taken_over_is_refused_naming_the_lease() -> None:
    """The refusal says which lease was lost: a worker that lets it propagate leaves that in the log."""
    store = FakeDocStore()
    slow = take_lease(store, "reconcile-b1", NOW, TTL)
    assert slow is not None
    assert take_lease(store, "reconcile-b1", NOW + TTL + timedelta(seconds=1), TTL) is not None
    with pytest.raises(LeaseLost) as lost:
        store.transaction(lambda txn: slow.check(txn.get))
    assert lost.value.args == ("reconcile-b1",)


# ---- connections/repository.py ------------------------------------------------------------------------------


@pytest.fixture
def h() -> Harness:
    harness = Harness()
    settings_query(harness.connect("zoom"))
    return harness


def test_a_refresh_finished_just_before_taking_the_lease_is_used_not_repeated(h: Harness) -> None:
    """Planted bug: no second read under the lease, so a caller that saw the old token refreshes again with
    the refresh token Zoom just rotated away, and the creator is logged out."""
    h.clock.advance(timedelta(hours=2))
    first = h.instance(RefreshPolicy(max_polls=5))
    taken: list[str] = []

    def first_instance_refreshes() -> None:
        taken.append(first.with_token(CREATOR, "zoom", lambda token: token))

    racing = InterleavingStore(h.store, _creating_a_lease, first_instance_refreshes)
    late = DocStoreConnections(racing, h.vault, h.oauth, h.clock, RefreshPolicy(max_polls=5), h.sleeps.append)
    assert late.with_token(CREATOR, "zoom", lambda token: token) == taken[0]
    assert h.oauth["zoom"].calls.count("refresh") == 1
    assert h.tiles()["zoom"]["status"] == "connected"


def test_a_revoked_call_after_a_deauthorization_keeps_the_first_reason_and_time(h: Harness) -> None:
    """Planted bug: a second failure overwrites the first reconnect reason (against the docstring)."""
    deauthorized_at = h.clock.now() + timedelta(minutes=1)

    def call_while_the_creator_removes_the_app(token: str) -> None:
        h.clock.advance(timedelta(minutes=1))
        body = {"event": "app_deauthorized", "payload": {"user_id": ZOOM_USER.id, "account_id": "acc-1"}}
        raw, headers = signed(body, int(h.clock.now().timestamp()))
        assert h.client.post("/webhooks/zoom", data=raw, headers=headers).status_code == 200
        h.clock.advance(timedelta(minutes=1))
        raise ProviderError(ErrorKind.REVOKED, "zoom", 401, None, "app removed")

    with pytest.raises(ProviderError):
        h.connections.with_token(CREATOR, "zoom", call_while_the_creator_removes_the_app)
    tile = h.tiles()["zoom"]
    assert (tile["status"], tile["reconnect_reason"]) == ("reconnect_required", "app_deauthorized")
    assert tile["reconnect_required_at"] == deauthorized_at.isoformat()


# ---- connections/connect.py and shared/auth.py -------------------------------------------------------------


def issued_tokens(h: Harness, provider: str, monkeypatch: pytest.MonkeyPatch) -> list[TokenSet]:
    """The token sets the provider's code exchange hands out, as they happen."""
    issued: list[TokenSet] = []
    real_exchange = h.oauth[provider].exchange_code

    def exchange_code(code: str, redirect_uri: str, code_verifier: str) -> TokenSet:
        issued.append(real_exchange(code, redirect_uri, code_verifier))
        return issued[-1]

    monkeypatch.setattr(h.oauth[provider], "exchange_code", exchange_code)
    return issued


def test_a_failed_account_lookup_hands_the_grant_back_and_stores_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Planted bug: no revoke when the Zoom account lookup fails, leaving a grant Flo never uses."""
    h = Harness()
    issued = issued_tokens(h, "zoom", monkeypatch)
    h.zoom.fail_next(ProviderError(ErrorKind.TRANSIENT, "zoom", 503))
    query = settings_query(h.connect("zoom"))
    assert query == {"error": [FAILED]}
    assert h.oauth["zoom"].calls == ["authorize_url", "exchange_code", "revoke"]
    assert h.oauth["zoom"].revoked == {issued[0].refresh_token}
    assert h.connection("zoom") is None


def test_a_grant_missing_a_permission_is_handed_back_by_its_refresh_token(monkeypatch: pytest.MonkeyPatch) -> None:
    h = Harness()
    issued = issued_tokens(h, "google", monkeypatch)
    h.oauth["google"].granted_scopes = GOOGLE_SCOPES - {"https://www.googleapis.com/auth/calendar.freebusy"}
    assert settings_query(h.connect("google")) == {"error": [f"{FAILED} Missing permission: calendar.freebusy"]}
    assert h.oauth["google"].revoked == {issued[0].refresh_token}


@pytest.mark.parametrize("answer", [{}, {"error": "access_denied", "code": "a-code"}], ids=["no code", "error"])
def test_a_callback_without_a_code_or_with_an_error_stores_nothing(h: Harness, answer: dict[str, str]) -> None:
    state = h.start("google")
    response = h.callback("google", state=state, **answer)
    assert settings_query(response) == {"error": [FAILED]}
    assert "exchange_code" not in h.oauth["google"].calls
    assert h.connection("google") is None


@pytest.mark.parametrize("scheme", ["Basic", "Token", ""])
def test_a_valid_token_under_another_scheme_is_refused(h: Harness, scheme: str) -> None:
    """Planted bug: any scheme accepted in Authorization, so a valid token passes under Basic."""
    token = h.headers["Authorization"].removeprefix("Bearer ")
    response = h.client.get("/api/integrations", headers={"Authorization": f"{scheme} {token}".strip()})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthenticated"
    assert h.client.get("/api/integrations", headers={"Authorization": f"bearer {token}"}).status_code == 200


def test_a_lease_can_be_taken_over_the_moment_it_expires() -> None:
    store = FakeDocStore()
    assert take_lease(store, "job", NOW, TTL) is not None
    assert take_lease(store, "job", NOW + TTL - timedelta(microseconds=1), TTL) is None
    assert take_lease(store, "job", NOW + TTL, TTL) is not None


def test_the_refresh_margin_comes_from_the_policy(h: Harness) -> None:
    early = h.instance(RefreshPolicy(margin=timedelta(minutes=30)))
    h.clock.advance(timedelta(minutes=29))
    early.with_token(CREATOR, "zoom", lambda token: token)
    assert "refresh" not in h.oauth["zoom"].calls
    h.clock.advance(timedelta(minutes=1))
    early.with_token(CREATOR, "zoom", lambda token: token)
    assert h.oauth["zoom"].calls.count("refresh") == 1


def test_a_waiter_polls_at_the_policy_interval_then_gives_up_naming_the_provider(h: Harness) -> None:
    h.store.commit(
        [create(LEASES, f"refresh-{CREATOR}-zoom", {"holder": "other", "expires_at": NOW + timedelta(hours=9)})]
    )
    h.clock.advance(timedelta(hours=2))
    waiter = h.instance(RefreshPolicy(poll_seconds=0.25, max_polls=3))
    with pytest.raises(ProviderError) as waited:
        waiter.with_token(CREATOR, "zoom", lambda token: token)
    assert (waited.value.kind, waited.value.provider) == (ErrorKind.TRANSIENT, "zoom")
    assert h.sleeps == [0.25, 0.25, 0.25]


def test_disconnect_revokes_the_stored_refresh_token(monkeypatch: pytest.MonkeyPatch) -> None:
    h = Harness()
    issued = issued_tokens(h, "zoom", monkeypatch)
    settings_query(h.connect("zoom"))
    assert h.client.post("/api/integrations/zoom/disconnect", headers=h.headers).status_code == 200
    assert h.oauth["zoom"].revoked == {issued[0].refresh_token}


def test_status_reads_each_state_of_a_connection(h: Harness) -> None:
    assert h.connections.status(CREATOR, "zoom") == "connected"
    assert h.connections.status(CREATOR, "google") == "not_connected"
    assert h.connections.status("someone-else", "zoom") == "not_connected"
    h.connections.deauthorize_zoom(ZOOM_USER.id)
    assert h.connections.status(CREATOR, "zoom") == "reconnect_required"
