"""Reconcile, don't replay: load the booking as it is now and drive Zoom and Google toward it.

Every outside object is recorded on the booking before or right after it is made (an intent marker
goes into the Zoom agenda before the create call), so a retry after a crash finds the meeting it made
instead of making a second one. Duplicate, late and out-of-order events are just more reconciles.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from shared.bookings.booking import Booking, GoogleEventRef, LinkProvider, LinkStatus, ZoomMeetingRef
from shared.bookings.notices import Notices
from shared.bookings.repository import BookingRepository
from shared.bus.port import Publisher
from shared.clock import Clock
from shared.connections.port import Connections, NotConnectedError
from shared.providers.errors import ErrorKind, Provider, ProviderError
from shared.providers.google_calendar import event_id_for
from shared.providers.models import EventSpec, MeetingSpec
from shared.providers.ports import CalendarProvider, VideoProvider
from shared.store.lease import release_lease, take_lease
from shared.store.port import DocStore

log = logging.getLogger(__name__)
T = TypeVar("T")
LINK_EVENTS = "link-events"
LEASE_TTL = timedelta(seconds=120)
DELETE_RETRY_WINDOW = timedelta(minutes=15)
"""How long after a cancel or reschedule a failing delete is retried before the creator is told (within the
subscription's ~20 minutes of redeliveries, so the notice is written before Pub/Sub dead-letters the event)."""


class RetryLater(Exception):
    """The booking's link can still come in time: let Pub/Sub redeliver with backoff."""


@dataclass
class _Fallback:
    """Why a provider was given up on for this revision (revoked, over its limit, past the deadline)."""

    reason: str


class MeetingReconciler:
    def __init__(
        self,
        bookings: BookingRepository,
        leases: DocStore,
        notices: Notices,
        publisher: Publisher,
        clock: Clock,
        connections: Connections,
        zoom: VideoProvider,
        calendar: CalendarProvider,
    ) -> None:
        self._bookings = bookings
        self._leases = leases
        self._notices = notices
        self._publisher = publisher
        self._clock = clock
        self._connections = connections
        self._zoom = zoom
        self._calendar = calendar

    def reconcile(self, booking_id: str) -> None:
        lease = f"meetings-{booking_id}"
        holder = take_lease(self._leases, lease, self._clock.now(), LEASE_TTL)
        if holder is None:
            raise RetryLater("another worker is reconciling this booking")
        try:
            booking = self._bookings.get(booking_id)
            if booking is None or booking.pending_payment:
                return
            self._reconcile(booking_id, booking)
        finally:
            release_lease(self._leases, lease, holder)

    # ---- the steps -----------------------------------------------------------------------------------------

    def _reconcile(self, booking_id: str, booking: Booking) -> None:
        revision = booking.revision
        booking, zoom_url = self._reconcile_zoom(booking_id, booking)
        booking, meet_url = self._reconcile_google(booking_id, booking, zoom_url)
        if not booking.confirmed:
            return
        provider: LinkProvider | None = "zoom" if zoom_url else "google_meet" if meet_url else None
        url = zoom_url or meet_url
        status: LinkStatus = "ready" if url else "unavailable"
        link = replace(
            booking,
            meeting_url=url,
            video_provider=provider,
            link_status=status,
            link_revision=revision,
            link_nudge_at=None,
        )
        recorded = self._bookings.update_if(booking_id, booking, link)
        if recorded is not None and recorded.link_published_revision != revision:
            kind = "link.ready" if url else "link.unavailable"
            self._publisher.publish(LINK_EVENTS, {"type": kind, "booking_id": booking_id, "revision": revision})
            self._bookings.record(booking_id, recorded, replace(recorded, link_published_revision=revision))
            log.info(
                "link recorded",
                extra={"booking_id": booking_id, "creator_id": booking.creator_id, "link_status": status},
            )

    def _reconcile_zoom(self, booking_id: str, booking: Booking) -> tuple[Booking, str | None]:
        """The booking with its Zoom meeting made, moved or deleted as it says, and the join URL it now has."""
        revision = booking.revision
        want = booking.confirmed and booking.zoom_failed_revision != revision
        try:
            if booking.zoom_intent and booking.zoom is None:
                booking = self._adopt(booking_id, booking, booking.zoom_intent)
            if booking.zoom and (not booking.confirmed or booking.zoom.start != booking.start):
                booking = self._delete_meeting(booking_id, booking, booking.zoom.meeting_id)
            if want and booking.zoom is None and self._connections.status(booking.creator_id, "zoom") == "connected":
                booking = self._create_meeting(booking_id, booking)
        except _GiveUp as give_up:
            log.warning("no Zoom link for this revision", extra={"booking_id": booking_id, "reason": give_up.reason})
            failed = replace(booking, zoom_failed_revision=revision, zoom_failed_reason=give_up.reason)
            return self._bookings.record(booking_id, booking, failed), None
        return booking, booking.zoom.join_url if booking.zoom else None

    def _adopt(self, booking_id: str, booking: Booking, marker: str) -> Booking:
        """A create may have happened before the crash: find it by the marker written into its agenda."""
        meetings = self._call(booking.creator_id, "zoom", self._zoom.list_meetings, self._deadline_of(booking_id))
        found = next((m for m in meetings if m.agenda.startswith(marker)), None)
        state = ZoomMeetingRef(found.id, found.join_url, found.start_time) if found else None
        return self._bookings.record(booking_id, booking, replace(booking, zoom=state, zoom_intent=None))

    def _create_meeting(self, booking_id: str, booking: Booking) -> Booking:
        marker = f"flo-booking {booking_id} {uuid.uuid4().hex[:8]}"
        booking = self._bookings.record(booking_id, booking, replace(booking, zoom_intent=marker))
        spec = MeetingSpec(
            topic=f"{booking.offer_title} with {booking.fan.name}"[:200],
            agenda=f"{marker}\nBooked with Flo. Manage this session from your Flo dashboard.",
            start=booking.start,
            duration_minutes=booking.duration_minutes,
            timezone=booking.timezone,
        )
        meeting = self._call(
            booking.creator_id, "zoom", lambda t: self._zoom.create_meeting(t, spec), booking.link_deadline_at
        )
        state = ZoomMeetingRef(meeting.id, meeting.join_url, booking.start)
        return self._bookings.record(booking_id, booking, replace(booking, zoom=state, zoom_intent=None))

    def _delete_meeting(self, booking_id: str, booking: Booking, meeting_id: int) -> Booking:
        try:
            self._call(
                booking.creator_id,
                "zoom",
                lambda t: self._zoom.delete_meeting(t, meeting_id),
                self._cleanup_deadline(booking),
            )
        except _GiveUp as give_up:
            log.warning(
                "Zoom meeting left behind",
                extra={"booking_id": booking_id, "meeting_id": meeting_id, "reason": give_up.reason},
            )
            self._notices.zoom_delete_failed(booking.creator_id, booking_id, meeting_id)
        return self._bookings.record(booking_id, booking, replace(booking, zoom=None))

    def _reconcile_google(self, booking_id: str, booking: Booking, zoom_url: str | None) -> tuple[Booking, str | None]:
        """The booking with its Google event made, moved or deleted as it says, and the Meet URL to use if any."""
        creator_id = booking.creator_id
        event = booking.google_event
        try:
            if not booking.confirmed:
                if event:
                    eid = event.event_id
                    deadline = self._cleanup_deadline(booking)
                    self._call(creator_id, "google", lambda t: self._calendar.delete_event(t, eid), deadline)
                    booking = self._bookings.record(booking_id, booking, replace(booking, google_event=None))
                return booking, None
            if self._connections.status(creator_id, "google") != "connected":
                return booking, None
            spec = self._event_spec(booking_id, booking, zoom_url)
            link_deadline = booking.link_deadline_at
            if event is None:
                made = self._call(creator_id, "google", lambda t: self._insert_or_patch(t, spec), link_deadline)
            elif event.start != booking.start or event.zoom_url != zoom_url:
                made = self._call(creator_id, "google", lambda t: self._calendar.patch_event(t, spec), link_deadline)
            else:
                return booking, None if zoom_url else event.meet_url
            if made is None:
                # The creator deleted the event in Google Calendar (patch answered not found): none to move.
                return self._bookings.record(booking_id, booking, replace(booking, google_event=None)), None
            meet = None if zoom_url else made.hangout_link
            recorded = GoogleEventRef(event_id=spec.event_id, start=booking.start, zoom_url=zoom_url, meet_url=meet)
            return self._bookings.record(booking_id, booking, replace(booking, google_event=recorded)), meet
        except _GiveUp as give_up:
            log.warning("no Google event for this revision", extra={"booking_id": booking_id, "reason": give_up.reason})
            return booking, None

    def _insert_or_patch(self, token: str, spec: EventSpec) -> Any:
        try:
            return self._calendar.insert_event(token, spec)
        except ProviderError as exc:
            if exc.kind is not ErrorKind.CONFLICT:
                raise
            return self._calendar.patch_event(token, spec)

    @staticmethod
    def _event_spec(booking_id: str, booking: Booking, zoom_url: str | None) -> EventSpec:
        fan = booking.fan
        lines = [f"{booking.offer_title} with {fan.name} ({fan.email}), booked with Flo."]
        if zoom_url:
            lines.append(f"Join with Zoom: {zoom_url}")
        return EventSpec(
            event_id=event_id_for(booking_id),
            summary=f"{booking.offer_title} with {fan.name}",
            description="\n".join(lines),
            location=zoom_url,
            start=booking.start,
            end=booking.end,
            timezone=booking.timezone,
            with_meet=zoom_url is None,
        )

    # ---- provider calls and failure policy -----------------------------------------------------------------

    @staticmethod
    def _cleanup_deadline(booking: Booking) -> datetime:
        return booking.updated_at + DELETE_RETRY_WINDOW

    def _deadline_of(self, booking_id: str) -> datetime | None:
        booking = self._bookings.get(booking_id)
        return booking.link_deadline_at if booking else None

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
