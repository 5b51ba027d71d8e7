"""A reconcile reads each connection document once, for its status and its token alike, counted at the store
under the real connection repository; a token refused later in the run still goes back through the repository
(refreshed under its lease, or the connection marked for reconnecting)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from shared.bookings.model import BOOKINGS
from shared.bootstrap import meeting_reconciler
from shared.connections.repository import CONNECTIONS, LEASES, DocStoreConnections, connection_id
from shared.meetings.reconcile import MeetingReconciler, RetryLater, zoom_marker
from shared.providers.errors import ErrorKind, Provider, ProviderError
from shared.providers.models import MeetingSpec, TokenSet, ZoomMeeting
from shared.providers.oauth import pkce_challenge
from shared.store.port import update
from tests.fakes.providers import FakeOAuthProvider, FakeZoom, fake_oauth_providers
from tests.fakes.store import FakeDocStore, RecordingStore
from tests.unit.test_meetings_harness import MeetingsHarness, local

VERIFIER = "v" * 43


class Wired:
    """The meetings harness with the real connection repository over a recording store, its tokens issued by
    the fake OAuth providers (so they can be refreshed)."""

    def __init__(self, zoom: FakeZoom | None = None) -> None:
        self.store = RecordingStore(FakeDocStore())
        self.h = MeetingsHarness(zoom=zoom, store=self.store)
        self.oauth = fake_oauth_providers(self.h.clock)
        self.connections = DocStoreConnections(self.store, self.h.runtime.vault, self.oauth, self.h.clock)
        adapters = replace(
            self.h.runtime.adapters, connections=None, connection_repository=self.connections, oauth=self.oauth
        )
        self.reconciler: MeetingReconciler = meeting_reconciler(replace(self.h.runtime, adapters=adapters))

    def connect(self, *providers: Provider) -> None:
        for provider in providers:
            tokens = _granted(self.oauth[provider])
            self.connections.save(self.h.creator_id, provider, tokens, "creator@example.com")

    def token(self, provider: Provider) -> str:
        return self.connections.with_token(self.h.creator_id, provider, lambda token: token)

    def book_after_an_earlier_attempt(self) -> str:
        """A booking whose Zoom intent an earlier attempt left outstanding: Zoom is listed before and after the
        create, so the run makes three Zoom calls with one read of the connection."""
        booking_id = self.h.book(local(3, 10))
        self.store.commit([update(BOOKINGS, booking_id, {"zoom_intent": zoom_marker(booking_id)})])
        return booking_id

    def reconcile(self, booking_id: str) -> None:
        self.store.calls.clear()
        self.reconciler.reconcile(booking_id)


def _granted(oauth: FakeOAuthProvider) -> TokenSet:
    """Tokens the fake provider issued through its consent flow, valid for an hour."""
    oauth.authorize_url("http://flo.test/oauth/callback", "state", pkce_challenge(VERIFIER))
    return oauth.exchange_code(oauth.consent("state"), "http://flo.test/oauth/callback", VERIFIER)


def test_a_link_reads_each_connection_document_once_however_many_calls_it_makes() -> None:
    w = Wired()
    w.connect("zoom", "google")
    booking_id = w.h.book(local(3, 10))
    w.reconcile(booking_id)
    doc = w.h.doc(booking_id)
    assert doc["link_status"] == "ready" and doc["google_event"]["zoom_url"] == doc["meeting_url"]
    assert w.h.zoom.calls == ["create_meeting"], "a first attempt's meeting is the only one with its marker"
    assert sorted(w.store.reads(CONNECTIONS)) == [
        connection_id(w.h.creator_id, "google"),
        connection_id(w.h.creator_id, "zoom"),
    ]
    assert w.oauth["zoom"].calls.count("refresh") == 0


class _TokensSeen(FakeZoom):
    """Records the token of every create and list call; with `refuse_after_create`, refuses the token once on
    the call after the create (as when the token expired meanwhile)."""

    def __init__(self, *, refuse_after_create: bool = False) -> None:
        super().__init__()
        self.tokens: list[str] = []
        self._refuse_after_create = refuse_after_create

    def create_meeting(self, token: str, spec: MeetingSpec) -> ZoomMeeting:
        self.tokens.append(token)
        made = super().create_meeting(token, spec)
        if self._refuse_after_create:
            self.fail_next(ProviderError(ErrorKind.UNAUTHORIZED, "zoom", 401))
        return made

    def list_meetings(self, token: str) -> list[ZoomMeeting]:
        self.tokens.append(token)
        return super().list_meetings(token)


def test_a_token_refused_later_in_the_run_is_refreshed_under_the_repositorys_lease() -> None:
    zoom = _TokensSeen(refuse_after_create=True)
    w = Wired(zoom)
    w.connect("zoom")
    booking_id = w.book_after_an_earlier_attempt()
    before = w.token("zoom")
    w.reconcile(booking_id)
    doc = w.h.doc(booking_id)
    assert doc["link_status"] == "ready" and doc["zoom_intent"] is None
    assert zoom.calls == ["list_meetings", "create_meeting", "list_meetings", "list_meetings"]
    assert w.oauth["zoom"].calls.count("refresh") == 1
    lease = f"refresh-{w.h.creator_id}-zoom"
    assert any(w.kind == "create" and w.doc_id == lease for c in w.store.commits(LEASES) for w in c.writes)
    after = w.token("zoom")
    assert after != before and zoom.tokens == [before, before, before, after], "the retry went refreshed"
    stored = w.store.get(CONNECTIONS, connection_id(w.h.creator_id, "zoom"))
    assert stored is not None and (stored["status"], stored["token_version"]) == ("connected", 2)


def test_the_token_refreshed_after_a_refusal_is_the_one_the_later_calls_use() -> None:
    zoom = _TokensSeen()
    w = Wired(zoom)
    w.connect("zoom")
    booking_id = w.book_after_an_earlier_attempt()
    before = w.token("zoom")
    zoom.fail_next(ProviderError(ErrorKind.UNAUTHORIZED, "zoom", 401))  # the first list, the run's first call
    w.reconcile(booking_id)
    after = w.token("zoom")
    assert w.h.doc(booking_id)["link_status"] == "ready"
    assert after != before and zoom.tokens == [before, after, after, after], "refused list, retry, create, list"
    assert w.oauth["zoom"].calls.count("refresh") == 1


def test_a_token_about_to_expire_when_read_is_refreshed_before_the_call() -> None:
    zoom = _TokensSeen()
    w = Wired(zoom)
    w.connect("zoom")
    booking_id = w.h.book(local(3, 10))
    w.h.clock.advance(timedelta(minutes=56))
    w.reconcile(booking_id)
    # The reconcile's read, then the refresh's own: before the lease, under it, and its fenced write's.
    assert w.store.reads(CONNECTIONS).count(connection_id(w.h.creator_id, "zoom")) == 4
    assert w.oauth["zoom"].calls.count("refresh") == 1
    assert zoom.tokens == [w.token("zoom")]


def test_a_refresh_refused_mid_run_marks_the_connection_and_the_link_falls_back_to_meet() -> None:
    w = Wired(_TokensSeen(refuse_after_create=True))
    w.connect("zoom", "google")
    booking_id = w.book_after_an_earlier_attempt()
    w.oauth["zoom"].fail_next(ProviderError(ErrorKind.REVOKED, "zoom", 400, None, "invalid_grant"))
    with pytest.raises(RetryLater):  # the meeting made before the refusal is still to be listed and deleted
        w.reconcile(booking_id)
    assert w.h.doc(booking_id)["video_provider"] == "google_meet"
    stored = w.store.get(CONNECTIONS, connection_id(w.h.creator_id, "zoom"))
    assert stored is not None
    assert (stored["status"], stored["reconnect_reason"]) == ("reconnect_required", "refresh_refused")
    assert w.store.reads(CONNECTIONS).count(connection_id(w.h.creator_id, "google")) == 1
