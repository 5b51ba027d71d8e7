"""Decides which emails a booking is owed as it is now, and sends each of them once.

Events only say "look at this booking": they may be duplicated, late or out of order, so every
call reloads the booking and sends what its current revision owes (reconcile, don't replay).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from email.message import EmailMessage
from enum import StrEnum
from functools import partial

from shared.bookings.booking import Booking
from shared.bookings.catalog import Catalog
from shared.bookings.notices import Notices
from shared.bookings.repository import BookingRepository
from shared.bookings.service import manage_aad
from shared.clock import Clock
from shared.mail import EmailBooking, EmailKind, MailSendError, Recipient, render
from shared.notify.ledger import Delivered, Delivery, EmailKey, EmailLedger
from shared.store.port import Doc
from shared.vault import Sealed, Vault

log = logging.getLogger(__name__)

Message = tuple[EmailKind, Recipient]
Round = list[tuple[Message, Delivered]]
"""Each message tried, with what became of it."""

_PRIMARY: dict[tuple[str, str], tuple[Message, ...]] = {
    ("confirmed", "confirmed"): (
        (EmailKind.CONFIRMATION, Recipient.FAN),
        (EmailKind.CREATOR_NOTIFICATION, Recipient.CREATOR),
    ),
    ("confirmed", "rescheduled"): ((EmailKind.RESCHEDULED, Recipient.FAN), (EmailKind.RESCHEDULED, Recipient.CREATOR)),
    ("cancelled", "cancelled"): ((EmailKind.CANCELLED, Recipient.FAN), (EmailKind.CANCELLED, Recipient.CREATOR)),
    ("confirmed", "link_set"): ((EmailKind.LINK_READY, Recipient.FAN),),
    ("cancelled", "slot_lost"): ((EmailKind.SLOT_LOST, Recipient.FAN),),
}
"""(status, change) -> the messages that revision owes; anything else (e.g. pending payment) owes none."""

_WHY_FAILED = {"render": "it could not be written from the booking's details", "send": "the mail server refused it"}

_MAX_PASSES = 3


class Outcome(StrEnum):
    UNKNOWN = "unknown"
    WAITING = "waiting"
    IN_FLIGHT = "in_flight"
    SETTLED = "settled"
    """Everything the revision owes went out."""


class Notifier:
    def __init__(
        self,
        bookings: BookingRepository,
        catalog: Catalog,
        ledger: EmailLedger,
        notices: Notices,
        clock: Clock,
        vault: Vault,
        mail_from: str,
        base_url: str,
    ) -> None:
        self._bookings = bookings
        self._catalog = catalog
        self._ledger = ledger
        self._notices = notices
        self._clock = clock
        self._vault = vault
        self._mail_from = mail_from
        self._base_url = base_url

    def send_owed(self, booking_id: str, *, force: bool = False) -> Outcome:
        """Send what the booking's current revision owes; ``force`` stops waiting for the link.

        Once all of it went out, mail_due_at is cleared, but only if the booking did not change
        meanwhile (a link may have landed while we sent): then it is gone through again from the top.
        Raises MailSendError when SMTP did not take a message for now (a transient failure); nothing
        unsent is marked sent. A message that can never go is recorded as failed and the creator told.
        """
        for _ in range(_MAX_PASSES):
            booking = self._bookings.get(booking_id)
            if booking is None:
                log.warning("nothing to send: booking missing", extra={"booking_id": booking_id})
                return Outcome.UNKNOWN
            outcome = self._send_once(booking_id, booking, force)
            if outcome is not Outcome.SETTLED or self._finish(booking_id, booking):
                return outcome
        return Outcome.IN_FLIGHT  # still changing under us: the sweep comes back while mail_due_at is set

    def remind(self, booking_id: str, booking: Booking, reminder: str) -> bool:
        """Send one reminder (reminder_24h / reminder_1h) to both, with the link as it is now.

        True once both copies went out (now or earlier); False while another run is sending one.
        """
        creator = self._catalog.creator(booking.creator_id)
        if creator is None:
            log.warning("no reminder: creator missing", extra={"booking_id": booking_id})
            return True
        messages = [(EmailKind.REMINDER, recipient) for recipient in (Recipient.FAN, Recipient.CREATOR)]
        return _all_done(self._deliver_all(booking_id, booking, creator, messages, key_kind=reminder))

    # ---- steps ---------------------------------------------------------------------------------------------

    def _send_once(self, booking_id: str, booking: Booking, force: bool) -> Outcome:
        owed = _PRIMARY.get((booking.status, booking.change), ())
        if booking.change == "cancelled" and (booking.test_booking or not booking.confirmed_at):
            owed = ()  # a hold that never got paid (the fan was never told it was booked), or a test cleaned up
        if owed and self._must_wait(booking, force):
            return Outcome.WAITING  # decided from the booking alone: the creator is read only to send
        if booking.change == "link_retry":  # a link that came back after a reconnect: both hear, once it is made
            owed = ((EmailKind.LINK_READY, Recipient.FAN), (EmailKind.LINK_READY, Recipient.CREATOR))
            owed = owed if booking.link_ready else ()
        creator = self._catalog.creator(booking.creator_id)
        if creator is None:
            log.warning("nothing to send: creator missing", extra={"booking_id": booking_id})
            return Outcome.UNKNOWN
        delivered = self._deliver_all(booking_id, booking, creator, owed)
        if booking.confirmed and booking.link_ready:
            delivered += self._deliver_all(booking_id, booking, creator, _link_ready_owed(delivered))
        return Outcome.SETTLED if _all_done(delivered) else Outcome.IN_FLIGHT

    def _must_wait(self, booking: Booking, force: bool) -> bool:
        """Within the grace period a confirmed booking waits for its link, so one email can carry it."""
        due = booking.mail_due_at
        return not force and booking.confirmed and booking.link_pending and due is not None and self._clock.now() < due

    def _deliver_all(
        self,
        booking_id: str,
        booking: Booking,
        creator: Doc,
        messages: Sequence[Message],
        key_kind: str | None = None,
    ) -> Round:
        """Try every message even if one fails, so one bad address does not hold back the other copy.

        A message that can never go counts as done once the creator has a notice naming who missed it.
        """
        delivered: Round = []
        failure: MailSendError | None = None
        for kind, recipient in messages:
            key = EmailKey(booking_id, key_kind or kind.value, booking.revision, recipient.value)
            build = partial(self._render, kind, recipient, booking_id, booking, creator)
            try:
                result = self._ledger.deliver(key, build, link_included=_link_of(booking) is not None)
            except MailSendError as exc:
                log.warning(
                    "email not accepted",
                    extra={"booking_id": booking_id, "email": key.doc_id, "transient": exc.transient},
                )
                failure = failure or exc
                continue
            if result.delivery is Delivery.FAILED:
                self._tell_creator(key, kind, recipient, booking, creator)
            delivered.append(((kind, recipient), result))
        if failure is not None:
            raise failure
        return delivered

    def _tell_creator(
        self, key: EmailKey, kind: EmailKind, recipient: Recipient, booking: Booking, creator: Doc
    ) -> None:
        record = self._ledger.record(key) or {}
        address = booking.fan.email if recipient is Recipient.FAN else str(creator.get("email", "you"))
        log.warning(
            "email can never be sent",
            extra={"booking_id": key.booking_id, "email": key.doc_id, "reason": record.get("reason")},
        )
        why = _WHY_FAILED.get(str(record.get("failed_in")), "it could not be sent")
        what = f"the {kind.value.replace('_', ' ')} email for {booking.offer_title!r} ({why})"
        self._notices.email_failed(booking.creator_id, key.booking_id, key.doc_id, address, what)

    def _finish(self, booking_id: str, seen: Booking) -> bool:
        """Clear mail_due_at so the sweep stops finding the booking; False if its link or revision moved."""
        done = replace(seen, mail_due_at=None)
        return self._bookings.update_if(booking_id, seen, done, Booking.link_decided_from) is not None

    def _render(
        self, kind: EmailKind, recipient: Recipient, booking_id: str, booking: Booking, creator: Doc
    ) -> EmailMessage:
        """One copy, built only once its claim is ours; whatever the stored booking holds that makes this
        fail makes it fail every time, and the ledger records that copy as failed."""
        email = self._email_booking(booking_id, booking, creator, recipient)
        return render(kind, email, recipient=recipient, mail_from=self._mail_from, base_url=self._base_url)

    def _email_booking(self, booking_id: str, booking: Booking, creator: Doc, recipient: Recipient) -> EmailBooking:
        """The booking as emails show it; the revision becomes the ICS SEQUENCE. Only the fan's copy
        opens the sealed manage token, so the creator's never depends on it."""
        manage_url = None
        if recipient is Recipient.FAN:
            token = self._vault.decrypt(Sealed.from_dict(booking.manage_token_sealed), manage_aad(booking_id))
            manage_url = f"{self._base_url}/manage/{token}"
        url = _link_of(booking)
        fan = booking.fan
        return EmailBooking(
            booking_id=booking_id,
            revision=booking.revision,
            status="cancelled" if booking.cancelled else "confirmed",
            offer_title=booking.offer_title,
            duration_minutes=booking.duration_minutes,
            creator_name=str(creator["name"]),
            creator_email=str(creator["email"]),
            creator_timezone=booking.timezone,
            fan_name=fan.name,
            fan_email=fan.email,
            fan_timezone=fan.timezone,
            start=booking.start,
            end=booking.end,
            meeting_url=url,
            video_provider=booking.video_provider if url else None,
            manage_url=manage_url,
            link_pending=not booking.cancelled and booking.link_pending,
        )


def _link_ready_owed(delivered: Round) -> list[Message]:
    """link_ready for each recipient whose copy of this revision went out without the link: fan and creator
    alike, since every copy without it said it will follow in a separate email. Known from the deliveries
    themselves (a copy sent now, or the claim read for one sent earlier), so the claims are not read again."""
    return [(EmailKind.LINK_READY, recipient) for (_, recipient), delivery in delivered if delivery.went_without_link]


def _all_done(delivered: Round) -> bool:
    """Nothing more is owed: every message went, was sent before, or can never go (a failed one included)."""
    return all(delivery.delivery is not Delivery.IN_FLIGHT for _, delivery in delivered)


def _link_of(booking: Booking) -> str | None:
    """The link an email carries: none once the booking is cancelled."""
    return None if booking.cancelled or not booking.meeting_url else booking.meeting_url
