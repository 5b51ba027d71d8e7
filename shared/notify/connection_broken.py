"""One `connection_broken` email per break: the scheduler tick finds connections that turned Reconnect required
and tells the creator which integration, why, and which upcoming sessions it affects. The ledger keys the email
by the grant that broke, so a retry or an overlapping tick never sends it twice; a reconnect starts afresh."""

from __future__ import annotations

import logging
from functools import partial

from shared.bookings.booking import Booking
from shared.bookings.catalog import Catalog
from shared.bookings.repository import BookingRepository, each_of_creator
from shared.clock import Clock
from shared.connections.repository import BrokenConnection, DocStoreConnections
from shared.mail import MailSendError
from shared.mail.connection_broken import KIND, AffectedSession, render_connection_broken
from shared.notify.ledger import EmailKey, EmailLedger

log = logging.getLogger(__name__)
BATCH = 100


def _effect(provider: str, booking: Booking) -> str | None:
    """What a break of `provider` means for one upcoming confirmed session, or None if nothing."""
    if provider == "zoom":
        if booking.zoom is not None:
            return "it keeps its Zoom link, but Flo cannot move or delete its Zoom meeting"
        if not booking.meeting_url:
            return "it will get no Zoom link until you reconnect (or add a link by hand)"
        return None
    if booking.google_event is not None:
        return "Flo cannot move or delete its Google Calendar event"
    return "it gets no Google Calendar event until you reconnect"


class BrokenConnectionMail:
    def __init__(
        self,
        connections: DocStoreConnections,
        bookings: BookingRepository,
        catalog: Catalog,
        ledger: EmailLedger,
        clock: Clock,
        mail_from: str,
        base_url: str,
    ) -> None:
        self._connections = connections
        self._bookings = bookings
        self._catalog = catalog
        self._ledger = ledger
        self._clock = clock
        self._mail_from = mail_from
        self._base_url = base_url

    def send_due(self) -> dict[str, int]:
        counts = {"broken_mail_sent": 0, "broken_mail_failed": 0}
        for broken in self._connections.broken_mail_due(BATCH):
            try:
                self._send(broken)
            except MailSendError:
                counts["broken_mail_failed"] += 1  # the flag stays: the next tick tries again
                log.warning("connection_broken email not accepted", extra={"creator_id": broken.creator_id})
                continue
            self._connections.broken_mail_sent(broken)
            counts["broken_mail_sent"] += 1
        return counts

    def _send(self, broken: BrokenConnection) -> None:
        creator = self._catalog.creator(broken.creator_id)
        if creator is None:
            return
        now = self._clock.now()
        sessions = [
            AffectedSession(booking.offer_title, booking.fan.name, booking.start, booking.end, effect)
            for _, booking in each_of_creator(self._bookings, broken.creator_id, upcoming=True, now=now)
            if booking.confirmed and not booking.test_booking
            if (effect := _effect(broken.provider, booking)) is not None
        ]
        build = partial(
            render_connection_broken,
            provider=broken.provider,
            reason=broken.reason,
            creator_name=str(creator["name"]),
            creator_email=str(creator["email"]),
            timezone=str(creator.get("timezone") or "UTC"),
            sessions=sessions,
            mail_from=self._mail_from,
            base_url=self._base_url,
        )
        key = EmailKey(f"{broken.creator_id}_{broken.provider}.{broken.generation}", KIND, 0, "creator")
        self._ledger.deliver(key, build, link_included=False)
