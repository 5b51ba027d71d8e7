"""A reconcile reads each connection once: its status once, and its token once a call went through with it;
a token refused later in the run goes back through the connections port (which refreshes or marks it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from shared.bookings.model import BOOKINGS
from shared.meetings.reconcile import zoom_marker
from shared.providers.errors import ErrorKind, Provider, ProviderError
from shared.providers.models import MeetingSpec, ZoomMeeting
from shared.store.port import update
from tests.fakes.providers import FakeZoom
from tests.unit.test_meetings_harness import MeetingsHarness, local

T = TypeVar("T")


def _counted(h: MeetingsHarness) -> list[tuple[str, Provider]]:
    """Record every status and token read the worker makes through the connections port."""
    reads: list[tuple[str, Provider]] = []
    inside: list[bool] = []
    """The fake's with_token asks its own status: that is one read of the connection, not two."""
    connections = h.connections
    status, with_token = connections.status, connections.with_token

    def counted_status(creator_id: str, provider: Provider) -> str:
        if not inside:
            reads.append(("status", provider))
        return status(creator_id, provider)

    def counted_with_token(creator_id: str, provider: Provider, call: Callable[[str], T]) -> T:
        reads.append(("token", provider))
        inside.append(True)
        try:
            return with_token(creator_id, provider, lambda token: _outside(inside, call, token))
        finally:
            inside.clear()

    connections.status = counted_status  # type: ignore[assignment,method-assign]
    connections.with_token = counted_with_token  # type: ignore[method-assign]
    return reads


def _outside(inside: list[bool], call: Callable[[str], T], token: str) -> T:
    """Run the provider call as outside the port again (it is the worker's, not the fake's)."""
    inside.clear()
    return call(token)


def test_a_link_reads_each_connection_once_however_many_calls_it_makes() -> None:
    h = MeetingsHarness()
    h.connect("zoom", "google")
    booking_id = h.book(local(3, 10))
    reads = _counted(h)
    doc = h.settle(booking_id)
    assert doc["link_status"] == "ready" and doc["google_event"]["zoom_url"] == doc["meeting_url"]
    assert h.zoom.calls == ["create_meeting"], "a first attempt's meeting is the only one with its marker"
    assert sorted(reads) == [("status", "google"), ("status", "zoom"), ("token", "google"), ("token", "zoom")]


class _RefusesTheTokenAfterCreating(FakeZoom):
    """Zoom refuses the token once, on the call after the create (as when the token expired meanwhile)."""

    def create_meeting(self, token: str, spec: MeetingSpec) -> ZoomMeeting:
        made = super().create_meeting(token, spec)
        self.fail_next(ProviderError(ErrorKind.UNAUTHORIZED, "zoom", 401))
        return made


def test_a_token_refused_later_in_the_run_goes_back_through_the_connections() -> None:
    h = MeetingsHarness(zoom=_RefusesTheTokenAfterCreating())
    h.connect("zoom")
    booking_id = h.book(local(3, 10))
    h.store.commit([update(BOOKINGS, booking_id, {"zoom_intent": zoom_marker(booking_id)})])  # an earlier attempt
    reads = _counted(h)
    doc = h.settle(booking_id)
    assert doc["link_status"] == "ready" and doc["zoom_intent"] is None
    assert h.zoom.calls == ["list_meetings", "create_meeting", "list_meetings", "list_meetings"]
    assert reads.count(("token", "zoom")) == 2, "the refused list went through the port again"
