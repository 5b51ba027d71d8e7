"""DocStoreConnections over the fake store: with_token's refresh rules, single-flight refresh, reconnect_required."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest

from shared.connections.port import NotConnectedError
from shared.connections.repository import REFRESH_LEASE, DocStoreConnections, RefreshPolicy
from shared.providers._http import PROVIDER_CALL_WORST_SECONDS
from shared.providers.errors import ErrorKind, ProviderError
from shared.providers.models import TokenSet
from shared.store.port import create
from shared.vault import Sealed, connection_aad
from tests.unit.test_connect_harness import CREATOR, NOW, ZOOM_USER, Harness, settings_query

LEASE = f"refresh-{CREATOR}-zoom"


@pytest.fixture
def h() -> Harness:
    harness = Harness()
    settings_query(harness.connect("zoom"))
    return harness


def current_access(h: Harness) -> str:
    return current_access_of(h.connections)


def current_access_of(connections: DocStoreConnections) -> str:
    return connections.with_token(CREATOR, "zoom", lambda token: token)


def test_not_connected_and_reconnect_required_raise_not_connected(h: Harness) -> None:
    with pytest.raises(NotConnectedError) as missing:
        h.connections.with_token(CREATOR, "google", lambda token: token)
    assert missing.value.status == "not_connected"
    h.oauth["zoom"].fail_next(ProviderError(ErrorKind.REVOKED, "zoom", 400))
    h.clock.advance(timedelta(hours=1))
    with pytest.raises(ProviderError):
        current_access(h)
    with pytest.raises(NotConnectedError) as broken:
        current_access(h)
    assert broken.value.status == "reconnect_required"


def test_a_read_says_the_status_it_found() -> None:
    """What a reconcile decides from: the status of the one read its calls then use."""
    h = Harness()
    assert h.connections.read(CREATOR, "zoom").status == "not_connected"
    settings_query(h.connect("zoom"))
    read = h.connections.read(CREATOR, "zoom")
    assert read.status == "connected"
    h.oauth["zoom"].fail_next(ProviderError(ErrorKind.REVOKED, "zoom", 400, None, "invalid_grant"))
    h.clock.advance(timedelta(hours=2))
    with pytest.raises(ProviderError):
        read.with_token(lambda token: token)
    assert h.connections.read(CREATOR, "zoom").status == "reconnect_required"
    assert read.status == "connected", "a read is what it found then"


def test_a_fresh_token_is_used_without_refreshing(h: Harness) -> None:
    first = current_access(h)
    assert current_access(h) == first
    assert "refresh" not in h.oauth["zoom"].calls


def test_refreshes_within_five_minutes_of_expiry_and_stores_the_rotated_tokens(h: Harness) -> None:
    before = current_access(h)
    h.clock.advance(timedelta(minutes=54))
    assert current_access(h) == before
    h.clock.advance(timedelta(minutes=1, seconds=1))
    after = current_access(h)
    assert after != before
    assert h.oauth["zoom"].calls.count("refresh") == 1
    doc = h.connection("zoom")
    assert doc is not None and doc["token_version"] == 2 and doc["expires_at"] == h.clock.now() + timedelta(hours=1)
    assert h.store.get("leases", LEASE) is None
    assert current_access(h) == after


def test_a_refused_access_token_is_refreshed_once_and_retried(h: Harness) -> None:
    seen: list[str] = []

    def call(token: str) -> str:
        seen.append(token)
        if len(seen) == 1:
            raise ProviderError(ErrorKind.UNAUTHORIZED, "zoom", 401)
        return "done"

    assert h.connections.with_token(CREATOR, "zoom", call) == "done"
    assert len(set(seen)) == 2
    assert h.oauth["zoom"].calls.count("refresh") == 1


def test_a_refused_refresh_turns_the_connection_to_reconnect_required(h: Harness) -> None:
    h.oauth["zoom"].fail_next(ProviderError(ErrorKind.REVOKED, "zoom", 400, None, "invalid_grant"))
    h.clock.advance(timedelta(hours=2))
    with pytest.raises(ProviderError) as refused:
        current_access(h)
    assert refused.value.kind is ErrorKind.REVOKED
    tile = h.tiles()["zoom"]
    assert tile["status"] == "reconnect_required"
    assert tile["reconnect_reason"] == "refresh_refused"
    assert tile["reconnect_required_at"] == (NOW + timedelta(hours=2)).isoformat()
    doc = h.connection("zoom")
    assert doc is not None and doc["access_token"] is None
    assert h.store.get("leases", LEASE) is None


def test_a_revoked_answer_to_a_call_turns_the_connection_to_reconnect_required(h: Harness) -> None:
    def call(token: str) -> None:
        raise ProviderError(ErrorKind.REVOKED, "zoom", 403)

    with pytest.raises(ProviderError):
        h.connections.with_token(CREATOR, "zoom", call)
    assert h.tiles()["zoom"]["reconnect_reason"] == "access_revoked"


@pytest.mark.parametrize("kind", [ErrorKind.TRANSIENT, ErrorKind.RATE_LIMITED])
def test_a_timeout_or_5xx_on_refresh_keeps_the_connection(h: Harness, kind: ErrorKind) -> None:
    h.oauth["zoom"].fail_next(ProviderError(kind, "zoom", 503))
    h.clock.advance(timedelta(hours=2))
    with pytest.raises(ProviderError):
        current_access(h)
    assert h.tiles()["zoom"]["status"] == "connected"
    assert h.store.get("leases", LEASE) is None
    current_access(h)
    assert h.oauth["zoom"].calls.count("refresh") == 2


def test_a_loser_waits_for_the_lease_holder_and_uses_its_token(h: Harness) -> None:
    h.store.commit([create("leases", LEASE, {"holder": "other", "expires_at": NOW + timedelta(hours=9)})])
    h.clock.advance(timedelta(hours=2))
    fresh = TokenSet("new-access-token", "new-refresh-token", h.clock.now() + timedelta(hours=1), frozenset())

    def other_instance_finishes(seconds: float) -> None:
        h.sleeps.append(seconds)
        h.connections.save(CREATOR, "zoom", fresh, "host@zoom.example")

    loser = h.instance(RefreshPolicy(max_polls=5), other_instance_finishes)
    assert loser.with_token(CREATOR, "zoom", lambda token: token) == "new-access-token"
    assert "refresh" not in h.oauth["zoom"].calls
    assert len(h.sleeps) == 1


def test_a_lease_that_never_ends_gives_up_with_a_retryable_error(h: Harness) -> None:
    h.store.commit([create("leases", LEASE, {"holder": "other", "expires_at": NOW + timedelta(hours=9)})])
    h.clock.advance(timedelta(hours=2))
    with pytest.raises(ProviderError) as waited:
        current_access(h)
    assert waited.value.kind is ErrorKind.TRANSIENT
    assert len(h.sleeps) == 5
    assert h.tiles()["zoom"]["status"] == "connected"


def test_an_expired_lease_of_a_crashed_holder_is_taken_over(h: Harness) -> None:
    h.store.commit([create("leases", LEASE, {"holder": "crashed", "expires_at": NOW + timedelta(seconds=30)})])
    h.clock.advance(timedelta(hours=2))
    current_access(h)
    assert h.oauth["zoom"].calls.count("refresh") == 1
    assert h.store.get("leases", LEASE) is None


def test_twenty_instances_refreshing_at_once_refresh_once(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """The refresh is held open until the other 19 instances are all waiting on the lease, so without
    the lease a second refresh would start (and is seen) instead of passing by luck of timing."""
    h.clock.advance(timedelta(hours=2))
    instances = 20
    barrier = threading.Barrier(instances)
    lock = threading.Lock()
    waiting: set[int] = set()
    everyone_else_waits = threading.Event()
    refreshing = 0
    results: list[str] = []
    errors: list[BaseException] = []
    real_refresh = h.oauth["zoom"].refresh

    def wait_for_the_lease(seconds: float) -> None:
        with lock:
            waiting.add(threading.get_ident())
            if len(waiting) == instances - 1:
                everyone_else_waits.set()
        time.sleep(seconds)

    def slow_refresh(token: str) -> TokenSet:
        nonlocal refreshing
        with lock:
            refreshing += 1
            if refreshing > 1:
                everyone_else_waits.set()  # a second refresher: no point holding the first one back
        assert everyone_else_waits.wait(10), "the other instances never waited for the lease"
        return real_refresh(token)

    monkeypatch.setattr(h.oauth["zoom"], "refresh", slow_refresh)

    def worker() -> None:
        instance = h.instance(RefreshPolicy(poll_seconds=0.001, max_polls=20000), wait_for_the_lease)
        barrier.wait()
        try:
            results.append(instance.with_token(CREATOR, "zoom", lambda token: token))
        except BaseException as exc:  # collected so the assertion shows it
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(instances)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert refreshing == 1
    assert len(waiting) == instances - 1
    assert h.oauth["zoom"].calls.count("refresh") == 1
    assert len(set(results)) == 1 and len(results) == instances
    assert h.tiles()["zoom"]["status"] == "connected"


def test_a_reconnect_during_a_refresh_wins(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    h.clock.advance(timedelta(hours=2))
    fresh = TokenSet("reconnected-access", "reconnected-refresh", h.clock.now() + timedelta(hours=1), frozenset())
    real_refresh = h.oauth["zoom"].refresh

    def refresh_while_creator_reconnects(token: str) -> TokenSet:
        answer = real_refresh(token)
        h.connections.save(CREATOR, "zoom", fresh, "host@zoom.example")
        return answer

    monkeypatch.setattr(h.oauth["zoom"], "refresh", refresh_while_creator_reconnects)
    assert current_access(h) == "reconnected-access"
    doc = h.connection("zoom")
    assert doc is not None and doc["token_version"] == 1


def test_deauthorize_ignores_unknown_zoom_users(h: Harness) -> None:
    assert h.connections.deauthorize_zoom("someone-else") == []
    assert h.tiles()["zoom"]["status"] == "connected"


def test_a_holder_whose_refresh_takes_the_worst_call_time_is_not_overtaken(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    h.clock.advance(timedelta(hours=2))
    real_refresh = h.oauth["zoom"].refresh
    waiter = h.instance(RefreshPolicy(max_polls=3))
    waited: list[ProviderError] = []

    def slowest_refresh(token: str) -> TokenSet:
        answer = real_refresh(token)  # Zoom has rotated the refresh token; the answer is still on its way
        h.clock.advance(timedelta(seconds=PROVIDER_CALL_WORST_SECONDS))
        with pytest.raises(ProviderError) as busy:
            current_access_of(waiter)
        waited.append(busy.value)
        return answer

    monkeypatch.setattr(h.oauth["zoom"], "refresh", slowest_refresh)
    current_access(h)
    assert [e.kind for e in waited] == [ErrorKind.TRANSIENT]
    assert h.oauth["zoom"].calls.count("refresh") == 1
    doc = h.connection("zoom")
    assert doc is not None and (doc["status"], doc["token_version"]) == ("connected", 2)


def test_a_holder_that_stalled_past_its_lease_neither_writes_nor_breaks_the_connection(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    h.clock.advance(timedelta(hours=2))
    real_refresh = h.oauth["zoom"].refresh
    stalled = True

    def stall_then_refresh(token: str) -> TokenSet:
        nonlocal stalled
        if stalled:  # the first holder freezes past its lease; another instance takes over and refreshes
            stalled = False
            h.clock.advance(REFRESH_LEASE + timedelta(seconds=1))
            current_access_of(h.instance(RefreshPolicy(max_polls=3)))
        return real_refresh(token)  # the stalled holder's refresh token was rotated away: invalid_grant

    monkeypatch.setattr(h.oauth["zoom"], "refresh", stall_then_refresh)
    with pytest.raises(ProviderError):
        current_access(h)
    doc = h.connection("zoom")
    assert doc is not None and (doc["status"], doc["token_version"]) == ("connected", 2)
    assert current_access(h)


def test_a_revoked_answer_to_a_token_the_creator_replaced_meanwhile_keeps_the_new_connection(h: Harness) -> None:
    fresh = TokenSet("reconnected-access", "reconnected-refresh", h.clock.now() + timedelta(hours=1), frozenset())

    def creator_reconnects_while_the_call_fails(token: str) -> None:
        h.connections.save(CREATOR, "zoom", fresh, "host@zoom.example")
        raise ProviderError(ErrorKind.REVOKED, "zoom", 401, None, "invalid access token")

    with pytest.raises(ProviderError):
        h.connections.with_token(CREATOR, "zoom", creator_reconnects_while_the_call_fails)
    assert h.tiles()["zoom"]["status"] == "connected"
    assert current_access(h) == "reconnected-access"


def test_the_refresh_lease_covers_the_worst_call_and_waiters_outlast_it() -> None:
    policy = RefreshPolicy()
    assert policy.lease_ttl > timedelta(seconds=PROVIDER_CALL_WORST_SECONDS)
    assert policy.poll_seconds * policy.max_polls > policy.lease_ttl.total_seconds()


def test_a_deauthorization_read_before_the_creator_reconnected_keeps_the_new_connection(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh = TokenSet("reconnected-access", "reconnected-refresh", h.clock.now() + timedelta(hours=1), frozenset())
    read = h.store.query

    def read_then_reconnect(*args: Any) -> Any:
        rows = read(*args)
        monkeypatch.setattr(h.store, "query", read)
        h.connections.save(CREATOR, "zoom", fresh, "host@zoom.example", zoom_user_id=ZOOM_USER.id)
        return rows

    monkeypatch.setattr(h.store, "query", read_then_reconnect)
    assert h.connections.deauthorize_zoom(ZOOM_USER.id) == []
    assert h.tiles()["zoom"]["status"] == "connected"
    assert current_access(h) == "reconnected-access"


def test_reconnecting_another_zoom_account_revokes_the_grant_it_replaces(h: Harness) -> None:
    replaced = h.connection("zoom")
    assert replaced is not None
    old_refresh = h.vault.decrypt(Sealed.from_dict(replaced["refresh_token"]), connection_aad(CREATOR, "zoom"))
    fresh = TokenSet("other-access", "other-refresh", h.clock.now() + timedelta(hours=1), frozenset())

    h.connections.save(CREATOR, "zoom", fresh, "other@zoom.example", zoom_user_id="another-zoom-user")

    assert h.oauth["zoom"].revoked == {old_refresh}
    assert current_access(h) == "other-access"


def test_reconnecting_the_same_zoom_account_keeps_its_grant_unrevoked(h: Harness) -> None:
    fresh = TokenSet("again-access", "again-refresh", h.clock.now() + timedelta(hours=1), frozenset())

    h.connections.save(CREATOR, "zoom", fresh, "host@zoom.example", zoom_user_id=ZOOM_USER.id)

    assert h.oauth["zoom"].revoked == set()  # revoking it at Zoom would end the connection just made
    assert current_access(h) == "again-access"


def test_the_tick_refreshes_a_token_before_it_expires_and_only_then(h: Harness) -> None:
    before = current_access(h)
    assert h.connections.refresh_expiring(timedelta(minutes=15), 50)["tokens_refreshed"] == 0
    h.clock.advance(timedelta(minutes=50))

    counts = h.connections.refresh_expiring(timedelta(minutes=15), 50)
    other_instance = h.instance(RefreshPolicy(max_polls=5)).refresh_expiring(timedelta(minutes=15), 50)

    assert counts == {"tokens_refreshed": 1, "tokens_refused": 0, "tokens_failed": 0}
    assert other_instance["tokens_refreshed"] == 0  # the fresh token no longer expires soon
    assert h.oauth["zoom"].calls.count("refresh") == 1
    assert current_access(h) != before
    assert h.oauth["zoom"].calls.count("refresh") == 1  # the next booking uses the token refreshed ahead


def test_a_grant_revoked_in_zoom_is_found_by_the_tick_not_by_the_next_booking(h: Harness) -> None:
    h.oauth["zoom"].fail_next(ProviderError(ErrorKind.REVOKED, "zoom", 400, None, "invalid_grant"))
    h.clock.advance(timedelta(minutes=50))

    counts = h.connections.refresh_expiring(timedelta(minutes=15), 50)

    assert counts == {"tokens_refreshed": 0, "tokens_refused": 1, "tokens_failed": 0}
    assert h.tiles()["zoom"]["status"] == "reconnect_required"
    assert h.tiles()["zoom"]["reconnect_reason"] == "refresh_refused"
    h.clock.advance(timedelta(hours=2))
    assert h.connections.refresh_expiring(timedelta(minutes=15), 50) == {
        "tokens_refreshed": 0,
        "tokens_refused": 0,
        "tokens_failed": 0,
    }  # a broken connection has nothing to refresh and is not looked at again
