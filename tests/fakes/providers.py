"""In-memory twins of the provider ports for unit tests of the services; each can be told to fail."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from urllib.parse import urlencode

from shared.clock import Clock
from shared.providers.errors import ErrorKind, Provider, ProviderError
from shared.providers.models import CalendarEvent, EventSpec, MeetingSpec, TokenSet, ZoomMeeting, ZoomUser
from shared.providers.oauth import GOOGLE_SCOPES, pkce_challenge


class _Faults:
    """Queue of errors the next calls raise, in order, before behaving normally again."""

    provider: Provider = "zoom"

    def __init__(self) -> None:
        self._faults: list[ProviderError] = []
        self._lost_answers: list[str] = []
        self.calls: list[str] = []

    def fail_next(self, error: ProviderError, times: int = 1) -> None:
        self._faults.extend([error] * times)

    def clear_faults(self) -> None:
        self._faults.clear()

    def lose_next_answer(self, method: str) -> None:
        """The next call of `method` does its work, but its answer never arrives (a read timeout)."""
        self._lost_answers.append(method)

    def _answer(self, method: str) -> None:
        if method in self._lost_answers:
            self._lost_answers.remove(method)
            raise ProviderError(ErrorKind.TRANSIENT, self.provider, None, None, f"{method}: read timed out")

    def _enter(self, method: str) -> None:
        self.calls.append(method)
        if self._faults:
            raise self._faults.pop(0)

    def _authorized(self, method: str, token: str) -> None:
        """A call of the provider's API: like the real ones, it is refused (401) without an access token."""
        self._enter(method)
        if not isinstance(token, str) or not token:
            raise ProviderError(ErrorKind.UNAUTHORIZED, self.provider, 401, None, f"{method}: no access token")


class FakeOAuthProvider(_Faults):
    """A provider whose consent screen is `consent(state)`; checks PKCE and rotates refresh tokens like Zoom.

    A used code, a wrong verifier or redirect URI, a rotated-out or revoked refresh token all raise REVOKED, as
    the real token endpoints answer invalid_grant.
    """

    def __init__(
        self,
        name: Provider,
        clock: Clock,
        email: str | None = "creator@example.com",
        granted_scopes: frozenset[str] = frozenset(),
        required_scopes: frozenset[str] = frozenset(),
        rotate_refresh_tokens: bool = True,
    ) -> None:
        super().__init__()
        self.name = name
        self.required_scopes = required_scopes
        self.granted_scopes = granted_scopes
        self.email = email
        self._clock = clock
        self._rotate = rotate_refresh_tokens
        self._challenges: dict[str, tuple[str, str]] = {}  # state -> (code_challenge, redirect_uri)
        self._codes: dict[str, tuple[str, str]] = {}  # code -> (code_challenge, redirect_uri)
        self._refresh_tokens: set[str] = set()
        self._access_tokens: set[str] = set()
        self.revoked: set[str] = set()

    def __repr__(self) -> str:
        return f"FakeOAuthProvider({self.name!r})"

    def authorize_url(self, redirect_uri: str, state: str, code_challenge: str) -> str:
        self._enter("authorize_url")
        self._challenges[state] = (code_challenge, redirect_uri)
        query = urlencode({"redirect_uri": redirect_uri, "state": state, "code_challenge": code_challenge})
        return f"https://{self.name}.fake/authorize?{query}"

    def consent(self, state: str) -> str:
        """The creator approves: the code the provider would put on the redirect."""
        code = secrets.token_urlsafe(16)
        self._codes[code] = self._challenges.pop(state)
        return code

    def _issue(self, refresh_token: str | None = None) -> TokenSet:
        access = secrets.token_urlsafe(24)
        refresh = refresh_token or secrets.token_urlsafe(24)
        self._access_tokens.add(access)
        self._refresh_tokens.add(refresh)
        return TokenSet(access, refresh, self._clock.now() + timedelta(hours=1), self.granted_scopes)

    def exchange_code(self, code: str, redirect_uri: str, code_verifier: str) -> TokenSet:
        self._enter("exchange_code")
        authorized = self._codes.pop(code, None)
        if authorized != (pkce_challenge(code_verifier), redirect_uri):
            raise ProviderError(ErrorKind.REVOKED, self.name, 400, None, "invalid_grant: bad code, verifier or URI")
        return self._issue()

    def refresh(self, refresh_token: str) -> TokenSet:
        self._enter("refresh")
        if refresh_token not in self._refresh_tokens:
            raise ProviderError(ErrorKind.REVOKED, self.name, 400, None, "invalid_grant: Invalid Token!")
        if self._rotate:
            self._refresh_tokens.discard(refresh_token)
            return self._issue()
        return self._issue(refresh_token)

    def revoke(self, token: str) -> None:
        """Kills the whole grant, as both providers do."""
        self._enter("revoke")
        self.revoked.add(token)
        self._refresh_tokens.clear()
        self._access_tokens.clear()

    def account_email(self, access_token: str) -> str | None:
        self._enter("account_email")
        if access_token not in self._access_tokens:
            raise ProviderError(ErrorKind.UNAUTHORIZED, self.name, 401, None, "invalid access token")
        return self.email


class FakeZoom(_Faults):
    """Meetings kept in a dict, ids counting up from a 64-bit-sized start like Zoom's."""

    def __init__(self, user: ZoomUser | None = None, list_lag: int = 0) -> None:
        super().__init__()
        self.user = user or ZoomUser(id="fake-zoom-user", email="creator@example.com", timezone="UTC")
        self.meetings: dict[int, ZoomMeeting] = {}
        self._ids = itertools.count(81_000_000_000)
        self.list_lag = list_lag
        """How many list calls a new meeting misses before Zoom lists it (in the order made)."""
        self._unlisted: dict[int, int] = {}

    def get_me(self, token: str) -> ZoomUser:
        self._authorized("get_me", token)
        return self.user

    def create_meeting(self, token: str, spec: MeetingSpec) -> ZoomMeeting:
        self._authorized("create_meeting", token)
        meeting_id = next(self._ids)
        meeting = ZoomMeeting(
            id=meeting_id,
            join_url=f"https://zoom.us/j/{meeting_id}",
            start_time=spec.start,
            duration_minutes=spec.duration_minutes,
            timezone=spec.timezone,
            topic=spec.topic,
            agenda=spec.agenda,
        )
        self.meetings[meeting_id] = meeting
        self._unlisted[meeting_id] = self.list_lag
        self._answer("create_meeting")
        return meeting

    def _find(self, meeting_id: int) -> ZoomMeeting:
        if meeting_id not in self.meetings:
            raise ProviderError(ErrorKind.NOT_FOUND, "zoom", 404, None, f"code 3001: no meeting {meeting_id}")
        return self.meetings[meeting_id]

    def get_meeting(self, token: str, meeting_id: int) -> ZoomMeeting:
        self._authorized("get_meeting", token)
        return self._find(meeting_id)

    def delete_meeting(self, token: str, meeting_id: int) -> None:
        self._authorized("delete_meeting", token)
        del self.meetings[self._find(meeting_id).id]

    def list_meetings(self, token: str) -> list[ZoomMeeting]:
        self._authorized("list_meetings", token)
        listed = [replace(m, agenda=m.agenda[:250]) for m in self.meetings.values() if not self._unlisted.get(m.id)]
        self._unlisted = {meeting_id: misses - 1 for meeting_id, misses in self._unlisted.items() if misses > 0}
        return listed


class BusyZoom(FakeZoom):
    """Runs `during` once, inside the next create call: what another worker does while a slow Zoom keeps this
    one there."""

    def __init__(self) -> None:
        super().__init__()
        self.during: Callable[[], None] | None = None

    def create_meeting(self, token: str, spec: MeetingSpec) -> ZoomMeeting:
        if self.during is not None:
            during, self.during = self.during, None
            during()
        return super().create_meeting(token, spec)


class FakeGoogleCalendar(_Faults):
    """Events by id, with Google's id rules: a repeat insert is CONFLICT, a deleted event stays `cancelled`."""

    provider: Provider = "google"

    def __init__(self) -> None:
        super().__init__()
        self.events: dict[str, CalendarEvent] = {}
        self.busy: list[tuple[datetime, datetime]] = []
        self.meet_pending_reads = 0
        """A new Meet is `pending` for this many reads of its event before its link appears."""
        self._pending: dict[str, int] = {}

    def free_busy(self, token: str, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        self._authorized("free_busy", token)
        events = [(e.start, e.end) for e in self.events.values() if e.status != "cancelled" and e.start and e.end]
        return sorted((s, e) for s, e in [*self.busy, *events] if s < end and e > start)

    def _store(self, spec: EventSpec) -> CalendarEvent:
        if spec.with_meet and self.meet_pending_reads and spec.event_id not in self.events:
            self._pending[spec.event_id] = self.meet_pending_reads
        pending = spec.with_meet and spec.event_id in self._pending
        event = CalendarEvent(
            id=spec.event_id,
            status="confirmed",
            hangout_link=f"https://meet.google.com/{spec.event_id[:10]}" if spec.with_meet and not pending else None,
            meet_pending=pending,
            start=spec.start,
            end=spec.end,
            summary=spec.summary,
            description=spec.description,
            location=spec.location,
        )
        self.events[spec.event_id] = event
        return event

    def _live(self, event_id: str) -> CalendarEvent:
        event = self.events.get(event_id)
        if event is None or event.status == "cancelled":
            raise ProviderError(ErrorKind.NOT_FOUND, "google", 410 if event else 404, None, "notFound")
        return event

    def insert_event(self, token: str, spec: EventSpec) -> CalendarEvent:
        self._authorized("insert_event", token)
        if spec.event_id in self.events:
            raise ProviderError(ErrorKind.CONFLICT, "google", 409, None, "duplicate: event id already exists")
        event = self._store(spec)
        self._answer("insert_event")
        return event

    def patch_event(self, token: str, spec: EventSpec) -> CalendarEvent:
        self._authorized("patch_event", token)
        self._live(spec.event_id)
        return self._store(spec)

    def get_event(self, token: str, event_id: str) -> CalendarEvent:
        self._authorized("get_event", token)
        event = self.events.get(event_id)
        if event is None:
            raise ProviderError(ErrorKind.NOT_FOUND, "google", 404, None, "notFound")
        if event_id in self._pending:
            self._pending[event_id] -= 1
            if self._pending[event_id] <= 0:
                del self._pending[event_id]
                event = replace(event, hangout_link=f"https://meet.google.com/{event_id[:10]}", meet_pending=False)
                self.events[event_id] = event
        return event

    def delete_event(self, token: str, event_id: str) -> None:
        self._authorized("delete_event", token)
        self.events[event_id] = replace(self._live(event_id), status="cancelled")


def fake_oauth_providers(clock: Clock) -> dict[str, FakeOAuthProvider]:
    """Zoom and Google OAuth as the connect flow meets them: Zoom names no email and rotates its refresh
    token; Google grants exactly the scopes Flo asks for and keeps its refresh token."""
    google = FakeOAuthProvider(
        "google",
        clock,
        email="creator@gmail.example",
        granted_scopes=GOOGLE_SCOPES,
        required_scopes=GOOGLE_SCOPES,
        rotate_refresh_tokens=False,
    )
    return {"zoom": FakeOAuthProvider("zoom", clock, email=None), "google": google}
