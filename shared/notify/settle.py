"""Decides which emails a booking is owed as it is now, and sends each of them once.

Events only say "look at this booking": they may be duplicated, late or out of order, so every
call reloads the booking and settles its current revision (reconcile, don't replay).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from enum import StrEnum
from functools import partial
from typing import Any

from shared.bookings.model import BOOKINGS, CREATORS
from shared.bookings.service import manage_aad
from shared.clock import Clock
from shared.mail import EmailBooking, EmailKind, MailSender, MailSendError, Recipient, render
from shared.notify.ledger import Delivery, EmailKey, EmailLedger
from shared.store.port import Doc, DocStore, Txn, update
from shared.vault import Sealed, Vault

log = logging.getLogger(__name__)

Message = tuple[EmailKind, Recipient]

_PRIMARY: dict[tuple[str, str], tuple[Message, ...]] = {
    ("confirmed", "confirmed"): (
        (EmailKind.CONFIRMATION, Recipient.FAN),
        (EmailKind.CREATOR_NOTIFICATION, Recipient.CREATOR),
    ),
    ("confirmed", "rescheduled"): ((EmailKind.RESCHEDULED, Recipient.FAN), (EmailKind.RESCHEDULED, Recipient.CREATOR)),
    ("cancelled", "cancelled"): ((EmailKind.CANCELLED, Recipient.FAN), (EmailKind.CANCELLED, Recipient.CREATOR)),
}
"""(status, change) -> the messages that revision owes; anything else (e.g. pending payment) owes none."""

_MAX_PASSES = 3
_LINK_FIELDS = ("revision", "status", "link_status", "link_revision", "meeting_url")


class Outcome(StrEnum):
    UNKNOWN = "unknown"
    WAITING = "waiting"
    IN_FLIGHT = "in_flight"
    SETTLED = "settled"


def _link_settled(doc: Doc) -> bool:
    """The meetings worker has decided this revision's link (made one, or gave up on one)."""
    return doc.get("link_revision") == doc["revision"] and doc.get("link_status") in ("ready", "unavailable")


def _link_ready(doc: Doc) -> bool:
    """This revision's link just became usable: the moment a link_ready email may be owed."""
    return _link_settled(doc) and doc.get("link_status") == "ready" and bool(doc.get("meeting_url"))


def _link_pending(doc: Doc) -> bool:
    """No link yet, but one may still come for this revision."""
    return not doc.get("meeting_url") and not _link_settled(doc)


def _fingerprint(doc: Doc) -> tuple[Any, ...]:
    return tuple(doc.get(name) for name in _LINK_FIELDS)


class Notifier:
    def __init__(
        self, store: DocStore, clock: Clock, sender: MailSender, vault: Vault, mail_from: str, base_url: str
    ) -> None:
        self._store = store
        self._clock = clock
        self._vault = vault
        self._mail_from = mail_from
        self._base_url = base_url
        self._ledger = EmailLedger(store, clock, sender)

    def settle(self, booking_id: str, *, force: bool = False) -> Outcome:
        """Send what the booking's current revision owes; ``force`` stops waiting for the link.

        Once all of it went out, mail_due_at is cleared, but only if the booking did not change
        meanwhile (a link may have landed while we sent): then it is settled again from the top.
        Raises MailSendError when SMTP did not take a message; nothing unsent is marked sent.
        """
        for _ in range(_MAX_PASSES):
            doc = self._store.get(BOOKINGS, booking_id)
            creator = self._store.get(CREATORS, doc["creator_id"]) if doc else None
            if doc is None or creator is None:
                log.warning("nothing to settle: booking or creator missing", extra={"booking_id": booking_id})
                return Outcome.UNKNOWN
            outcome = self._settle_once(booking_id, doc, creator, force)
            if outcome is not Outcome.SETTLED or self._finish(booking_id, doc):
                return outcome
        return Outcome.IN_FLIGHT  # still changing under us: the sweep comes back while mail_due_at is set

    def remind(self, booking_id: str, doc: Doc, reminder: str) -> bool:
        """Send one reminder (reminder_24h / reminder_1h) to both, with the link as it is now.

        True once both copies went out (now or earlier); False while another run is sending one.
        """
        creator = self._store.get(CREATORS, doc["creator_id"])
        if creator is None:
            log.warning("no reminder: creator missing", extra={"booking_id": booking_id})
            return True
        messages = [(EmailKind.REMINDER, recipient) for recipient in (Recipient.FAN, Recipient.CREATOR)]
        return self._deliver_all(booking_id, doc, creator, messages, key_kind=reminder)

    # ---- steps ---------------------------------------------------------------------------------------------

    def _settle_once(self, booking_id: str, doc: Doc, creator: Doc, force: bool) -> Outcome:
        owed = _PRIMARY.get((doc["status"], doc["change"]), ())
        if doc["status"] == "cancelled" and not doc.get("confirmed_at"):
            owed = ()  # a hold that never got paid: the fan was never told it was booked
        if owed and self._must_wait(doc, force):
            return Outcome.WAITING
        done = self._deliver_all(booking_id, doc, creator, owed)
        if doc["status"] == "confirmed" and _link_ready(doc):
            done = self._deliver_all(booking_id, doc, creator, self._link_ready_owed(booking_id, doc, owed)) and done
        return Outcome.SETTLED if done else Outcome.IN_FLIGHT

    def _must_wait(self, doc: Doc, force: bool) -> bool:
        """Within the grace period a confirmed booking waits for its link, so one email can carry it."""
        due = doc.get("mail_due_at")
        return (
            not force
            and doc["status"] == "confirmed"
            and _link_pending(doc)
            and due is not None
            and self._clock.now() < due
        )

    def _link_ready_owed(self, booking_id: str, doc: Doc, owed: Sequence[Message]) -> list[Message]:
        """link_ready for each recipient whose copy of this revision went out without the link: fan and
        creator alike, since every copy without it said it will follow in a separate email."""
        result: list[Message] = []
        for kind, recipient in owed:
            sent = self._ledger.record(EmailKey(booking_id, kind.value, int(doc["revision"]), recipient.value))
            if sent is not None and sent["state"] == "sent" and not sent["link_included"]:
                result.append((EmailKind.LINK_READY, recipient))
        return result

    def _deliver_all(
        self, booking_id: str, doc: Doc, creator: Doc, messages: Sequence[Message], key_kind: str | None = None
    ) -> bool:
        """Try every message even if one fails, so one bad address does not hold back the other copy."""
        if not messages:
            return True
        booking = self._email_booking(booking_id, doc, creator)
        done = True
        failure: MailSendError | None = None
        for kind, recipient in messages:
            key = EmailKey(booking_id, key_kind or kind.value, booking.revision, recipient.value)

            build = partial(
                render, kind, booking, recipient=recipient, mail_from=self._mail_from, base_url=self._base_url
            )
            try:
                delivery = self._ledger.deliver(key, build, link_included=booking.meeting_url is not None)
            except MailSendError as exc:
                log.warning(
                    "email not accepted",
                    extra={"booking_id": booking_id, "email": key.doc_id, "transient": exc.transient},
                )
                failure = failure or exc
                continue
            done = done and delivery is not Delivery.IN_FLIGHT
        if failure is not None:
            raise failure
        return done

    def _finish(self, booking_id: str, seen: Doc) -> bool:
        """Clear mail_due_at so the sweep stops finding the booking; False if its link or revision moved."""

        def run(txn: Txn) -> bool:
            current = txn.get(BOOKINGS, booking_id)
            if current is None:
                return True
            if _fingerprint(current) != _fingerprint(seen):
                return False
            if current.get("mail_due_at") is not None:
                txn.write(update(BOOKINGS, booking_id, {"mail_due_at": None}))
            return True

        return self._store.transaction(run)

    def _email_booking(self, booking_id: str, doc: Doc, creator: Doc) -> EmailBooking:
        """The booking as emails show it; the revision becomes the ICS SEQUENCE."""
        token = self._vault.decrypt(Sealed.from_dict(doc["manage_token_sealed"]), manage_aad(booking_id))
        cancelled = doc["status"] == "cancelled"
        url = None if cancelled or not doc.get("meeting_url") else str(doc["meeting_url"])
        fan = doc["fan"]
        return EmailBooking(
            booking_id=booking_id,
            revision=int(doc["revision"]),
            status="cancelled" if cancelled else "confirmed",
            offer_title=str(doc["offer_title"]),
            duration_minutes=int(doc["duration_minutes"]),
            creator_name=str(creator["name"]),
            creator_email=str(creator["email"]),
            creator_timezone=str(doc["timezone"]),
            fan_name=str(fan["name"]),
            fan_email=str(fan["email"]),
            fan_timezone=fan.get("timezone"),
            start=doc["start"],
            end=doc["end"],
            meeting_url=url,
            video_provider=doc.get("video_provider") if url else None,
            manage_url=f"{self._base_url}/manage/{token}",
            link_pending=not cancelled and _link_pending(doc),
        )
