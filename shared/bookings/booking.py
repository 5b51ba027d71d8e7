"""The booking: one typed record that every service reads and changes only through the BookingRepository.

A booking's life cycle: pending_payment -> confirmed -> cancelled (a free booking starts confirmed;
an unpaid hold is cancelled by the sweep, and a late payment may confirm it again). Each change
bumps `revision`; the link fields say what the meetings worker decided for which revision.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

Status = Literal["pending_payment", "confirmed", "cancelled"]
LinkStatus = Literal["pending", "ready", "unavailable"]
Change = Literal["created", "confirmed", "rescheduled", "cancelled", "slot_lost", "link_set", "link_retry"]
"""What the latest revision did: with the status it says which emails the revision owes (slot_lost: a
late payment found its expired hold's slot taken, so the fan is told it will be refunded)."""
LinkProvider = Literal["zoom", "google_meet"]
CancelledBy = Literal["fan", "creator", "system"]


@dataclass(frozen=True)
class Fan:
    name: str
    email: str
    timezone: str | None = None


@dataclass(frozen=True)
class ZoomMeetingRef:
    """The Zoom meeting made for the booking, recorded so it can be found again, moved or deleted."""

    meeting_id: int
    join_url: str
    start: datetime | None
    """The start the meeting was made for (None when Zoom did not say): a different booking start moves it."""


@dataclass(frozen=True)
class GoogleEventRef:
    """The Google Calendar event made for the booking, and what it was last written with."""

    event_id: str
    start: datetime
    zoom_url: str | None
    """The link written in place of a Meet: Zoom's, or one the creator set by hand (the stored name is older)."""
    meet_url: str | None


@dataclass(frozen=True)
class Booking:
    """A booking as stored; change it with `dataclasses.replace` and write it with `BookingRepository.update_if`."""

    creator_id: str
    offer_id: str
    offer_title: str
    duration_minutes: int
    price_cents: int
    start: datetime
    end: datetime
    timezone: str
    fan: Fan
    status: Status
    revision: int
    change: Change
    manage_token_hash: str
    manage_token_sealed: dict[str, Any]
    """The manage token sealed by the Vault: emails need the token itself, the database keeps only this."""
    cells: tuple[str, ...]
    created_at: datetime
    updated_at: datetime
    link_status: LinkStatus = "pending"
    meeting_url: str | None = None
    video_provider: LinkProvider | None = None
    hold_expires_at: datetime | None = None
    confirmed_at: datetime | None = None
    link_deadline_at: datetime | None = None
    link_nudge_at: datetime | None = None
    mail_due_at: datetime | None = None
    next_reminder_at: datetime | None = None
    reminders_sent: tuple[str, ...] = ()
    cancelled_by: CancelledBy | None = None
    cancel_reason: str | None = None
    zoom: ZoomMeetingRef | None = None
    zoom_intent: str | None = None
    """A marker written into the Zoom agenda before the create call, so a retry adopts instead of re-creating."""
    zoom_failed_revision: int | None = None
    zoom_failed_reason: str | None = None
    google_event: GoogleEventRef | None = None
    link_revision: int | None = None
    """The revision whose link the meetings worker decided (made one, or gave up on one)."""
    link_published_revision: int | None = None
    test_booking: bool = False
    """Made by the creator's "Send a test booking" to their own address: hidden from lists, cleaned up after."""
    link_manual: bool = False
    """The creator set the link by hand: Flo neither replaces it (a reschedule keeps it) nor deletes its meeting."""

    @property
    def confirmed(self) -> bool:
        return self.status == "confirmed"

    @property
    def cancelled(self) -> bool:
        return self.status == "cancelled"

    @property
    def pending_payment(self) -> bool:
        return self.status == "pending_payment"

    @property
    def claims_cells(self) -> bool:
        """A pending or confirmed booking holds its slot cells; a cancelled one has given them back."""
        return not self.cancelled

    def hold_expired(self, now: datetime) -> bool:
        """An unpaid hold whose time ran out: its slot may be given to someone else."""
        return self.pending_payment and self.hold_expires_at is not None and self.hold_expires_at <= now

    def blocks_slots(self, now: datetime) -> bool:
        """Whether fans picking a slot must see this booking's time as taken."""
        held = self.pending_payment and self.hold_expires_at is not None and self.hold_expires_at > now
        return self.confirmed or held

    @property
    def link_decided(self) -> bool:
        """The meetings worker has decided this revision's link (made one, or gave up on one)."""
        return self.link_revision == self.revision and self.link_status in ("ready", "unavailable")

    @property
    def link_ready(self) -> bool:
        """This revision's link is usable: the moment a link_ready email may be owed."""
        return self.link_decided and self.link_status == "ready" and bool(self.meeting_url)

    @property
    def link_pending(self) -> bool:
        """No link yet, but one may still come for this revision."""
        return not self.meeting_url and not self.link_decided

    @property
    def join_available(self) -> bool:
        return self.confirmed and bool(self.meeting_url)

    def decided_from(self) -> tuple[object, ...]:
        """What a change is decided from by default: a write is refused once either has moved on."""
        return self.revision, self.status

    def link_decided_from(self) -> tuple[object, ...]:
        """What the emails of a revision are decided from: its revision, status and link."""
        return self.revision, self.status, self.link_status, self.link_revision, self.meeting_url
