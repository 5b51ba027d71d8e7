"""Reconcile, don't replay: load the booking as it is now and drive Zoom and Google toward it.

Every outside object is recorded on the booking before or right after it is made: one stable marker
per booking goes into every Zoom agenda (recorded as the booking's intent before the create call), so a
retry after a crash or a lost answer adopts the meeting instead of making a second one, and extras are
deleted. The intent is cleared only once Zoom lists the recorded meeting; this assumes Zoom's listing
catches up in the order meetings were made, so an earlier one carrying the marker shows by then too.
Google event ids are derived from the booking, so a cancel deletes the event whether or not its
creation was recorded. A link once decided for a revision stays (a redelivery never swaps it); only a
new revision owes a new one. Duplicate, late and out-of-order events are just more reconciles.

One worker at a time reconciles a booking (a short lease it renews while it works, so a crashed worker's
lapses within seconds), and every write it makes is fenced by that lease and conditional on the revision
and status it was decided from.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from shared.bookings.booking import Booking, GoogleEventRef, LinkProvider, LinkStatus, ZoomMeetingRef
from shared.bookings.model import is_zoom_url
from shared.bookings.notices import Notices
from shared.bookings.repository import BookingRepository
from shared.bus.port import Publisher
from shared.clock import Clock
from shared.connections.port import Connection, Connections, ConnectionStatus, NotConnectedError
from shared.meetings.google_pause import GoogleWritePause
from shared.meetings.quota import ZoomQuota
from shared.providers.errors import ErrorKind, Provider, ProviderError
from shared.providers.google_calendar import event_id_for
from shared.providers.models import EventSpec, MeetingSpec, ZoomMeeting
from shared.providers.ports import CalendarProvider, VideoProvider
from shared.store.lease import Heartbeat, Lease, LeaseLost, release_lease, take_lease
from shared.store.port import DocStore

log = logging.getLogger(__name__)
T = TypeVar("T")
LINK_EVENTS = "link-events"
LEASE_TTL = timedelta(seconds=30)
"""Three heartbeats: the worker renews its lease every 10 s while it reconciles (`Heartbeat`), however long
its token waits (45 s each) and provider calls (30 s at worst each) take, so a live worker keeps it and a
crashed one blocks the booking for 30 s at most. One renewal slow or contended does not lose a live lease,
and a worker that lost it anyway is fenced: its writes are refused."""
HEARTBEAT_SECONDS = LEASE_TTL.total_seconds() / 3
DELETE_RETRY_WINDOW = timedelta(minutes=15)
"""How long after a cancel or reschedule a failing delete is retried before the creator is told (within the
subscription's ~20 minutes of redeliveries, so the notice is written before Pub/Sub dead-letters the event)."""


def zoom_marker(booking_id: str) -> str:
    """The first line of the agenda of every Zoom meeting made for the booking, the same on every attempt."""
    return f"flo-booking {booking_id}"


def _carries(meeting: ZoomMeeting, marker: str) -> bool:
    first_line = meeting.agenda.split("\n", 1)[0]
    return first_line == marker or first_line.startswith(f"{marker} ")  # earlier markers added an attempt id


def _look_again_while_marked(booking: Booking) -> None:
    """An intent still set means a meeting may be in Zoom that Flo has not found (a create whose answer was
    lost, listed late): the reconcile comes back for it, adopting or deleting it, whatever the link settled on."""
    if booking.zoom_intent:
        raise RetryLater("Zoom does not list the booking's meeting yet; checking again")


def _untold(booking: Booking) -> bool:
    """A recorded Zoom meeting the decided link is not (it settled on Meet or none while Zoom was out of reach):
    the fan was never given it, and a decided link never changes, so it is one nobody will join."""
    return booking.link_decided and booking.video_provider != "zoom"


class _RunConnections:
    """The creator's connections as one reconcile uses them: each read once, on first use, for its status and its
    token alike. The connection read keeps the token that worked for the reconcile's later calls; one refused
    (expired meanwhile, or revoked) goes back through the repository, which refreshes and retries, or marks the
    connection for reconnecting, exactly as for a first call."""

    def __init__(self, connections: Connections) -> None:
        self._connections = connections
        self._read: dict[tuple[str, Provider], Connection] = {}

    def _connection(self, creator_id: str, provider: Provider) -> Connection:
        key = (creator_id, provider)
        if key not in self._read:
            self._read[key] = self._connections.read(creator_id, provider)
        return self._read[key]

    def status(self, creator_id: str, provider: Provider) -> ConnectionStatus:
        return self._connection(creator_id, provider).status

    def with_token(self, creator_id: str, provider: Provider, call: Callable[[str], T]) -> T:
        return self._connection(creator_id, provider).with_token(call)


@dataclass(frozen=True)
class _Run:
    """One reconcile: the booking it is for, the lease that fences its writes and the connections it reads once."""

    booking_id: str
    lease: Lease
    connections: _RunConnections


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
        quota: ZoomQuota,
        google_pause: GoogleWritePause,
        heartbeat_every: float = HEARTBEAT_SECONDS,
    ) -> None:
        self._heartbeat_every = heartbeat_every
        self._bookings = bookings
        self._leases = leases
        self._notices = notices
        self._publisher = publisher
        self._clock = clock
        self._connections = connections
        self._zoom = zoom
        self._calendar = calendar
        self._quota = quota
        self._google_pause = google_pause

    def reconcile(self, booking_id: str) -> None:
        lease = take_lease(self._leases, f"meetings-{booking_id}", self._clock.now(), LEASE_TTL)
        if lease is None:
            raise RetryLater("another worker is reconciling this booking")
        try:
            with Heartbeat(self._leases, lease, self._clock, LEASE_TTL, self._heartbeat_every):
                booking = self._bookings.get(booking_id)
                if booking is None or booking.pending_payment:
                    return
                self._reconcile(_Run(booking_id, lease, _RunConnections(self._connections)), booking)
        except _Superseded:
            log.info(
                "booking changed during the reconcile; its new revision's event follows",
                extra={"booking_id": booking_id},
            )
        except LeaseLost:
            raise RetryLater("the reconcile outlasted its lease; another worker took over") from None
        finally:
            release_lease(self._leases, lease)

    # ---- the steps -----------------------------------------------------------------------------------------

    def _write(self, run: _Run, seen: Booking, changes: Booking) -> Booking:
        """Record what this reconcile made, fenced by its lease, only if the booking is still the revision
        and status it was decided from (else the new revision's event reconciles the booking as it is now)."""
        written = self._bookings.update_if(run.booking_id, seen, changes, fence=run.lease)
        if written is None:
            raise _Superseded
        return written

    def _reconcile(self, run: _Run, booking: Booking) -> None:
        revision = booking.revision
        settled = booking.link_decided
        stored, zoom_url = self._reconcile_zoom(run, booking)
        by_hand = stored.meeting_url if stored.link_manual and stored.confirmed else None
        booking, meet_url = self._reconcile_google(run, stored, by_hand or zoom_url)
        if not booking.confirmed:
            if booking.link_nudge_at is not None:  # the cancel's cleanup is done: no nudge republishes it
                booking = self._write(run, booking, replace(booking, link_nudge_at=None))
            _look_again_while_marked(booking)
            return
        provider: LinkProvider | None = "zoom" if zoom_url else "google_meet" if meet_url else None
        url = zoom_url or meet_url
        status: LinkStatus = "ready" if url else "unavailable"
        if settled:  # a redelivery never changes a decided link: only a new revision owes a new one
            provider, url, status = booking.video_provider, booking.meeting_url, booking.link_status
        link = replace(
            booking,
            meeting_url=url,
            video_provider=provider,
            link_status=status,
            link_revision=revision,
            link_nudge_at=None,
        )
        recorded = self._write(run, stored, link)  # with the Google event made or moved for it, in one write
        if recorded.link_published_revision != revision:
            kind = "link.ready" if url else "link.unavailable"
            self._publisher.publish(LINK_EVENTS, {"type": kind, "booking_id": run.booking_id, "revision": revision})
            # A fact, not a decision: the event went out. Unfenced and unconditional (no transaction): a worker
            # that lost its lease meanwhile did publish it, and a mark missing only means one more publish.
            recorded = self._bookings.record(
                run.booking_id, recorded, replace(recorded, link_published_revision=revision)
            )
            log.info(
                "link recorded",
                extra={"booking_id": run.booking_id, "creator_id": booking.creator_id, "link_status": status},
            )
        _look_again_while_marked(recorded)

    def _reconcile_zoom(self, run: _Run, booking: Booking) -> tuple[Booking, str | None]:
        """The booking with its Zoom meeting made, moved or deleted as it says, and the join URL it now has."""
        revision = booking.revision
        want = (
            booking.confirmed
            and not booking.link_decided
            and not booking.link_manual
            and booking.zoom_failed_revision != revision
        )
        try:
            if booking.zoom_intent:
                booking = self._settle_marked(run, booking)
            if booking.zoom and self._meeting_unused(booking, booking.zoom):
                booking = self._delete_meeting(run, booking, booking.zoom.meeting_id)
            if want and booking.zoom is None and run.connections.status(booking.creator_id, "zoom") == "connected":
                if not self._quota.take(booking.creator_id, self._clock.now()):
                    self._notices.zoom_quota_spent(booking.creator_id, self._clock.now())
                    raise _GiveUp("zoom daily meeting limit spent")
                booking = self._create_meeting(run, booking)
                if booking.zoom_intent:
                    booking = self._settle_marked(run, booking)
        except _GiveUp as give_up:
            log.warning(
                "no Zoom link for this revision", extra={"booking_id": run.booking_id, "reason": give_up.reason}
            )
            failed = replace(booking, zoom_failed_revision=revision, zoom_failed_reason=give_up.reason)
            return self._write(run, booking, failed), None
        return booking, booking.zoom.join_url if booking.zoom and booking.confirmed else None

    @staticmethod
    def _meeting_unused(booking: Booking, meeting: ZoomMeetingRef) -> bool:
        """Flo's meeting goes once the booking no longer uses it: cancelled, moved, replaced by a hand-set link, or
        never given to the fan (see `_untold`)."""
        replaced = booking.link_manual and meeting.join_url != booking.meeting_url
        return not booking.confirmed or meeting.start != booking.start or replaced or _untold(booking)

    def _settle_marked(self, run: _Run, booking: Booking) -> Booking:
        """Every meeting Zoom lists with the booking's marker: adopt one if none is recorded and the link is
        still open (a create whose answer was lost), delete the others, and clear the intent only once Zoom
        lists the recorded one."""
        marker = zoom_marker(run.booking_id)
        deadline = booking.link_deadline_at if booking.confirmed else self._cleanup_deadline(booking)
        listed = self._call(run, booking.creator_id, "zoom", self._zoom.list_meetings, deadline) or []
        marked = [m for m in listed if _carries(m, marker)]
        kept = booking.zoom
        if kept is None and booking.confirmed and not booking.link_decided and marked:
            found = next((m for m in marked if m.start_time == booking.start), marked[0])
            kept = ZoomMeetingRef(found.id, found.join_url, found.start_time)
        for extra in marked:
            if kept is None or extra.id != kept.meeting_id:
                self._delete_zoom(run, booking, extra.id)
        # Cleared only on what Zoom showed: the recorded meeting listed, or (none kept) every marked one deleted,
        # or, none ever listed, once the window in which Zoom lists a lost create has passed.
        if kept is not None:
            shown = any(m.id == kept.meeting_id for m in marked)
        else:
            shown = bool(marked) or self._clock.now() >= self._cleanup_deadline(booking)
        return self._write(run, booking, replace(booking, zoom=kept, zoom_intent=None if shown else marker))

    def _create_meeting(self, run: _Run, booking: Booking) -> Booking:
        """Make the meeting under a recorded intent. With no earlier attempt's intent outstanding, only this
        create can carry the marker, so the intent is cleared with the meeting's own write (Zoom is not listed);
        after an earlier attempt, it stays for `_settle_marked` to find that attempt's meeting too."""
        marker = zoom_marker(run.booking_id)
        earlier_attempt = booking.zoom_intent is not None
        booking = self._write(run, booking, replace(booking, zoom_intent=marker))
        spec = MeetingSpec(
            topic=f"{booking.offer_title} with {booking.fan.name}"[:200],
            agenda=f"{marker}\nBooked with Flo. Manage this session from your Flo dashboard.",
            start=booking.start,
            duration_minutes=booking.duration_minutes,
            timezone=booking.timezone,
        )
        try:
            meeting = self._call(
                run, booking.creator_id, "zoom", lambda t: self._zoom.create_meeting(t, spec), booking.link_deadline_at
            )
        except _GiveUp as give_up:
            if not give_up.maybe_done:  # Zoom refused it: there is no meeting to look for
                self._write(run, booking, replace(booking, zoom_intent=None))
            raise
        made = ZoomMeetingRef(meeting.id, meeting.join_url, booking.start)
        try:
            return self._write(
                run, booking, replace(booking, zoom=made, zoom_intent=marker if earlier_attempt else None)
            )
        except LeaseLost:
            # Another worker owns the booking now and may have made its own: this one would be an untracked extra.
            self._delete_zoom(run, booking, meeting.id)
            raise

    def _delete_meeting(self, run: _Run, booking: Booking, meeting_id: int) -> Booking:
        self._delete_zoom(run, booking, meeting_id)
        return self._write(run, booking, replace(booking, zoom=None))

    def _delete_zoom(self, run: _Run, booking: Booking, meeting_id: int) -> None:
        """Delete one of the booking's meetings (gone already is done); one that cannot be is a notice."""
        try:
            self._call(
                run,
                booking.creator_id,
                "zoom",
                lambda t: self._zoom.delete_meeting(t, meeting_id),
                self._cleanup_deadline(booking),
            )
        except _GiveUp as give_up:
            log.warning(
                "Zoom meeting left behind",
                extra={"booking_id": run.booking_id, "meeting_id": meeting_id, "reason": give_up.reason},
            )
            self._notices.zoom_delete_failed(booking.creator_id, run.booking_id, meeting_id)

    def _reconcile_google(self, run: _Run, booking: Booking, link_url: str | None) -> tuple[Booking, str | None]:
        """The booking with its Google event made, moved or deleted as it says, and the Meet URL to use if any.
        `link_url` is the link the event carries instead of a Meet (Zoom's, or one the creator set by hand).
        A confirmed booking's event made or moved is not written here: the link's write, right after, records it
        (and if that write never happens, the event's derived id finds it again, for the next try or a cancel)."""
        creator_id = booking.creator_id
        event = booking.google_event
        try:
            if not booking.confirmed:
                return self._delete_event(run, booking), None
            if run.connections.status(creator_id, "google") != "connected":
                return booking, None
            spec = self._event_spec(run.booking_id, booking, link_url)
            link_deadline = booking.link_deadline_at
            if event is None:
                made = self._call(run, creator_id, "google", lambda t: self._insert_or_patch(t, spec), link_deadline)
            elif event.start != booking.start or event.zoom_url != link_url:
                made = self._call(
                    run, creator_id, "google", lambda t: self._calendar.patch_event(t, spec), link_deadline
                )
            elif link_url or event.meet_url or booking.link_decided:
                return booking, None if link_url else event.meet_url
            else:  # a Meet Google was still making: is it there now?
                made = self._call(
                    run, creator_id, "google", lambda t: self._calendar.get_event(t, spec.event_id), link_deadline
                )
            if made is None:
                # The creator deleted the event in Google Calendar (patch answered not found): none to move.
                return replace(booking, google_event=None), None
            meet = None if link_url else made.hangout_link
            recorded = GoogleEventRef(event_id=spec.event_id, start=booking.start, zoom_url=link_url, meet_url=meet)
            with_event = replace(booking, google_event=recorded)
            if meet is None and link_url is None and made.meet_pending:
                self._wait_for_meet(run, booking, with_event)
            return with_event, meet
        except _GiveUp as give_up:
            log.warning(
                "no Google event for this revision", extra={"booking_id": run.booking_id, "reason": give_up.reason}
            )
            return booking, None

    def _wait_for_meet(self, run: _Run, booking: Booking, with_event: Booking) -> None:
        """Google answered that the Meet is `pending`: keep the event and look again on a redelivery (Pub/Sub's
        backoff spaces the looks) until the link deadline, rather than settle the booking with no link. Past
        the deadline it settles as it is, as for any link not made in time."""
        deadline = with_event.link_deadline_at
        if deadline is None or self._clock.now() >= deadline:
            return
        if with_event.google_event != booking.google_event:  # recorded once, so the next look only reads it
            self._write(run, booking, with_event)
        raise RetryLater("Google is still making the Meet link")

    def _delete_event(self, run: _Run, booking: Booking) -> Booking:
        """A cancelled booking's event goes, recorded or not: its id is derived from the booking, so an insert
        whose answer was lost is deleted too (not found is done)."""
        if booking.google_event is None and run.connections.status(booking.creator_id, "google") != "connected":
            return booking
        event_id = event_id_for(run.booking_id)
        deadline = self._cleanup_deadline(booking)
        self._call(run, booking.creator_id, "google", lambda t: self._calendar.delete_event(t, event_id), deadline)
        return self._write(run, booking, replace(booking, google_event=None))

    def _insert_or_patch(self, token: str, spec: EventSpec) -> Any:
        try:
            return self._calendar.insert_event(token, spec)
        except ProviderError as exc:
            if exc.kind is not ErrorKind.CONFLICT:
                raise
            return self._calendar.patch_event(token, spec)

    @staticmethod
    def _event_spec(booking_id: str, booking: Booking, link_url: str | None) -> EventSpec:
        fan = booking.fan
        lines = [f"{booking.offer_title} with {fan.name} ({fan.email}), booked with Flo."]
        if link_url:
            lines.append(f"Join with Zoom: {link_url}" if is_zoom_url(link_url) else f"Join: {link_url}")
        return EventSpec(
            event_id=event_id_for(booking_id),
            summary=f"{booking.offer_title} with {fan.name}",
            description="\n".join(lines),
            location=link_url,
            start=booking.start,
            end=booking.end,
            timezone=booking.timezone,
            with_meet=link_url is None,
        )

    # ---- provider calls and failure policy -----------------------------------------------------------------

    @staticmethod
    def _cleanup_deadline(booking: Booking) -> datetime:
        return booking.updated_at + DELETE_RETRY_WINDOW

    def _call(
        self, run: _Run, creator_id: str, provider: Provider, fn: Callable[[str], T], deadline: datetime | None
    ) -> T:
        """One provider call under the failure policy: revoked gives up at once, transient and rate-limited
        failures retry (through Pub/Sub redelivery) until the booking's link deadline, not-found is done, and
        Google's usage limits pause the creator's Google calls (see GoogleWritePause)."""
        if provider == "google":
            until = self._google_pause.paused_until(creator_id, self._clock.now())
            if until is not None:
                raise self._paused(until, deadline)
        try:
            return run.connections.with_token(creator_id, provider, fn)
        except NotConnectedError as exc:
            raise _GiveUp(str(exc)) from None
        except ProviderError as exc:
            now = self._clock.now()
            if exc.kind is ErrorKind.NOT_FOUND:
                return None  # type: ignore[return-value]
            if exc.kind is ErrorKind.USAGE_LIMITED:
                until = self._google_pause.pause(creator_id, now, exc.retry_after)
                self._notices.google_writes_paused(creator_id, until, now)
                raise self._paused(until, deadline) from None
            if exc.kind.retryable:
                wait = timedelta(seconds=exc.retry_after or 0)
                if deadline is not None and now + wait < deadline:
                    raise RetryLater(str(exc)) from None
                if deadline is None and exc.kind is ErrorKind.TRANSIENT:
                    raise RetryLater(str(exc)) from None
            raise _GiveUp(f"{exc.provider} {exc.kind.value}", maybe_done=exc.kind is ErrorKind.TRANSIENT) from None

    @staticmethod
    def _paused(until: datetime, deadline: datetime | None) -> Exception:
        """While Google's usage limits last: wait (by redelivery) only when the pause ends before the deadline."""
        if deadline is None or until < deadline:
            return RetryLater("Google writes are paused for this creator (usage limits)")
        return _GiveUp("google writes paused (usage limits)")


class _Superseded(Exception):
    """The booking moved on to a new revision meanwhile: that revision's own event reconciles it."""


class _GiveUp(Exception):
    def __init__(self, reason: str, *, maybe_done: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.maybe_done = maybe_done
        """The call may have gone through though its answer never came (a timeout, a 5xx): a refusal did not."""
