"""The scheduler's email sweep: owed confirmations first, then due reminders.

Both find their bookings with one single-field range query (mail_due_at, next_reminder_at) and never
scan the collection. Runs may overlap; the ledger makes every message go once regardless.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import TypeVar

from shared.bookings.model import BOOKINGS, REMINDER_OFFSETS, next_reminder
from shared.notify.settle import Notifier, Outcome
from shared.store.port import Doc, DocStore, Txn, Where, update

log = logging.getLogger(__name__)
T = TypeVar("T")

BATCH = 200
"""Per query and tick: the rest is picked up by the next tick a few minutes later."""


def tick(store: DocStore, notifier: Notifier, now: datetime) -> dict[str, int]:
    """One scheduler run; confirmations go before reminders so a fan never gets them the wrong way round."""
    return {**send_owed_emails(store, notifier, now), **send_due_reminders(store, notifier, now)}


def send_owed_emails(store: DocStore, notifier: Notifier, now: datetime) -> dict[str, int]:
    """Bookings whose grace ran out get their emails without the link: never lost to a slow meetings worker."""
    counts = {"owed_settled": 0, "owed_pending": 0, "owed_failed": 0}
    for booking_id, _ in store.query(BOOKINGS, [Where("mail_due_at", "<=", now)], limit=BATCH):
        outcome = _guarded(booking_id, partial(notifier.settle, booking_id, force=True))
        if outcome is None:
            counts["owed_failed"] += 1
        elif outcome is Outcome.IN_FLIGHT:
            counts["owed_pending"] += 1
        else:
            counts["owed_settled"] += 1
    return counts


def send_due_reminders(store: DocStore, notifier: Notifier, now: datetime) -> dict[str, int]:
    """Send the reminder whose time has come, then arm the next one (or disarm the booking)."""
    counts = {"reminders_sent": 0, "reminders_cleared": 0, "reminders_deferred": 0, "reminders_failed": 0}
    for booking_id, doc in store.query(BOOKINGS, [Where("next_reminder_at", "<=", now)], limit=BATCH):
        due = due_reminders(doc, now)
        if due and doc.get("mail_due_at") is not None:
            counts["reminders_deferred"] += 1  # its confirmation is still owed and goes first
            continue
        if due:
            done = _guarded(booking_id, partial(notifier.remind, booking_id, doc, due[-1]))
            if done is None:
                counts["reminders_failed"] += 1
                continue
            if not done:
                counts["reminders_deferred"] += 1  # another run is sending it and will arm the next one
                continue
            counts["reminders_sent"] += 1
        else:
            counts["reminders_cleared"] += 1
        _advance(store, booking_id, doc, due, now)
    return counts


def due_reminders(doc: Doc, now: datetime) -> list[str]:
    """Unsent reminders whose time has come, earliest first; none for a booking not confirmed or started.

    Only the last is sent: after a scheduler outage a "24 hours before" email an hour before the
    session would mislead, so earlier ones are just marked as done.
    """
    start: datetime = doc["start"]
    if doc["status"] != "confirmed" or start <= now:
        return []
    sent = set(doc.get("reminders_sent") or [])
    return [kind for kind, offset in REMINDER_OFFSETS if kind not in sent and start - offset <= now]


def _advance(store: DocStore, booking_id: str, seen: Doc, done: list[str], now: datetime) -> None:
    """Record what went and arm the next reminder, unless the booking changed since it was read."""

    def run(txn: Txn) -> None:
        current = txn.get(BOOKINGS, booking_id)
        if current is None or current["revision"] != seen["revision"]:
            return  # a reschedule re-armed it, a cancel disarmed it: theirs is the newer truth
        sent = set(current.get("reminders_sent") or []) | set(done)
        following = next_reminder(current["start"], now, sent) if current["status"] == "confirmed" else None
        txn.write(
            update(
                BOOKINGS,
                booking_id,
                {
                    "reminders_sent": [kind for kind, _ in REMINDER_OFFSETS if kind in sent],
                    "next_reminder_at": following[1] if following else None,
                },
            )
        )

    store.transaction(run)


def _guarded(booking_id: str, step: Callable[[], T]) -> T | None:
    """One booking's failure (SMTP down, bad data) is logged and retried next tick; the rest still go."""
    try:
        return step()
    except Exception:
        log.exception("email sweep failed for a booking", extra={"booking_id": booking_id})
        return None
