"""The scheduler's email sweep: owed confirmations first, then due reminders.

Both page through their bookings, oldest due first, with one single-field range query (mail_due_at,
next_reminder_at) and never scan the collection; one booking that fails is logged and retried next tick,
never stopping the rest. Runs may overlap; the ledger makes every message go once regardless.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from functools import partial

from shared.bookings.batch import guarded
from shared.bookings.booking import Booking
from shared.bookings.model import REMINDER_OFFSETS, next_reminder
from shared.bookings.outbox import Outbox
from shared.bookings.repository import BookingRepository
from shared.bookings.service import BookingService
from shared.bookings.sweeps import run_booking_sweeps
from shared.clock import Clock
from shared.connections.repository import DocStoreConnections
from shared.meetings.google_catch_up import GoogleCatchUp
from shared.notify.connection_broken import BrokenConnectionMail
from shared.notify.owed import Notifier, Outcome

BATCH = 200
"""Bookings read per query; a tick pages through all that is due, oldest first, this many at a time."""
REFRESH_AHEAD = timedelta(minutes=15)
"""Tokens expiring this soon are refreshed by the tick (every 5 minutes): each about 10 minutes ahead of use."""


def tick(bookings: BookingRepository, notifier: Notifier, now: datetime) -> dict[str, int]:
    """One scheduler run; confirmations go before reminders so a fan never gets them the wrong way round."""
    return {**send_owed_emails(bookings, notifier, now), **send_due_reminders(bookings, notifier, now)}


def send_owed_emails(bookings: BookingRepository, notifier: Notifier, now: datetime) -> dict[str, int]:
    """Bookings whose grace ran out get their emails without the link: never lost to a slow meetings worker."""
    counts = {"owed_settled": 0, "owed_pending": 0, "owed_failed": 0}
    for booking_id, _ in bookings.mail_due_by(now, BATCH):
        outcome = guarded(booking_id, partial(notifier.send_owed, booking_id, force=True), "owed emails")
        if outcome is None:
            counts["owed_failed"] += 1
        elif outcome is Outcome.IN_FLIGHT:
            counts["owed_pending"] += 1
        else:
            counts["owed_settled"] += 1
    return counts


def send_due_reminders(bookings: BookingRepository, notifier: Notifier, now: datetime) -> dict[str, int]:
    """Send the reminder whose time has come, then arm the next one (or disarm the booking)."""
    counts = {"reminders_sent": 0, "reminders_cleared": 0, "reminders_deferred": 0, "reminders_failed": 0}
    for booking_id, booking in bookings.reminders_due_by(now, BATCH):
        due = due_reminders(booking, now)
        if due and booking.mail_due_at is not None:
            counts["reminders_deferred"] += 1  # its confirmation is still owed and goes first
            continue
        if due:
            done = guarded(booking_id, partial(notifier.remind, booking_id, booking, due[-1]), "reminder")
            if done is None:
                counts["reminders_failed"] += 1
                continue
            if not done:
                counts["reminders_deferred"] += 1  # another run is sending it and will arm the next one
                continue
            counts["reminders_sent"] += 1
        else:
            counts["reminders_cleared"] += 1
        guarded(booking_id, partial(_advance, bookings, booking_id, booking, due, now), "arming the next reminder")
    return counts


def due_reminders(booking: Booking, now: datetime) -> list[str]:
    """Unsent reminders whose time has come, earliest first; none for a booking not confirmed or started.

    Only the last is sent: after a scheduler outage a "24 hours before" email an hour before the
    session would mislead, so earlier ones are just marked as done.
    """
    if not booking.confirmed or booking.start <= now:
        return []
    sent = set(booking.reminders_sent)
    return [kind for kind, offset in REMINDER_OFFSETS if kind not in sent and booking.start - offset <= now]


def _advance(bookings: BookingRepository, booking_id: str, seen: Booking, done: list[str], now: datetime) -> None:
    """Record what went and arm the next reminder, unless the booking changed since it was read (a reschedule
    re-armed it, a cancel disarmed it: theirs is the newer truth)."""
    sent = set(seen.reminders_sent) | set(done)
    following = next_reminder(seen.start, now, sent) if seen.confirmed else None
    advanced = replace(
        seen,
        reminders_sent=tuple(kind for kind, _ in REMINDER_OFFSETS if kind in sent),
        next_reminder_at=following[1] if following else None,
    )
    bookings.update_if(booking_id, seen, advanced)


class SchedulerTick:
    """Everything Cloud Scheduler's job runs: the booking sweeps (unpublished events, expired holds, stuck
    links), owed confirmations and due reminders, the tokens about to expire, the creators whose connection
    broke, and the calendar work a Google write pause skipped. Counts only: failures are logged per booking and
    retried by the next tick."""

    def __init__(
        self,
        bookings: BookingRepository,
        outbox: Outbox,
        service: BookingService,
        notifier: Notifier,
        clock: Clock,
        connections: DocStoreConnections,
        broken_mail: BrokenConnectionMail,
        google_catch_up: GoogleCatchUp,
    ) -> None:
        self._bookings = bookings
        self._outbox = outbox
        self._service = service
        self._notifier = notifier
        self._clock = clock
        self._connections = connections
        self._broken_mail = broken_mail
        self._google_catch_up = google_catch_up

    def run(self) -> dict[str, int]:
        now = self._clock.now()
        return {
            **run_booking_sweeps(self._bookings, self._outbox, self._service, now),
            **tick(self._bookings, self._notifier, now),
            **self._connections.refresh_expiring(REFRESH_AHEAD, BATCH),
            **self._broken_mail.send_due(),
            **self._google_catch_up.run(),
        }
