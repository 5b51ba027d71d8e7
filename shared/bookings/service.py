"""Booking use cases: book, confirm payment, reschedule, cancel. Each commits atomically, then publishes."""

from __future__ import annotations

import contextlib
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from shared.availability import AvailabilityError, Interval, compute_slots, parse_weekly_hours
from shared.bookings.model import (
    BOOKINGS,
    CELLS,
    CREATORS,
    HOLD_RELEASES,
    OFFERS,
    PLANS_WITH_BOOKINGS,
    cell_ids,
    hours_from_doc,
    next_reminder,
    token_hash,
)
from shared.bookings.outbox import outbox_write, publish_change
from shared.bus.port import Publisher
from shared.clock import Clock
from shared.store.port import Conflict, Doc, DocStore, Txn, Where, Write, create, delete, put, update
from shared.vault import Vault
from shared.web import ApiError

log = logging.getLogger(__name__)


LINK_NUDGE_INTERVAL = timedelta(seconds=60)
"""How long after its deadline a still-pending link gets its booking event published again."""


class BookingError(ApiError):
    """A booking request that cannot be honoured; status and code are what the API answers."""


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


@dataclass(frozen=True)
class Booked:
    booking_id: str
    status: str
    manage_token: str


def manage_aad(booking_id: str) -> str:
    """Binds a sealed manage token to its booking: emails need the token itself, so it is kept encrypted."""
    return f"manage:{booking_id}"


def require_bookings_plan(creator: Doc) -> None:
    if creator.get("plan") not in PLANS_WITH_BOOKINGS:
        raise BookingError(403, "plan_required", "Book a Session needs the Creator, Pro or Studio plan.")


class BookingService:
    def __init__(
        self, store: DocStore, publisher: Publisher, clock: Clock, busy: BusyTimes, policy: Policy, vault: Vault
    ) -> None:
        self._vault = vault
        self._store = store
        self._publisher = publisher
        self._clock = clock
        self._busy = busy
        self._policy = policy

    # ---- reading -------------------------------------------------------------------------------------------

    def load_offer(self, offer_id: str) -> tuple[Doc, Doc]:
        offer = self._store.get(OFFERS, offer_id)
        creator = self._store.get(CREATORS, offer["creator_id"]) if offer else None
        if offer is None or creator is None:
            raise BookingError(404, "offer_not_found", f"No offer {offer_id!r}.")
        return offer, creator

    def by_manage_token(self, token: str) -> tuple[str, Doc]:
        rows = self._store.query(BOOKINGS, [Where("manage_token_hash", "==", token_hash(token))], limit=1)
        if not rows:
            raise BookingError(404, "booking_not_found", "This manage link is not valid.")
        return rows[0]

    def get(self, booking_id: str) -> Doc:
        doc = self._store.get(BOOKINGS, booking_id)
        if doc is None:
            raise BookingError(404, "booking_not_found", f"No booking {booking_id!r}.")
        return doc

    # ---- writing -------------------------------------------------------------------------------------------

    def book(self, offer_id: str, start: datetime, fan: dict[str, Any]) -> Booked:
        offer, creator = self.load_offer(offer_id)
        require_bookings_plan(creator)
        now = self._clock.now()
        end = start + timedelta(minutes=int(offer["duration_minutes"]))
        self._require_free_slot(offer["creator_id"], creator, start, end, now)
        booking_id = uuid.uuid4().hex
        manage_token = secrets.token_urlsafe(32)
        paid = int(offer["price_cents"]) > 0
        doc: Doc = {
            "creator_id": offer["creator_id"],
            "offer_id": offer_id,
            "offer_title": offer["title"],
            "duration_minutes": int(offer["duration_minutes"]),
            "price_cents": int(offer["price_cents"]),
            "start": start,
            "end": end,
            "timezone": creator["timezone"],
            "fan": fan,
            "status": "pending_payment" if paid else "confirmed",
            "revision": 1,
            "change": "created" if paid else "confirmed",
            "manage_token_hash": token_hash(manage_token),
            "manage_token_sealed": self._vault.encrypt(manage_token, manage_aad(booking_id)).to_dict(),
            "cells": cell_ids(offer["creator_id"], start, end),
            "created_at": now,
            "updated_at": now,
            "link_status": "pending",
            "meeting_url": None,
            "video_provider": None,
        }
        if paid:
            doc["hold_expires_at"] = now + self._policy.payment_hold
        else:
            doc.update(self._confirmed_fields(start, now))
        writes = [create(BOOKINGS, booking_id, doc), outbox_write(booking_id, 1, now)]
        writes += [create(CELLS, cell, {"booking_id": booking_id}) for cell in doc["cells"]]
        self._commit_claiming(writes, doc["cells"], now)
        publish_change(self._store, self._publisher, booking_id, 1)
        return Booked(booking_id, doc["status"], manage_token)

    def confirm_payment(self, booking_id: str) -> None:
        """Payment succeeded: confirm the held booking (idempotent; a late payment re-claims a free slot)."""
        now = self._clock.now()
        doc = self.get(booking_id)
        if doc["status"] == "confirmed":
            return
        if doc["status"] == "cancelled" and doc.get("cancel_reason") != "payment_timeout":
            log.warning("payment for a cancelled booking; left cancelled", extra={"booking_id": booking_id})
            return
        revision = int(doc["revision"]) + 1
        fields = {
            "status": "confirmed",
            "change": "confirmed",
            "revision": revision,
            "updated_at": now,
            "hold_expires_at": None,
            **self._confirmed_fields(doc["start"], now),
        }
        writes: list[Write] = [update(BOOKINGS, booking_id, fields), outbox_write(booking_id, revision, now)]
        if doc["status"] == "cancelled":
            writes += [create(CELLS, cell, {"booking_id": booking_id}) for cell in doc["cells"]]
        try:
            self._transact_if_revision(booking_id, int(doc["revision"]), writes)
        except Conflict:
            log.warning("late payment: the slot was taken meanwhile", extra={"booking_id": booking_id})
            return
        publish_change(self._store, self._publisher, booking_id, revision)

    def reschedule(self, booking_id: str, start: datetime) -> Doc:
        now = self._clock.now()
        doc = self.get(booking_id)
        if doc["status"] != "confirmed":
            raise BookingError(
                409, "not_reschedulable", f"A {doc['status'].replace('_', ' ')} booking cannot be moved."
            )
        if doc["start"] <= now:
            raise BookingError(409, "session_started", "The session has started; it can no longer be moved.")
        if start == doc["start"]:
            return doc
        creator = self._store.get(CREATORS, doc["creator_id"]) or {}
        end = start + timedelta(minutes=int(doc["duration_minutes"]))
        self._require_free_slot(doc["creator_id"], creator, start, end, now)
        cells = cell_ids(doc["creator_id"], start, end)
        revision = int(doc["revision"]) + 1
        fields = {
            "start": start,
            "end": end,
            "cells": cells,
            "revision": revision,
            "change": "rescheduled",
            "updated_at": now,
            "meeting_url": None,
            "video_provider": None,
            "link_status": "pending",
            **self._confirmed_fields(start, now),
        }
        writes: list[Write] = [update(BOOKINGS, booking_id, fields), outbox_write(booking_id, revision, now)]
        writes += [delete(CELLS, c) for c in doc["cells"] if c not in cells]
        writes += [create(CELLS, c, {"booking_id": booking_id}) for c in cells if c not in doc["cells"]]
        try:
            self._transact_if_revision(booking_id, int(doc["revision"]), writes)
        except Conflict:
            raise BookingError(409, "slot_taken", "That time is no longer free.") from None
        publish_change(self._store, self._publisher, booking_id, revision)
        return self.get(booking_id)

    def cancel(self, booking_id: str, by: str, reason: str = "cancelled") -> Doc:
        now = self._clock.now()
        doc = self.get(booking_id)
        if doc["status"] == "cancelled":
            return doc
        if by == "fan" and doc["start"] <= now:
            # One payment must not buy endless sessions: only the creator can cancel one that has started.
            raise BookingError(409, "session_started", "The session has started; ask the creator to cancel it.")
        revision = int(doc["revision"]) + 1
        fields = {
            "status": "cancelled",
            "change": "cancelled",
            "revision": revision,
            "updated_at": now,
            "cancelled_by": by,
            "cancel_reason": reason,
            "meeting_url": None,
            "video_provider": None,
            "next_reminder_at": None,
            "hold_expires_at": None,
            "link_nudge_at": None,
            "mail_due_at": now if doc["status"] == "confirmed" else None,
        }
        writes: list[Write] = [update(BOOKINGS, booking_id, fields), outbox_write(booking_id, revision, now)]
        writes += [delete(CELLS, c) for c in doc["cells"]]
        self._transact_if_revision(booking_id, int(doc["revision"]), writes)
        publish_change(self._store, self._publisher, booking_id, revision)
        return self.get(booking_id)

    def release_expired_holds(self) -> int:
        """Pending-payment holds past their time give their slot back."""
        now = self._clock.now()
        expired = self._store.query(BOOKINGS, [Where("hold_expires_at", "<=", now)], limit=200)
        for booking_id, doc in expired:
            if doc["status"] == "pending_payment":
                self.cancel(booking_id, by="system", reason="payment_timeout")
        return len(expired)

    # ---- helpers -------------------------------------------------------------------------------------------

    def _confirmed_fields(self, start: datetime, now: datetime) -> Doc:
        reminder = next_reminder(start, now)
        return {
            "confirmed_at": now,
            "link_deadline_at": now + self._policy.link_deadline,
            "link_nudge_at": now + self._policy.link_deadline + LINK_NUDGE_INTERVAL,
            "mail_due_at": now + self._policy.confirmation_grace,
            "next_reminder_at": reminder[1] if reminder else None,
            "reminders_sent": [],
        }

    def _require_free_slot(self, creator_id: str, creator: Doc, start: datetime, end: datetime, now: datetime) -> None:
        """The slot must still be one the fan could pick: within hours and the horizon, not past, not busy."""
        if start > now + self._policy.booking_horizon:
            days = self._policy.booking_horizon.days
            raise BookingError(400, "beyond_horizon", f"start: bookings open at most {days} days ahead.")
        try:
            hours = parse_weekly_hours(creator.get("timezone", "UTC"), hours_from_doc(creator.get("weekly_hours", {})))
        except AvailabilityError:
            raise BookingError(409, "slot_unavailable", "The creator has no bookable hours set.") from None
        local_day = start.astimezone(hours.zone).date()
        busy = self._busy.busy(creator_id, start, end, fresh=True).intervals
        slots = compute_slots(hours, end - start, local_day, local_day, now, busy)
        if not any(slot.start == start for slot in slots):
            raise BookingError(409, "slot_unavailable", "That time is not an available slot any more.")

    def _commit_claiming(self, writes: list[Write], cells: list[str], now: datetime) -> None:
        """Commit the booking with its cells; a cell held by an expired payment hold is freed once, then retried."""
        try:
            self._store.commit(writes)
            return
        except Conflict:
            pass
        holders = {(self._store.get(CELLS, c) or {}).get("booking_id") for c in cells} - {None}
        released = False
        for holder in holders:
            doc = self._store.get(BOOKINGS, str(holder))
            if (
                doc
                and doc["status"] == "pending_payment"
                and doc.get("hold_expires_at")
                and doc["hold_expires_at"] <= now
            ):
                # One request releases a hold: many fans racing for the same expired hold would otherwise all
                # run a transaction on one document, and Firestore aborts such contended transactions.
                try:
                    self._store.commit(
                        [create(HOLD_RELEASES, f"{holder}-{doc['revision']}", {"booking_id": holder, "at": now})]
                    )
                except Conflict:
                    continue  # another request is releasing it, and then takes the slot
                # If it changed meanwhile (the sweep released it, or a payment confirmed it), the retry tells.
                with contextlib.suppress(BookingError):
                    self.cancel(str(holder), by="system", reason="payment_timeout")
                released = True
        try:
            if not released:
                raise Conflict("slot held")
            self._store.commit(writes)
        except Conflict:
            raise BookingError(409, "slot_taken", "That time is no longer free.") from None

    def _transact_if_revision(self, booking_id: str, revision: int, writes: list[Write]) -> None:
        """Apply writes only if nobody changed the booking since it was read (else: try again, 409)."""

        def run(txn: Txn) -> None:
            current = txn.get(BOOKINGS, booking_id)
            if current is None or int(current["revision"]) != revision:
                raise BookingError(409, "booking_changed", "The booking changed meanwhile; reload and try again.")
            for write in writes:
                txn.write(write)

        self._store.transaction(run)


def new_offer(
    store: DocStore, creator_id: str, title: str, duration_minutes: int, price_cents: int, now: datetime
) -> str:
    offer_id = uuid.uuid4().hex[:12]
    store.commit(
        [
            put(
                OFFERS,
                offer_id,
                {
                    "creator_id": creator_id,
                    "title": title,
                    "duration_minutes": duration_minutes,
                    "price_cents": price_cents,
                    "created_at": now,
                },
            )
        ]
    )
    return offer_id
