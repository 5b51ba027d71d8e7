"""The meetings worker on real Firestore (the emulator): two workers, one frozen past its lease while the other
takes over; and a create whose answer was lost, adopted through the provider sandbox's real meeting list."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TypeVar

import httpx
import pytest

from devstack.sandbox import SandboxServer
from devstack.sandbox.client import SandboxControl
from shared.bootstrap import Adapters, meeting_reconciler
from shared.meetings.reconcile import RetryLater, zoom_marker
from shared.providers.errors import ErrorKind, Provider, ProviderError
from shared.providers.models import MeetingSpec, ZoomMeeting
from shared.providers.oauth import ZoomOAuth
from shared.providers.urls import ProviderUrls
from shared.providers.zoom import ZoomClient
from shared.store.firestore import FirestoreDocStore
from tests.fakes.connections import FakeConnections
from tests.integration.test_providers_sandbox import HOST, connect
from tests.unit.test_meetings_harness import NOW, MeetingsHarness, local
from tests.unit.test_meetings_races import check_a_worker_past_its_lease_is_fenced

T = TypeVar("T")


def test_a_worker_past_its_lease_writes_nothing_on_firestore(firestore_store: FirestoreDocStore) -> None:
    check_a_worker_past_its_lease_is_fenced(firestore_store)


class _AnswerLostOnce(ZoomClient):
    """The real client against the sandbox; the first create is made at Zoom, but its answer never arrives."""

    lost = 1

    def create_meeting(self, token: str, spec: MeetingSpec) -> ZoomMeeting:
        meeting = super().create_meeting(token, spec)
        if self.lost:
            self.lost -= 1
            raise ProviderError(ErrorKind.TRANSIENT, "zoom", None, None, "read timed out")
        return meeting


class _SandboxToken(FakeConnections):
    """Zoom connected, with a token the sandbox issued."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self._token = token

    def with_token(self, creator_id: str, provider: Provider, call: Callable[[str], T]) -> T:
        return call(self._token)


def test_a_create_whose_answer_was_lost_is_adopted_through_the_sandbox_listing(
    firestore_store: FirestoreDocStore, sandbox_server: SandboxServer, control: SandboxControl
) -> None:
    control.set_clock(NOW.isoformat())
    control.create_zoom_user(HOST)
    urls = ProviderUrls.from_env({"PROVIDER_SANDBOX_URL": sandbox_server.url})
    with httpx.Client(timeout=10.0) as http:
        tokens = connect(ZoomOAuth(urls, "flo-zoom-client", "flo-zoom-secret", http), HOST)
        h = MeetingsHarness(store=firestore_store)
        connections = _SandboxToken(tokens.access_token)
        connections.connect(h.creator_id, "zoom")
        zoom = _AnswerLostOnce(urls.zoom_api, http)
        runtime = replace(h.runtime, adapters=Adapters(connections=connections, zoom=zoom, calendar=h.calendar))
        reconciler = meeting_reconciler(runtime)
        booking_id = h.book(local(3, 10))

        with pytest.raises(RetryLater):
            reconciler.reconcile(booking_id)
        reconciler.reconcile(booking_id)

    [meeting] = control.zoom_meetings(HOST)[HOST]
    doc = h.doc(booking_id)
    assert doc["zoom"]["meeting_id"] == int(meeting["id"])
    assert doc["meeting_url"] == meeting["join_url"]
    assert doc["zoom_intent"] is None
    assert str(meeting["agenda"]).split("\n")[0] == zoom_marker(booking_id)
