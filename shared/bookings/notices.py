"""Notices on the creator's dashboard: things the system could not do for them and they should know about."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from shared.clock import Clock
from shared.errors import NotFoundError
from shared.store.port import Conflict, Doc, DocStore, Where, create, update

NOTICES = "notices"
NoticeKind = Literal[
    "zoom_delete_failed",
    "zoom_meeting_kept",
    "zoom_quota_spent",
    "google_writes_paused",
    "email_failed",
    "payment_needs_refund",
]
ZOOM_DELETE_FAILED = "We could not remove a Zoom meeting for a cancelled session"
ZOOM_QUOTA_SPENT = (
    "Zoom's 100 meetings a day for your account are used up: new bookings get a Google Meet link (or none)"
    " until 00:00 UTC"
)
GOOGLE_WRITES_PAUSED = (
    "Google Calendar refused Flo's changes for a while (its usage limits for your account): until {until}, new"
    " sessions get no Calendar event or Meet link, and moved or cancelled ones are not changed in your calendar"
)
GOOGLE_WRITES_CAUGHT_UP = (
    "Google Calendar takes Flo's changes again: the sessions booked, moved or cancelled while it refused them are"
    " being put right in your calendar, and any that got no video link meanwhile get one"
)
ZOOM_DELETE_RETRIED = "Flo removed the leftover Zoom meeting of a cancelled session after you reconnected Zoom"
ZOOM_OTHER_ACCOUNT = (
    "You connected a different Zoom account: this session's meeting stays in your earlier Zoom account, and Flo"
    " no longer moves or deletes it"
)
ZOOM_DATA_ERASED = (
    "Zoom was removed from Flo and Flo deleted your Zoom data: this session keeps its link, but Flo can no longer"
    " move or delete its Zoom meeting"
)


@dataclass(frozen=True)
class Notice:
    notice_id: str
    kind: NoticeKind
    booking_id: str | None
    meeting_id: str | int | None
    """As stored: the meeting id of a zoom_delete_failed notice."""
    message: str
    created_at: datetime
    resolved: bool = False
    """Flo fixed what the notice warned about later (its message says so)."""


class Notices:
    def __init__(self, store: DocStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    def zoom_delete_failed(self, creator_id: str, booking_id: str, meeting_id: int) -> None:
        """Tell the creator a Zoom meeting was left behind; one notice per meeting however often it is retried."""
        notice = self._notice(creator_id, "zoom_delete_failed", booking_id, ZOOM_DELETE_FAILED)
        self._add(f"zoom-delete-{meeting_id}", {**notice, "meeting_id": str(meeting_id)})

    def email_failed(self, creator_id: str, booking_id: str, email_id: str, recipient: str, what: str) -> None:
        """Tell the creator who did not get an email that can never be sent; one notice per message.

        ``recipient`` is the address that did not get it, ``what`` says which email and why, in words.
        """
        message = f"We could not send {what} to {recipient}."
        self._add(f"email-failed-{email_id}", self._notice(creator_id, "email_failed", booking_id, message))

    def payment_needs_refund(self, creator_id: str, booking_id: str, fan: str) -> None:
        """A payment arrived for a slot that was no longer held: Flo Payments is asked to refund it."""
        message = (
            f"A payment from {fan} arrived after their hold ran out and the slot was booked by someone else: "
            "the session was not booked and the payment will be refunded."
        )
        self._add(f"refund-{booking_id}", self._notice(creator_id, "payment_needs_refund", booking_id, message))

    def _notice(self, creator_id: str, kind: NoticeKind, booking_id: str, message: str) -> Doc:
        return {
            "creator_id": creator_id,
            "kind": kind,
            "booking_id": booking_id,
            "meeting_id": None,
            "message": message,
            "created_at": self._clock.now(),
            "dismissed": False,
        }

    def _add(self, notice_id: str, notice: Doc) -> None:
        """Created once under its id, however often the same trouble is met again."""
        with contextlib.suppress(Conflict):
            self._store.commit([create(NOTICES, notice_id, notice)])

    def zoom_meeting_kept(self, creator_id: str, booking_id: str, meeting_id: int, message: str) -> None:
        """Note a session's Zoom meeting that Flo stops managing, before Flo forgets its id; one per meeting."""
        notice = {
            "creator_id": creator_id,
            "kind": "zoom_meeting_kept",
            "booking_id": booking_id,
            "meeting_id": str(meeting_id),
            "message": message,
            "created_at": self._clock.now(),
            "dismissed": False,
        }
        with contextlib.suppress(Conflict):
            self._store.commit([create(NOTICES, f"zoom-kept-{meeting_id}", notice)])

    def zoom_quota_spent(self, creator_id: str, now: datetime) -> None:
        """Tell the creator Zoom's daily budget is spent; one notice per UTC day."""
        self._account_notice(
            f"zoom-quota-{creator_id}-{now.date().isoformat()}", creator_id, "zoom_quota_spent", ZOOM_QUOTA_SPENT, now
        )

    def google_writes_paused(self, creator_id: str, until: datetime, now: datetime) -> None:
        """Tell the creator Google refused Flo's calendar changes for a while; one notice per pause."""
        message = GOOGLE_WRITES_PAUSED.format(until=until.strftime("%H:%M UTC on %d %b"))
        notice_id = f"google-paused-{creator_id}-{until.isoformat()}"
        self._account_notice(notice_id, creator_id, "google_writes_paused", message, now)

    def _account_notice(self, notice_id: str, creator_id: str, kind: NoticeKind, message: str, now: datetime) -> None:
        """A notice about the creator's account rather than one session; written once under its id."""
        notice = {
            "creator_id": creator_id,
            "kind": kind,
            "booking_id": None,
            "meeting_id": None,
            "message": message,
            "created_at": now,
            "dismissed": False,
        }
        with contextlib.suppress(Conflict):
            self._store.commit([create(NOTICES, notice_id, notice)])

    def open_of_kind(self, creator_id: str, kind: NoticeKind) -> list[Notice]:
        return [n for n in self.open_for(creator_id) if n.kind == kind]

    def resolve(self, notice_id: str, message: str) -> None:
        """What the notice warned about was fixed: it says so (and stays until the creator dismisses it)."""
        self._store.commit([update(NOTICES, notice_id, {"message": message, "resolved": True})])

    def open_for(self, creator_id: str) -> list[Notice]:
        """The creator's notices not yet dismissed, oldest first."""
        rows = self._store.query(NOTICES, [Where("creator_id", "==", creator_id), Where("dismissed", "==", False)])
        notices = [
            Notice(
                notice_id=notice_id,
                kind=doc.get("kind", "zoom_delete_failed"),
                booking_id=doc.get("booking_id"),
                meeting_id=doc.get("meeting_id"),
                message=doc.get("message", ""),
                created_at=doc["created_at"],
                resolved=bool(doc.get("resolved")),
            )
            for notice_id, doc in rows
        ]
        return sorted(notices, key=lambda n: n.created_at)

    def dismiss(self, creator_id: str, notice_id: str) -> None:
        notice = self._store.get(NOTICES, notice_id)
        if notice is None or notice["creator_id"] != creator_id:
            raise NotFoundError("notice_not_found", f"No notice {notice_id!r}.")
        self._store.commit([update(NOTICES, notice_id, {"dismissed": True})])
