"""The notify worker and the reminder sweep wired by the composition root with fakes, fed by bookings the
real booking service made.

Bookings come from the bookings harness so the fields notify reads are the ones the bookings
service really writes; the meetings worker is played by ``settle_link``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from email.message import EmailMessage
from typing import Any

from icalendar import Calendar
from werkzeug.test import Client, TestResponse

from services.notify.app import build_app as notify_app
from services.reminders.app import build_app as reminders_app
from shared.bookings.model import BOOKINGS
from shared.bootstrap import notifier
from shared.config import Settings
from shared.mail import MailSender
from shared.store.port import DocStore, update
from tests.fakes.mail import FakeMailSender
from tests.fakes.pubsub import encode_push
from tests.unit.test_bookings_harness import Harness, at

MAIL_FROM = "Flo <bookings@flo.test>"
FAN = "fan@example.com"
CREATOR = "c@example.com"
ZOOM_URL = "https://zoom.us/j/123456789"


@dataclass(frozen=True)
class Sent:
    kind: str
    to: str
    message: EmailMessage

    @property
    def text(self) -> str:
        part = self.message.get_body(("plain",))
        assert part is not None
        content: str = part.get_content()
        return content

    @property
    def html(self) -> str:
        part = self.message.get_body(("html",))
        assert part is not None
        content: str = part.get_content()
        return content

    @property
    def ics(self) -> Any:
        attachments = [p for p in self.message.iter_attachments() if p.get_content_type() == "text/calendar"]
        assert len(attachments) == 1
        return Calendar.from_ical(attachments[0].get_content())

    @property
    def event(self) -> Any:
        return next(c for c in self.ics.walk() if c.name == "VEVENT")


class NotifyHarness(Harness):
    """The bookings harness plus a notifier, its two HTTP apps and a recording mail sender."""

    def __init__(self, sender: Any = None, store: DocStore | None = None) -> None:
        super().__init__(store=store)
        self.mail = FakeMailSender()
        mail: MailSender = sender or self.mail
        self.runtime = replace(
            self.runtime,
            settings=Settings.from_env({**self.runtime.settings.environ, "MAIL_FROM": MAIL_FROM}),
            adapters=replace(self.runtime.adapters, mail=mail),
        )
        self.notifier = notifier(self.runtime)
        self.notify = Client(notify_app(replace(self.runtime, service="notify")))
        self.reminders = Client(reminders_app(replace(self.runtime, service="reminders")))
        self._message_ids = itertools.count(1)
        owner = self.creator()
        self.creator_id = owner.creator_id
        self.free_offer = self.offer(owner)
        self.paid_offer = self.offer(owner, price_cents=2500)

    def new_booking(self, start: str = at(9), offer_id: str | None = None) -> str:
        booking_id, _ = self.booked(offer_id or self.free_offer, start)
        return booking_id

    def push(self, topic: str, booking_id: str, event_type: str = "booking.changed") -> TestResponse:
        doc = self.doc(booking_id)
        data = {"type": event_type, "booking_id": booking_id, "revision": doc["revision"]}
        envelope = encode_push(data, message_id=str(next(self._message_ids)))
        return self.notify.post(f"/pubsub/{topic}", json=envelope)

    def booking_event(self, booking_id: str, times: int = 1) -> list[TestResponse]:
        return [self.push("booking-events", booking_id) for _ in range(times)]

    def link_event(self, booking_id: str) -> TestResponse:
        return self.push("link-events", booking_id, "link.ready")

    def settle_link(self, booking_id: str, url: str | None = ZOOM_URL) -> None:
        """What the meetings worker writes once it made (or gave up on) this revision's link."""
        revision = self.doc(booking_id)["revision"]
        fields = {
            "meeting_url": url,
            "video_provider": "zoom" if url else None,
            "link_status": "ready" if url else "unavailable",
            "link_revision": revision,
        }
        self.store.commit([update(BOOKINGS, booking_id, fields)])

    def tick(self) -> dict[str, int]:
        response = self.reminders.post("/tasks/reminders")
        assert response.status_code == 200, response.get_data(as_text=True)
        counts: dict[str, int] = response.get_json()
        return counts

    def sent(self, kind: str | None = None) -> list[Sent]:
        result = [Sent(str(m["X-Flo-Email-Kind"]), m["To"].addresses[0].addr_spec, m) for m in self.mail.sent]
        return [s for s in result if kind is None or s.kind == kind]

    def kinds(self) -> list[tuple[str, str]]:
        return [(s.kind, s.to) for s in self.sent()]


def test_the_harness_books_a_confirmed_booking_whose_emails_are_due_after_the_grace() -> None:
    h = NotifyHarness()
    booking_id = h.new_booking()
    doc = h.doc(booking_id)
    assert (doc["status"], doc["change"], doc["link_status"]) == ("confirmed", "confirmed", "pending")
    assert doc["mail_due_at"] > h.clock.now()
    assert h.mail.sent == []
