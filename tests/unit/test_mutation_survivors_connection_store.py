"""DocStoreConnections edges that mutation testing found untested: what a new connection replaced (the healing
after a reconnect acts on it), which provider a refusal names (the test booking shows it), the ahead-of-time tick's
query, limit and counts, a break or removal landing during a refresh or an email, and a stalled holder whose
refresh is refused after it lost the lease."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from shared.connections.port import NotConnectedError
from shared.connections.repository import CONNECTIONS, REFRESH_LEASE
from shared.providers.errors import ErrorKind, ProviderError
from shared.providers.models import TokenSet
from shared.store.lease import take_lease
from shared.store.port import Where, delete
from tests.unit.test_connect_harness import CREATOR, ZOOM_USER, Harness, settings_query

HORIZON = timedelta(minutes=15)
LEASE = f"refresh-{CREATOR}-zoom"


def _harness(*providers: str) -> Harness:
    h = Harness()
    for provider in providers:
        settings_query(h.connect(provider))
    return h


def _revoked(token: str) -> None:
    raise ProviderError(ErrorKind.REVOKED, "zoom", 400, None, "invalid_grant")


def _tokens(h: Harness, name: str) -> TokenSet:
    return TokenSet(f"{name}-access", f"{name}-refresh", h.clock.now() + timedelta(hours=1), frozenset())


# ---- what a new connection replaced ------------------------------------------------------------------------------


def test_a_save_says_whether_it_replaced_nothing_the_same_account_or_another() -> None:
    h = _harness()
    save = h.connections.save

    assert save(CREATOR, "zoom", _tokens(h, "a"), "host@zoom.example", ZOOM_USER.id) == "nothing"
    # The same Zoom user, whose account email changed meanwhile: still the same account (Zoom's id decides).
    assert save(CREATOR, "zoom", _tokens(h, "b"), "renamed@zoom.example", ZOOM_USER.id) == "same_account"
    assert save(CREATOR, "zoom", _tokens(h, "c"), "renamed@zoom.example", "another-zoom-user") == "other_account"
    assert h.oauth["zoom"].revoked == {"b-refresh"}  # only the other account's grant is handed back

    assert save(CREATOR, "google", _tokens(h, "d"), "cee@gmail.example") == "nothing"
    assert save(CREATOR, "google", _tokens(h, "e"), "cee@gmail.example") == "same_account"  # Google: the email
    assert save(CREATOR, "google", _tokens(h, "f"), "work@gmail.example") == "other_account"


# ---- refusals name their provider ---------------------------------------------------------------------------------


def test_a_missing_or_broken_connection_is_refused_naming_its_provider() -> None:
    h = _harness("zoom")
    with pytest.raises(NotConnectedError) as missing:
        h.connections.with_token(CREATOR, "google", lambda token: token)
    assert (missing.value.provider, str(missing.value)) == ("google", "google is not connected")

    with pytest.raises(ProviderError):
        h.connections.with_token(CREATOR, "zoom", _revoked)
    with pytest.raises(NotConnectedError) as broken:
        h.connections.with_token(CREATOR, "zoom", lambda token: token)
    assert (broken.value.provider, str(broken.value)) == ("zoom", "zoom is reconnect required")


def test_a_break_landing_before_the_refresh_of_a_refused_token_is_refused_naming_its_provider() -> None:
    h = _harness("zoom")

    def refused_once_zoom_deauthorized(token: str) -> None:
        h.connections.deauthorize_zoom(ZOOM_USER.id)
        raise ProviderError(ErrorKind.UNAUTHORIZED, "zoom", 401, None, "invalid access token")

    with pytest.raises(NotConnectedError) as broken:
        h.connections.with_token(CREATOR, "zoom", refused_once_zoom_deauthorized)
    assert (broken.value.provider, str(broken.value)) == ("zoom", "zoom is reconnect required")


def test_a_holder_that_lost_its_lease_fails_as_a_retryable_error_of_its_provider(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    h = _harness("zoom")
    h.clock.advance(timedelta(hours=2))
    real_refresh = h.oauth["zoom"].refresh

    def stall_while_another_instance_refreshes(token: str) -> TokenSet:
        # The holder freezes past its lease; another instance takes the lease over and its refresh call rotates
        # the token at Zoom, but has not stored the new tokens yet.
        h.clock.advance(REFRESH_LEASE + timedelta(seconds=1))
        assert take_lease(h.store, LEASE, h.clock.now(), REFRESH_LEASE) is not None
        real_refresh(token)
        return real_refresh(token)  # the stalled holder's own call: invalid_grant, its token was rotated away

    monkeypatch.setattr(h.oauth["zoom"], "refresh", stall_while_another_instance_refreshes)
    with pytest.raises(ProviderError) as lost:
        h.connections.with_token(CREATOR, "zoom", lambda token: token)

    assert (lost.value.provider, lost.value.kind) == ("zoom", ErrorKind.TRANSIENT)
    doc = h.connection("zoom")
    assert doc is not None and doc["status"] == "connected"  # not the stalled holder's to break


def test_a_deauthorization_landing_during_a_refresh_keeps_its_tokens_out(monkeypatch: pytest.MonkeyPatch) -> None:
    h = _harness("zoom")
    h.clock.advance(timedelta(hours=2))
    real_refresh = h.oauth["zoom"].refresh

    def refresh_while_zoom_deauthorizes(token: str) -> TokenSet:
        answer = real_refresh(token)
        assert h.connections.deauthorize_zoom(ZOOM_USER.id) == [CREATOR]
        return answer

    monkeypatch.setattr(h.oauth["zoom"], "refresh", refresh_while_zoom_deauthorizes)
    with pytest.raises(NotConnectedError):
        h.connections.with_token(CREATOR, "zoom", lambda token: token)

    doc = h.connection("zoom")
    assert doc is not None and doc["status"] == "reconnect_required"
    assert (doc["access_token"], doc["refresh_token"], doc["token_version"]) == (None, None, 1)


# ---- the ahead-of-time tick -------------------------------------------------------------------------------------


def test_the_tick_reads_only_expiring_connections_within_its_limit_and_counts_each() -> None:
    h = _harness("zoom", "google")
    h.clock.advance(timedelta(minutes=50))  # both tokens expire within the horizon
    assert h.connections.refresh_expiring(HORIZON, 1) == {
        "tokens_refreshed": 1,
        "tokens_refused": 0,
        "tokens_failed": 0,
    }
    assert h.connections.refresh_expiring(HORIZON, 50)["tokens_refreshed"] == 1  # the other one, next tick

    h.clock.advance(timedelta(minutes=50))
    assert h.connections.refresh_expiring(HORIZON, 50)["tokens_refreshed"] == 2


def test_the_tick_skips_fresh_connections_in_its_query_so_its_limit_goes_to_expiring_ones() -> None:
    h = _harness("zoom", "google")
    h.clock.advance(timedelta(minutes=50))
    settings_query(h.connect("zoom"))  # reconnected: a fresh token, the first connection in the store

    assert h.connections.refresh_expiring(HORIZON, 1)["tokens_refreshed"] == 1
    assert h.oauth["google"].calls.count("refresh") == 1


def test_the_tick_counts_refused_and_failed_refreshes_apart_and_each_one() -> None:
    h = _harness("zoom", "google")
    h.clock.advance(timedelta(minutes=50))
    h.oauth["zoom"].fail_next(ProviderError(ErrorKind.REVOKED, "zoom", 400, None, "invalid_grant"))
    h.oauth["google"].fail_next(ProviderError(ErrorKind.REVOKED, "google", 400, None, "invalid_grant"))
    assert h.connections.refresh_expiring(HORIZON, 50) == {
        "tokens_refreshed": 0,
        "tokens_refused": 2,
        "tokens_failed": 0,
    }

    h = _harness("zoom", "google")
    h.clock.advance(timedelta(minutes=50))
    h.oauth["zoom"].fail_next(ProviderError(ErrorKind.TRANSIENT, "zoom", 503))
    h.oauth["google"].fail_next(ProviderError(ErrorKind.TRANSIENT, "google", 503))
    assert h.connections.refresh_expiring(HORIZON, 50) == {
        "tokens_refreshed": 0,
        "tokens_refused": 0,
        "tokens_failed": 2,
    }


def test_a_connection_removed_after_the_ticks_query_is_skipped_and_the_rest_refreshed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    h = _harness("zoom", "google")
    h.clock.advance(timedelta(minutes=50))
    real_query: Callable[..., Any] = h.store.query

    def query_then_zoom_removed(*args: Any, **kwargs: Any) -> Any:
        rows = real_query(*args, **kwargs)
        h.store.commit([delete(CONNECTIONS, f"{CREATOR}_zoom")])  # the creator disconnected meanwhile
        return rows

    monkeypatch.setattr(h.store, "query", query_then_zoom_removed)
    assert h.connections.refresh_expiring(HORIZON, 50)["tokens_refreshed"] == 1
    assert h.oauth["google"].calls.count("refresh") == 1


def test_a_broken_connection_leaves_the_ticks_query() -> None:
    h = _harness("zoom")
    with pytest.raises(ProviderError):
        h.connections.with_token(CREATOR, "zoom", _revoked)

    far = h.clock.now() + timedelta(days=365)
    assert h.store.query(CONNECTIONS, [Where("expires_at", "<=", far)]) == []


# ---- the broken-connection email -----------------------------------------------------------------------------


def test_the_broken_connections_owed_an_email_are_read_within_the_limit() -> None:
    h = _harness("zoom", "google")
    for provider in ("zoom", "google"):
        with pytest.raises(ProviderError):
            h.connections.with_token(CREATOR, provider, _revoked)

    assert len(h.connections.broken_mail_due(1)) == 1
    assert len(h.connections.broken_mail_due(50)) == 2


def test_an_email_sent_for_a_connection_removed_meanwhile_changes_nothing() -> None:
    h = _harness("zoom")
    with pytest.raises(ProviderError):
        h.connections.with_token(CREATOR, "zoom", _revoked)
    [broken] = h.connections.broken_mail_due(50)
    h.connections.remove(CREATOR, "zoom")  # the creator disconnected before the email was marked sent

    h.connections.broken_mail_sent(broken)

    assert h.connection("zoom") is None
