"""Reconcile, don't replay: load the booking as it is now and drive Zoom and Google toward it.

Every outside object is recorded on the booking before or right after it is made (an intent marker
goes into the Zoom agenda before the create call), so a retry after a crash finds the meeting it made
instead of making a second one. Duplicate, late and out-of-order events are just more reconciles.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from shared.bookings.model import BOOKINGS, NOTICES
from shared.bus.port import Publisher
from shared.clock import Clock
from shared.connections.port import Connections, NotConnectedError
from shared.providers.errors import ErrorKind, Provider, ProviderError
from shared.providers.google_calendar import event_id_for
from shared.providers.models import EventSpec, MeetingSpec
from shared.providers.ports import CalendarProvider, VideoProvider
from shared.store.lease import release_lease, take_lease
from shared.store.port import Conflict, Doc, DocStore, Txn, create, update

log = logging.getLogger(__name__)
T = TypeVar("T")
LINK_EVENTS = "link-events"
LEASE_TTL = timedelta(seconds=120)
DELETE_RETRY_WINDOW = timedelta(minutes=15)
"""How long after a cancel or reschedule a failing delete is retried before the creator is told (within the
subscription's ~20 minutes of redeliveries, so the notice is written before Pub/Sub dead-letters the event)."""
ZOOM_DELETE_FAILED = "We could not remove a Zoom meeting for a cancelled session"


class RetryLater(Exception):
    """The booking's link can still come in time: let Pub/Sub redeliver with backoff."""


@dataclass
class _Fallback:
    """Why a provider was given up on for this revision (revoked, over its limit, past the deadline)."""

    reason: str


class MeetingReconciler:
    def __init__(
        self,
        store: DocStore,
        publisher: Publisher,
        clock: Clock,
        connections: Connections,
        zoom: VideoProvider,
        calendar: CalendarProvider,
    ) -> None:
        self._store = store
        self._publisher = publisher
        self._clock = clock
        self._connections = connections
        self._zoom = zoom
        self._calendar = calendar

    def reconcile(self, booking_id: str) -> None:
        lease = f"meetings-{booking_id}"
        holder = take_lease(self._store, lease, self._clock.now(), LEASE_TTL)
        if holder is None:
            raise RetryLater("another worker is reconciling this booking")
        try:
            booking = self._store.get(BOOKINGS, booking_id)
            if booking is None or booking["status"] == "pending_payment":
                return
            self._reconcile(booking_id, booking)
        finally:
            release_lease(self._store, lease, holder)

    # ---- the steps -----------------------------------------------------------------------------------------

    def _reconcile(self, booking_id: str, booking: Doc) -> None:
        creator_id = booking["creator_id"]
        revision = int(booking["revision"])
        confirmed = booking["status"] == "confirmed"
        zoom_url = self._reconcile_zoom(booking_id, booking, confirmed)
        meet_url = self._reconcile_google(booking_id, booking, confirmed, zoom_url)
        if not confirmed:
            return
        url, provider = (zoom_url, "zoom") if zoom_url else (meet_url, "google_meet") if meet_url else (None, None)
        status = "ready" if url else "unavailable"

        def settle(txn: Txn) -> bool:
            current = txn.get(BOOKINGS, booking_id)
            if current is None or int(current["revision"]) != revision:
                return False
            txn.write(
                update(
                    BOOKINGS,
                    booking_id,
                    {
                        "meeting_url": url,
                        "video_provider": provider,
                        "link_status": status,
                        "link_revision": revision,
                        "link_nudge_at": None,
                    },
                )
            )
            return current.get("link_published_revision") != revision

        if self._store.transaction(settle):
            kind = "link.ready" if url else "link.unavailable"
            self._publisher.publish(LINK_EVENTS, {"type": kind, "booking_id": booking_id, "revision": revision})
            self._store.commit([update(BOOKINGS, booking_id, {"link_published_revision": revision})])
            log.info("link settled", extra={"booking_id": booking_id, "creator_id": creator_id, "link_status": status})

    def _reconcile_zoom(self, booking_id: str, booking: Doc, confirmed: bool) -> str | None:
        creator_id = booking["creator_id"]
        revision = int(booking["revision"])
        state: Doc | None = booking.get("zoom")
        intent: str | None = booking.get("zoom_intent")
        want = confirmed and booking.get("zoom_failed_revision") != revision
        try:
            if intent and state is None:
                state = self._adopt(booking_id, creator_id, intent)
            if state and (not confirmed or state["start"] != booking["start"]):
                self._delete_meeting(booking_id, booking, state)
                state = None
            if want and state is None and self._connections.status(creator_id, "zoom") == "connected":
                state = self._create_meeting(booking_id, booking)
        except _GiveUp as give_up:
            log.warning("no Zoom link for this revision", extra={"booking_id": booking_id, "reason": give_up.reason})
            self._store.commit(
                [update(BOOKINGS, booking_id, {"zoom_failed_revision": revision, "zoom_failed_reason": give_up.reason})]
            )
            return None
        return str(state["join_url"]) if state else None

    def _adopt(self, booking_id: str, creator_id: str, marker: str) -> Doc | None:
        """A create may have happened before the crash: find it by the marker written into its agenda."""
        meetings = self._call(creator_id, "zoom", self._zoom.list_meetings, self._deadline_of(booking_id))
        found = next((m for m in meetings if m.agenda.startswith(marker)), None)
        state = {"meeting_id": found.id, "join_url": found.join_url, "start": found.start_time} if found else None
        self._store.commit([update(BOOKINGS, booking_id, {"zoom": state, "zoom_intent": None})])
        return state

    def _create_meeting(self, booking_id: str, booking: Doc) -> Doc:
        marker = f"flo-booking {booking_id} {uuid.uuid4().hex[:8]}"
        self._store.commit([update(BOOKINGS, booking_id, {"zoom_intent": marker})])
        spec = MeetingSpec(
            topic=f"{booking['offer_title']} with {booking['fan']['name']}"[:200],
            agenda=f"{marker}\nBooked with Flo. Manage this session from your Flo dashboard.",
            start=booking["start"],
            duration_minutes=int(booking["duration_minutes"]),
            timezone=booking["timezone"],
        )
        meeting = self._call(
            booking["creator_id"], "zoom", lambda t: self._zoom.create_meeting(t, spec), booking.get("link_deadline_at")
        )
        state = {"meeting_id": meeting.id, "join_url": meeting.join_url, "start": booking["start"]}
        self._store.commit([update(BOOKINGS, booking_id, {"zoom": state, "zoom_intent": None})])
        return state

    def _delete_meeting(self, booking_id: str, booking: Doc, state: Doc) -> None:
        meeting_id = int(state["meeting_id"])
        try:
            self._call(
                booking["creator_id"],
                "zoom",
                lambda t: self._zoom.delete_meeting(t, meeting_id),
                self._cleanup_deadline(booking),
            )
        except _GiveUp as give_up:
            self._notice_delete_failed(booking_id, booking, meeting_id, give_up.reason)
        self._store.commit([update(BOOKINGS, booking_id, {"zoom": None})])

    def _notice_delete_failed(self, booking_id: str, booking: Doc, meeting_id: int, reason: str) -> None:
        log.warning(
            "Zoom meeting left behind", extra={"booking_id": booking_id, "meeting_id": meeting_id, "reason": reason}
        )
        notice = {
            "creator_id": booking["creator_id"],
            "kind": "zoom_delete_failed",
            "booking_id": booking_id,
            "meeting_id": str(meeting_id),
            "message": ZOOM_DELETE_FAILED,
            "created_at": self._clock.now(),
            "dismissed": False,
        }
        with contextlib.suppress(Conflict):
            self._store.commit([create(NOTICES, f"zoom-delete-{meeting_id}", notice)])

    def _reconcile_google(self, booking_id: str, booking: Doc, confirmed: bool, zoom_url: str | None) -> str | None:
        creator_id = booking["creator_id"]
        event: Doc | None = booking.get("google_event")
        connected = self._connections.status(creator_id, "google") == "connected"
        try:
            if not confirmed:
                if event:
                    eid = event["event_id"]
                    deadline = self._cleanup_deadline(booking)
                    self._call(creator_id, "google", lambda t: self._calendar.delete_event(t, eid), deadline)
                    self._store.commit([update(BOOKINGS, booking_id, {"google_event": None})])
                return None
            if not connected:
                return None
            spec = self._event_spec(booking_id, booking, zoom_url)
            deadline = booking.get("link_deadline_at")
            if event is None:
                made = self._call(creator_id, "google", lambda t: self._insert_or_patch(t, spec), deadline)
            elif event["start"] != booking["start"] or event.get("zoom_url") != zoom_url:
                made = self._call(creator_id, "google", lambda t: self._calendar.patch_event(t, spec), deadline)
            else:
                return None if zoom_url else event.get("meet_url")
            if made is None:
                # The creator deleted the event in Google Calendar (patch answered not found): none to move.
                self._store.commit([update(BOOKINGS, booking_id, {"google_event": None})])
                return None
            meet = None if zoom_url else made.hangout_link
            self._store.commit(
                [
                    update(
                        BOOKINGS,
                        booking_id,
                        {
                            "google_event": {
                                "event_id": spec.event_id,
                                "start": booking["start"],
                                "zoom_url": zoom_url,
                                "meet_url": meet,
                            }
                        },
                    )
                ]
            )
            return meet
        except _GiveUp as give_up:
            log.warning("no Google event for this revision", extra={"booking_id": booking_id, "reason": give_up.reason})
            return None

    def _insert_or_patch(self, token: str, spec: EventSpec) -> Any:
        try:
            return self._calendar.insert_event(token, spec)
        except ProviderError as exc:
            if exc.kind is not ErrorKind.CONFLICT:
                raise
            return self._calendar.patch_event(token, spec)

    @staticmethod
    def _event_spec(booking_id: str, booking: Doc, zoom_url: str | None) -> EventSpec:
        fan = booking["fan"]
        lines = [f"{booking['offer_title']} with {fan['name']} ({fan['email']}), booked with Flo."]
        if zoom_url:
            lines.append(f"Join with Zoom: {zoom_url}")
        return EventSpec(
            event_id=event_id_for(booking_id),
            summary=f"{booking['offer_title']} with {fan['name']}",
            description="\n".join(lines),
            location=zoom_url,
            start=booking["start"],
            end=booking["end"],
            timezone=booking["timezone"],
            with_meet=zoom_url is None,
        )

    # ---- provider calls and failure policy -----------------------------------------------------------------

    @staticmethod
    def _cleanup_deadline(booking: Doc) -> datetime | None:
        changed: datetime | None = booking.get("updated_at")
        return changed + DELETE_RETRY_WINDOW if changed is not None else None

    def _deadline_of(self, booking_id: str) -> datetime | None:
        doc = self._store.get(BOOKINGS, booking_id) or {}
        deadline: datetime | None = doc.get("link_deadline_at")
        return deadline

    def _call(self, creator_id: str, provider: Provider, fn: Callable[[str], T], deadline: datetime | None) -> T:
        """One provider call under the failure policy: revoked gives up at once, transient and rate-limited
        failures retry (through Pub/Sub redelivery) until the booking's link deadline, not-found is done."""
        try:
            return self._connections.with_token(creator_id, provider, fn)
        except NotConnectedError as exc:
            raise _GiveUp(str(exc)) from None
        except ProviderError as exc:
            now = self._clock.now()
            if exc.kind is ErrorKind.NOT_FOUND:
                return None  # type: ignore[return-value]
            if exc.kind.retryable:
                wait = timedelta(seconds=exc.retry_after or 0)
                if deadline is not None and now + wait < deadline:
                    raise RetryLater(str(exc)) from None
                if deadline is None and exc.kind is ErrorKind.TRANSIENT:
                    raise RetryLater(str(exc)) from None
            raise _GiveUp(f"{exc.provider} {exc.kind.value}") from None


class _GiveUp(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
