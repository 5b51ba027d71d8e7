"""'Always run a test booking to your own email after connecting': the creator's test booking, run end to end.

It books a short session in the creator's next free slot to the creator's own address, then watches the
ordinary path do its work (the meetings worker making the meeting and the Google event, notify sending the
emails), reports each step, and cleans up: the booking is cancelled (it owes no emails then), which makes the
meetings worker delete the meeting and the event. Test bookings never show in the bookings list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from shared.availability import AvailabilityError
from shared.bookings.booking import Booking
from shared.bookings.catalog import Catalog, weekly_hours_of
from shared.bookings.service import TEST_OFFER, BookingService
from shared.bookings.slots import SlotFinder
from shared.clock import Clock
from shared.connections.port import Connections
from shared.errors import ConflictError, NotFoundError
from shared.notify.ledger import EmailKey, was_sent
from shared.pages.times import when
from shared.store.port import DocStore

StepStatus = Literal["ok", "failed", "skipped"]
SEARCH_DAYS = 14
"""How far ahead the next free slot is looked for."""
POLL_SECONDS = 0.5
STEP_WAIT = timedelta(seconds=30)
"""How long one step is watched before it is reported as not done (the whole run stays within Cloud Run's
request timeout: three watched steps, about 90 s at worst)."""


@dataclass(frozen=True)
class Step:
    name: str
    status: StepStatus
    detail: str


@dataclass(frozen=True)
class TrialReport:
    booking_id: str | None
    start: str | None
    steps: tuple[Step, ...]


class TrialBooking:
    def __init__(
        self,
        bookings: BookingService,
        slots: SlotFinder,
        catalog: Catalog,
        connections: Connections,
        store: DocStore,
        clock: Clock,
        pause: Callable[[float], None],
    ) -> None:
        self._bookings = bookings
        self._slots = slots
        self._catalog = catalog
        self._connections = connections
        self._store = store
        self._clock = clock
        self._pause = pause

    def run(self, creator_id: str) -> TrialReport:
        creator = self._catalog.creator(creator_id)
        if creator is None:
            raise NotFoundError("creator_not_found", "No such creator.")
        try:
            zone = weekly_hours_of(creator).zone
        except AvailabilityError:
            raise ConflictError("no_hours", "Set your hours in Settings → Availability first.") from None
        today = self._clock.now().astimezone(zone).date()
        duration = timedelta(minutes=int(TEST_OFFER["duration_minutes"]))
        found = self._slots.free(creator_id, creator, duration, today, today + timedelta(days=SEARCH_DAYS))
        if not found.slots:
            raise ConflictError("no_free_slot", f"No free slot in your hours in the next {SEARCH_DAYS} days.")
        start = found.slots[0].start
        booking_id = self._bookings.book_test(creator_id, start).booking_id
        steps = [Step("booked", "ok", f"Booked {when(start, zone)} to {creator['email']}.")]
        booking = self._watch(booking_id, lambda b: b.link_decided)
        steps.append(self._meeting_step(booking))
        steps.append(self._event_step(creator_id, booking))
        steps.append(self._email_step(booking_id))
        steps.append(self._cleanup(booking_id))
        return TrialReport(booking_id, start.isoformat(), tuple(steps))

    # ---- the steps -----------------------------------------------------------------------------------------

    def _watch(self, booking_id: str, done: Callable[[Booking], bool]) -> Booking:
        """The booking once `done` holds for it, or as it is when the step's wait ran out."""
        deadline = self._clock.now() + STEP_WAIT
        booking = self._bookings.get(booking_id)
        while not done(booking) and self._clock.now() < deadline:
            self._pause(POLL_SECONDS)
            booking = self._bookings.get(booking_id)
        return booking

    @staticmethod
    def _meeting_step(booking: Booking) -> Step:
        if booking.link_ready:
            provider = "Zoom" if booking.video_provider == "zoom" else "Google Meet"
            return Step("meeting", "ok", f"{provider} link made: {booking.meeting_url}")
        if booking.link_decided:
            why = f" ({booking.zoom_failed_reason})" if booking.zoom_failed_reason else ""
            return Step("meeting", "failed", f"No video link could be made{why}. Check your integrations.")
        return Step("meeting", "failed", "The video link was not made in time.")

    def _event_step(self, creator_id: str, booking: Booking) -> Step:
        if self._connections.status(creator_id, "google") != "connected":
            return Step("calendar_event", "skipped", "Google Calendar is not connected: no calendar event.")
        if booking.google_event is not None:
            return Step("calendar_event", "ok", "Google Calendar event made.")
        return Step("calendar_event", "failed", "No Google Calendar event was made.")

    def _email_step(self, booking_id: str) -> Step:
        wanted = [
            EmailKey(booking_id, "confirmation", 1, "fan"),
            EmailKey(booking_id, "creator_notification", 1, "creator"),
        ]

        def sent(_: Booking) -> bool:
            return all(was_sent(self._store, key) for key in wanted)

        if sent(self._watch(booking_id, sent)):
            return Step("emails", "ok", "The confirmation and your booking notification were sent to you.")
        return Step("emails", "failed", "The emails were not sent in time. Check your spam folder, then try again.")

    def _cleanup(self, booking_id: str) -> Step:
        self._bookings.cancel(booking_id, by="system", reason="test_booking")
        cleaned = self._watch(booking_id, lambda b: b.zoom is None and b.google_event is None)
        if cleaned.zoom is None and cleaned.google_event is None:
            return Step("cleanup", "ok", "The test booking, its meeting and its calendar event were removed.")
        return Step("cleanup", "failed", "The test booking is cancelled; its meeting or event is still being removed.")
