"""Booking use cases: book, confirm payment, reschedule, cancel. Each commits atomically, then publishes."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from itertools import islice
from typing import Protocol

from shared.availability import AvailabilityError, Interval, compute_slots
from shared.bookings.batch import guarded
from shared.bookings.booking import Booking, CancelledBy, Fan, Status
from shared.bookings.catalog import Catalog, require_bookings_plan, weekly_hours_of
from shared.bookings.model import cell_ids, next_reminder, token_hash, video_provider_of
from shared.bookings.outbox import Outbox
from shared.bookings.repository import BookingRepository, PageMark, Row, SlotTaken, each_of_creator
from shared.clock import Clock
from shared.errors import ConflictError, InvalidInputError, NotFoundError
from shared.store.port import Doc
from shared.vault import Sealed, Vault

log = logging.getLogger(__name__)


LINK_NUDGE_INTERVAL = timedelta(seconds=60)
"""How long after its deadline a still-pending link gets its booking event published again."""
EXPIRED_HOLDS_BATCH = 200
TEST_OFFER_ID = "test-booking"
TEST_OFFER: Doc = {"title": "Test booking", "duration_minutes": 15, "price_cents": 0}
"""What "Send a test booking" books: a short free session, in no offer of the creator's."""


class SlotTakenError(ConflictError):
    def __init__(self) -> None:
        super().__init__("slot_taken", "That time is no longer free.")


class BookingChangedError(ConflictError):
    def __init__(self) -> None:
        super().__init__("booking_changed", "The booking changed meanwhile; reload and try again.")


def booking_not_found(booking_id: str) -> NotFoundError:
    return NotFoundError("booking_not_found", f"No booking {booking_id!r}.")


@dataclass(frozen=True)
class Busy:
    intervals: tuple[Interval, ...]
    checked: bool
    """False when a connected calendar could not be read: slots are then served from hours and bookings."""


class BusyTimes(Protocol):
    def busy(self, creator_id: str, start: datetime, end: datetime, *, fresh: bool = False) -> Busy:
        """Busy intervals from the creator's external calendar (none when no calendar is connected)."""
        ...


@dataclass(frozen=True)
class Policy:
    payment_hold: timedelta
    link_deadline: timedelta
    confirmation_grace: timedelta
    booking_horizon: timedelta
    """How far ahead a fan may book."""


PAGE_SIZE = 50
"""Bookings per page of the dashboard list when the caller names no size: a small history fits in one."""
MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class Page:
    rows: list[Row]
    next_cursor: str | None
    """Opaque: pass it back as `after` for the following page; None on the last page."""


def _write_cursor(mark: PageMark) -> str:
    text = json.dumps({"end": mark.end.isoformat(), "id": mark.booking_id})
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _read_cursor(cursor: str) -> PageMark:
    try:
        fields = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        end = datetime.fromisoformat(fields["end"])
        booking_id = fields["id"]
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInputError("invalid_cursor", "cursor is not one this list gave out.") from exc
    if end.tzinfo is None or not isinstance(booking_id, str):
        raise InvalidInputError("invalid_cursor", "cursor is not one this list gave out.")
    return PageMark(end, booking_id)


@dataclass(frozen=True)
class Booked:
    booking_id: str
    status: Status
    manage_token: str


class RequestKeyReusedError(ConflictError):
    def __init__(self) -> None:
        super().__init__(
            "idempotency_key_reused",
            "This Idempotency-Key came before with another booking request: send a new key for a new booking.",
        )


def requested_booking_id(offer_id: str, request_key: str) -> str:
    """The booking id a request key stands for: the same key for the same offer always names the same booking,
    so a request sent again (its answer was lost, or the fan pressed Confirm twice) finds the one it made."""
    return hashlib.sha256(f"{offer_id}\n{request_key}".encode()).hexdigest()[:32]


def manage_aad(booking_id: str) -> str:
    """Binds a sealed manage token to its booking: emails need the token itself, so it is kept encrypted."""
    return f"manage:{booking_id}"


class BookingService:
    def __init__(
        self,
        bookings: BookingRepository,
        catalog: Catalog,
        outbox: Outbox,
        clock: Clock,
        busy: BusyTimes,
        policy: Policy,
        vault: Vault,
    ) -> None:
        self._bookings = bookings
        self._catalog = catalog
        self._outbox = outbox
        self._clock = clock
        self._busy = busy
        self._policy = policy
        self._vault = vault

    # ---- reading -------------------------------------------------------------------------------------------

    def by_manage_token(self, token: str) -> Row:
        found = self._bookings.with_manage_token(token)
        if found is None:
            raise NotFoundError("booking_not_found", "This manage link is not valid.")
        return found

    def get(self, booking_id: str) -> Booking:
        booking = self._bookings.get(booking_id)
        if booking is None:
            raise booking_not_found(booking_id)
        return booking

    def listing(self, creator_id: str, *, upcoming: bool, size: int = PAGE_SIZE, after: str | None = None) -> Page:
        """One page of the creator's dashboard list: upcoming (not yet ended) soonest first, or past newest first;
        `after` is the previous page's `next_cursor`. Test bookings are hidden."""
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise InvalidInputError("invalid_limit", f"limit must be from 1 to {MAX_PAGE_SIZE}.")
        rows = self._shown_rows(creator_id, upcoming, size + 1, _read_cursor(after) if after else None)
        if len(rows) <= size:
            return Page(rows, None)
        last_id, last = rows[size - 1]
        return Page(rows[:size], _write_cursor(PageMark(last.end, last_id)))

    def _shown_rows(self, creator_id: str, upcoming: bool, wanted: int, mark: PageMark | None) -> list[Row]:
        """Up to `wanted` rows after `mark` that are not test bookings (read past the hidden ones, so a page is
        never short while more follow)."""
        rows = each_of_creator(
            self._bookings, creator_id, upcoming=upcoming, now=self._clock.now(), batch=wanted, after=mark
        )
        return list(islice((row for row in rows if not row[1].test_booking), wanted))

    def in_window(self, creator_id: str, start: datetime, end: datetime) -> list[Row]:
        """The creator's bookings overlapping [start, end), by start time (the dashboard's week); tests hidden."""
        rows = self._bookings.overlapping(creator_id, start, end)
        return sorted([(i, b) for i, b in rows if not b.test_booking], key=lambda row: row[1].start)

    # ---- writing -------------------------------------------------------------------------------------------

    def book(self, offer_id: str, start: datetime, fan: Fan, request_key: str | None = None) -> Booked:
        """Book the slot; with a `request_key`, the same request sent again answers with the booking it made
        (not 409: its slot is taken by that booking), and the key sent with another request is refused."""
        offer, creator = self._catalog.offer(offer_id)
        require_bookings_plan(creator)
        if request_key is None:
            return self._book(offer["creator_id"], creator, offer_id, offer, start, fan, test_booking=False)
        booking_id = requested_booking_id(offer_id, request_key)
        earlier = self._made_by_request(booking_id, offer_id, start, fan)
        if earlier is not None:
            return earlier
        try:
            return self._book(
                offer["creator_id"], creator, offer_id, offer, start, fan, test_booking=False, booking_id=booking_id
            )
        except ConflictError:  # the slot taken, or busy in the calendar by now: by this request's twin, sent at once?
            earlier = self._made_by_request(booking_id, offer_id, start, fan)
            if earlier is None:
                raise
            return earlier

    def _made_by_request(self, booking_id: str, offer_id: str, start: datetime, fan: Fan) -> Booked | None:
        """The booking a keyed request made earlier, as its first answer said; None if it made none. Only the
        same request gets it (offer, time and fan): the manage link is not for whoever learns a key."""
        booking = self._bookings.get(booking_id)
        if booking is None:
            return None
        asked = (offer_id, start, fan.email, fan.name)
        if (booking.offer_id, booking.start, booking.fan.email, booking.fan.name) != asked:
            raise RequestKeyReusedError
        token = self._vault.decrypt(Sealed.from_dict(booking.manage_token_sealed), manage_aad(booking_id))
        return Booked(booking_id, booking.status, token)

    def book_test(self, creator_id: str, start: datetime) -> Booked:
        """A short free session to the creator's own address, run through the real path (meeting, event, emails)."""
        creator = self._catalog.creator(creator_id)
        if creator is None:
            raise NotFoundError("creator_not_found", "No such creator.")
        require_bookings_plan(creator)
        fan = Fan(name=str(creator["name"]), email=str(creator["email"]))
        return self._book(creator_id, creator, TEST_OFFER_ID, TEST_OFFER, start, fan, test_booking=True)

    def _book(
        self,
        creator_id: str,
        creator: Doc,
        offer_id: str,
        offer: Doc,
        start: datetime,
        fan: Fan,
        *,
        test_booking: bool,
        booking_id: str | None = None,
    ) -> Booked:
        now = self._clock.now()
        duration = int(offer["duration_minutes"])
        end = start + timedelta(minutes=duration)
        self._require_free_slot(creator_id, creator, start, end, now)
        booking_id = booking_id or uuid.uuid4().hex
        manage_token = secrets.token_urlsafe(32)
        paid = int(offer["price_cents"]) > 0
        booking = Booking(
            creator_id=creator_id,
            offer_id=offer_id,
            offer_title=offer["title"],
            duration_minutes=duration,
            price_cents=int(offer["price_cents"]),
            start=start,
            end=end,
            timezone=creator["timezone"],
            fan=fan,
            status="pending_payment" if paid else "confirmed",
            revision=1,
            change="created" if paid else "confirmed",
            manage_token_hash=token_hash(manage_token),
            manage_token_sealed=self._vault.encrypt(manage_token, manage_aad(booking_id)).to_dict(),
            cells=tuple(cell_ids(creator_id, start, end)),
            created_at=now,
            updated_at=now,
            test_booking=test_booking,
        )
        booking = (
            replace(booking, hold_expires_at=now + self._policy.payment_hold) if paid else self._confirmed(booking, now)
        )
        if test_booking:  # cleaned up within the request: no reminder may go out for it
            booking = replace(booking, next_reminder_at=None)
        self._add_claiming(booking_id, booking, now)
        self._outbox.publish(booking_id, 1)
        return Booked(booking_id, booking.status, manage_token)

    def confirm_payment(self, booking_id: str) -> Booking:
        """Payment succeeded: confirm the held booking (idempotent; a late payment re-claims a free slot).

        A late payment whose slot someone else took meanwhile is not left silently cancelled: the
        booking records the lost slot (change slot_lost), which owes the fan a slot_lost email; the
        caller asks for the refund. Returns the booking as now stored.
        """
        now = self._clock.now()
        seen = self.get(booking_id)
        if seen.confirmed or seen.change == "slot_lost":
            return seen
        if seen.cancelled and seen.cancel_reason != "payment_timeout":
            log.warning("payment for a cancelled booking; left cancelled", extra={"booking_id": booking_id})
            return seen
        changed = replace(seen, status="confirmed", change="confirmed", hold_expires_at=None)
        try:
            self._write(booking_id, seen, self._next_revision(self._confirmed(changed, now), now))
        except SlotTaken:
            log.warning("late payment: the slot was taken meanwhile", extra={"booking_id": booking_id})
            self._write(booking_id, seen, self._next_revision(replace(seen, change="slot_lost", mail_due_at=now), now))
        return self.get(booking_id)

    def reschedule(self, booking_id: str, start: datetime) -> Booking:
        now = self._clock.now()
        seen = self.get(booking_id)
        if not seen.confirmed:
            raise ConflictError("not_reschedulable", f"A {seen.status.replace('_', ' ')} booking cannot be moved.")
        if seen.start <= now:
            raise ConflictError("session_started", "The session has started; it can no longer be moved.")
        if start == seen.start:
            return seen
        creator = self._catalog.creator(seen.creator_id) or {}
        end = start + timedelta(minutes=seen.duration_minutes)
        self._require_free_slot(seen.creator_id, creator, start, end, now)
        moved = replace(
            seen, start=start, end=end, cells=tuple(cell_ids(seen.creator_id, start, end)), change="rescheduled"
        )
        if not seen.link_manual:
            moved = replace(moved, meeting_url=None, video_provider=None, link_status="pending")
        changes = self._next_revision(self._confirmed(moved, now), now)
        if seen.link_manual:  # the creator's own link stays: the new revision's link is decided already
            changes = replace(changes, link_revision=changes.revision, link_nudge_at=None)
        try:
            self._write(booking_id, seen, changes)
        except SlotTaken:
            raise SlotTakenError from None
        return self.get(booking_id)

    def cancel(self, booking_id: str, by: CancelledBy, reason: str = "cancelled") -> Booking:
        now = self._clock.now()
        seen = self.get(booking_id)
        if seen.cancelled:
            return seen
        if by == "fan" and seen.start <= now:
            # One payment must not buy endless sessions: only the creator can cancel one that has started.
            raise ConflictError("session_started", "The session has started; ask the creator to cancel it.")
        self._write(booking_id, seen, self._next_revision(self._cancelled(seen, by, reason, now), now))
        return self.get(booking_id)

    def cancel_by_creator(self, creator_id: str, booking_id: str) -> Booking:
        """The creator cancels one of their own bookings; someone else's is as good as missing."""
        if self.get(booking_id).creator_id != creator_id:
            raise booking_not_found(booking_id)
        return self.cancel(booking_id, by="creator")

    def set_link(self, creator_id: str, booking_id: str, url: str) -> Booking:
        """The creator sets or replaces one upcoming booking's link by hand (a new revision: the fan gets
        link_ready and an updated ICS). Flo's own Zoom meeting, if any, is then deleted by the meetings worker;
        a meeting behind a link set by hand is never touched."""
        now = self._clock.now()
        seen = self.get(booking_id)
        if seen.creator_id != creator_id:
            raise booking_not_found(booking_id)
        if not seen.confirmed or seen.end <= now:
            raise ConflictError("not_linkable", "Only an upcoming confirmed booking can be given a link.")
        if seen.meeting_url == url:
            return seen
        linked = replace(
            seen,
            change="link_set",
            meeting_url=url,
            video_provider=video_provider_of(url),
            link_status="ready",
            link_manual=True,
            link_nudge_at=None,
            mail_due_at=now,
        )
        changes = self._next_revision(linked, now)
        self._write(booking_id, seen, replace(changes, link_revision=changes.revision))
        return self.get(booking_id)

    def retry_link(self, booking_id: str, seen: Booking) -> bool:
        """An upcoming confirmed booking left without a link (its provider was broken) gets another go: a new
        revision whose link is owed afresh (the meetings worker makes it; notify sends link_ready to both).
        Conditional on the booking `seen`; True if this call reopened it."""
        now = self._clock.now()
        if not (seen.confirmed and seen.end > now and seen.link_decided and not seen.meeting_url):
            return False
        if seen.link_manual or seen.test_booking:
            return False
        reopened = replace(
            seen,
            change="link_retry",
            link_status="pending",
            link_deadline_at=now + self._policy.link_deadline,
            link_nudge_at=now + self._policy.link_deadline + LINK_NUDGE_INTERVAL,
            mail_due_at=now + self._policy.link_deadline,  # the sweep sends link_ready if its event was lost
        )
        changes = self._next_revision(reopened, now)
        if self._bookings.update_if(booking_id, seen, changes) is None:
            return False
        self._outbox.publish(booking_id, changes.revision)
        return True

    def release_expired_holds(self) -> int:
        """Pending-payment holds past their time give their slot back, all of them, oldest first. Returns how
        many were released; one that cannot be released now is logged and left for the next tick."""
        now = self._clock.now()
        released = 0
        for booking_id, booking in self._bookings.holds_expired_by(now, EXPIRED_HOLDS_BATCH):
            expire = partial(self._expire_hold, booking_id, booking, now)
            released += bool(guarded(booking_id, expire, "releasing an expired hold"))
        return released

    # ---- helpers -------------------------------------------------------------------------------------------

    def _expire_hold(self, booking_id: str, seen: Booking, now: datetime) -> bool:
        """Cancel the hold `seen` found expired, only if the booking is still that one: a payment confirmed
        in between (a new revision) keeps its slot. True if this call released it."""
        if not seen.hold_expired(now):
            return False
        expired = self._next_revision(self._cancelled(seen, "system", "payment_timeout", now), now)
        if self._bookings.update_if(booking_id, seen, expired) is None:
            return False
        self._outbox.publish(booking_id, expired.revision)
        return True

    @staticmethod
    def _cancelled(seen: Booking, by: CancelledBy, reason: str, now: datetime) -> Booking:
        return replace(
            seen,
            status="cancelled",
            change="cancelled",
            cancelled_by=by,
            cancel_reason=reason,
            meeting_url=None,
            video_provider=None,
            next_reminder_at=None,
            hold_expires_at=None,
            # A confirmed booking may have a meeting and an event to delete: if its cancel event is lost (every
            # delivery dead-lettered), the nudge sweep publishes it again until the meetings worker clears this.
            link_nudge_at=now + LINK_NUDGE_INTERVAL if seen.confirmed else None,
            mail_due_at=now if seen.confirmed else None,
        )

    def _next_revision(self, booking: Booking, now: datetime) -> Booking:
        return replace(booking, revision=booking.revision + 1, updated_at=now)

    def _confirmed(self, booking: Booking, now: datetime) -> Booking:
        """The booking as confirmed at `now`: its link, emails and reminders are owed afresh."""
        reminder = next_reminder(booking.start, now)
        return replace(
            booking,
            confirmed_at=now,
            link_deadline_at=now + self._policy.link_deadline,
            link_nudge_at=now + self._policy.link_deadline + LINK_NUDGE_INTERVAL,
            mail_due_at=now + self._policy.confirmation_grace,
            next_reminder_at=reminder[1] if reminder else None,
            reminders_sent=(),
        )

    def _write(self, booking_id: str, seen: Booking, changes: Booking) -> None:
        """Write the change decided from `seen` (else: try again, 409), then publish the new revision."""
        if self._bookings.update_if(booking_id, seen, changes) is None:
            raise BookingChangedError
        self._outbox.publish(booking_id, changes.revision)

    def _require_free_slot(self, creator_id: str, creator: Doc, start: datetime, end: datetime, now: datetime) -> None:
        """The slot must still be one the fan could pick: within hours and the horizon, not past, not busy."""
        if start > now + self._policy.booking_horizon:
            days = self._policy.booking_horizon.days
            raise InvalidInputError("beyond_horizon", f"start: bookings open at most {days} days ahead.")
        try:
            hours = weekly_hours_of(creator)
        except AvailabilityError:
            raise ConflictError("slot_unavailable", "The creator has no bookable hours set.") from None
        local_day = start.astimezone(hours.zone).date()
        busy = self._busy.busy(creator_id, start, end, fresh=True).intervals
        slots = compute_slots(hours, end - start, local_day, local_day, now, busy)
        if not any(slot.start == start for slot in slots):
            raise ConflictError("slot_unavailable", "That time is not an available slot any more.")

    def _add_claiming(self, booking_id: str, booking: Booking, now: datetime) -> None:
        """Add the booking with its cells; a cell held by an expired payment hold is freed once, then the add
        is tried again. Again even when this call freed nothing: a holder seen may have given its cells back
        since the first try (the sweep released its hold, its fan cancelled or moved it)."""
        try:
            self._bookings.add(booking_id, booking)
            return
        except SlotTaken:
            pass
        for holder_id in self._bookings.cell_holders(booking.cells):
            holder = self._bookings.get(holder_id)
            if holder is None or not holder.hold_expired(now):
                continue
            # One request releases a hold: many fans racing for the same expired hold would otherwise all
            # run a transaction on one document, and Firestore aborts such contended transactions.
            if not self._bookings.claim_hold_release(holder_id, holder, now):
                continue  # another request is releasing it: the retry below gets the slot if that is done by then
            # Refused if it changed meanwhile (the sweep released it, or a payment confirmed it): the retry tells.
            self._expire_hold(holder_id, holder, now)
        try:
            self._bookings.add(booking_id, booking)
        except SlotTaken:
            raise SlotTakenError from None
