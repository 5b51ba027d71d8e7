"""After a Google write pause: the calendar work the pause refused is done once Google takes writes again.

While a creator's Google writes are paused, bookings decide without them (see `google_pause.py`): one booked
gets no event, one rescheduled keeps its event at the old time, one cancelled may keep its event, and one that
had only Google to give it a link gets none. Once the pause is over (and a reconcile that saw it last has written
what it decided), the scheduler tick goes through the creator's upcoming bookings that the pause may have
touched: a link-less one is reopened as a reconnect reopens it (`BookingService.retry_link`: the meetings
worker makes the link, notify sends link_ready to the fan and the creator); one whose event is missing, behind
or, cancelled, perhaps still there, is published again, and its reconcile inserts, moves or deletes the event as
the booking says. A booking that has a link keeps it (a reconcile never changes a decided link). Only then is
the pause marked caught up, and only if no new pause was set meanwhile. Running twice is harmless: the reopening is
conditional on the booking as read, and another reconcile of an event already right changes nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime
from functools import partial

from shared.bookings.batch import guarded
from shared.bookings.booking import Booking
from shared.bookings.notices import GOOGLE_WRITES_CAUGHT_UP, Notices
from shared.bookings.outbox import Outbox
from shared.bookings.repository import BookingRepository, each_of_creator
from shared.bookings.service import LINK_NUDGE_INTERVAL, BookingService
from shared.clock import Clock
from shared.connections.port import Connections
from shared.meetings.google_pause import EndedPause, GoogleWritePause
from shared.meetings.reconcile import DELETE_RETRY_WINDOW, LEASE_TTL

log = logging.getLogger(__name__)
PAUSES_BATCH = 100
CATCH_UP_AFTER = LEASE_TTL
"""How long after a pause ends its catch-up waits: Google is a reconcile's last provider step, so one that found
the pause just before it ended writes its decision at once, well within its lease."""


def _tried_during(booking: Booking, pause: EndedPause) -> bool:
    """Whether a Google write for the booking as it is may have been refused by the pause: its revision is older
    than the pause's end, and that revision's reconciles (until its link deadline and the nudge after it; for a
    cancel, until its cleanup window closes) reach back to the pause's start."""
    if booking.updated_at > pause.until:
        return False
    if pause.since is None:
        return True
    if booking.confirmed and booking.link_deadline_at is not None:
        return booking.link_deadline_at + LINK_NUDGE_INTERVAL >= pause.since
    return booking.updated_at + DELETE_RETRY_WINDOW >= pause.since


def _event_behind(booking: Booking) -> bool:
    """A confirmed booking's Google event is missing, or at another time, or without the booking's link."""
    event = booking.google_event
    if event is None:
        return True
    return event.start != booking.start or booking.meeting_url not in (event.zoom_url, event.meet_url)


class GoogleCatchUp:
    def __init__(
        self,
        pauses: GoogleWritePause,
        bookings: BookingRepository,
        service: BookingService,
        outbox: Outbox,
        connections: Connections,
        notices: Notices,
        clock: Clock,
    ) -> None:
        self._pauses = pauses
        self._bookings = bookings
        self._service = service
        self._outbox = outbox
        self._connections = connections
        self._notices = notices
        self._clock = clock

    def run(self) -> dict[str, int]:
        """Catch up every pause that has ended; one that fails is logged and caught up by a later tick."""
        now = self._clock.now()
        counts = {"google_pauses_caught_up": 0, "google_events_republished": 0, "google_links_reopened": 0}
        for pause in self._pauses.ended_by(now - CATCH_UP_AFTER, PAUSES_BATCH):
            step = partial(self._catch_up, pause, now, counts)
            guarded(pause.creator_id, step, "catching up after a Google write pause", subject="creator")
        return counts

    def _catch_up(self, pause: EndedPause, now: datetime, counts: dict[str, int]) -> None:
        """The creator's touched bookings put right, then the pause marked caught up unless one of them failed (a
        later tick tries again). With Google no longer connected Flo can write nothing there: the pause is just
        marked."""
        failed = False
        connected = self._connections.status(pause.creator_id, "google") == "connected"
        if connected:
            for booking_id, booking in each_of_creator(self._bookings, pause.creator_id, upcoming=True, now=now):
                if not _tried_during(booking, pause):
                    continue
                if booking.confirmed and booking.link_decided and not booking.meeting_url:
                    reopen = partial(self._service.retry_link, booking_id, booking)
                    reopened = guarded(booking_id, reopen, "reopening a link after a Google pause")
                    counts["google_links_reopened"] += bool(reopened)
                    failed = failed or reopened is None
                elif booking.cancelled or (booking.confirmed and booking.link_decided and _event_behind(booking)):
                    republish = partial(self._republish, booking_id, booking, now)
                    republished = guarded(booking_id, republish, "republishing a booking after a Google pause")
                    counts["google_events_republished"] += bool(republished)
                    failed = failed or republished is None
        if failed or not self._pauses.caught_up(pause, now):
            return
        counts["google_pauses_caught_up"] += 1
        log.info("caught up after a Google write pause", extra={"creator_id": pause.creator_id})
        if connected:
            self._resolve_notices(pause)

    def _resolve_notices(self, pause: EndedPause) -> None:
        """The creator's notices of the pauses caught up say so (a new pause's own, made after, stays as it is)."""
        for notice in self._notices.open_of_kind(pause.creator_id, "google_writes_paused"):
            if not notice.resolved and notice.created_at <= pause.until:
                self._notices.resolve(notice.notice_id, GOOGLE_WRITES_CAUGHT_UP)

    def _republish(self, booking_id: str, booking: Booking, now: datetime) -> bool:
        """The booking's reconcile owed again: it inserts, moves or deletes the event as the booking says."""
        self._outbox.republish(booking_id, booking.revision, now)
        return True
