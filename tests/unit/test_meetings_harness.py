"""The meetings worker on fakes, fed by booking documents the real BookingService writes.

Bookings are created, paid, rescheduled and cancelled through BookingService, so the fields the
reconciler reads are the ones production writes; booking events reach the worker through its push
route, as Pub/Sub would deliver them.
"""

from __future__ import annotations

import base64
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from werkzeug.test import Client, TestResponse

from services.meetings.app import build_app
from shared.bookings.booking import Fan
from shared.bookings.busy import NoCalendar
from shared.bookings.catalog import new_offer
from shared.bookings.model import BOOKINGS, CREATORS, hours_to_doc
from shared.bookings.notices import NOTICES
from shared.bookings.outbox import BOOKING_EVENTS
from shared.bootstrap import Adapters, Runtime, booking_service, meeting_reconciler
from shared.config import Settings
from shared.meetings.reconcile import LINK_EVENTS
from shared.providers.errors import Provider
from shared.providers.google_calendar import event_id_for
from shared.providers.models import CalendarEvent, ZoomMeeting
from shared.secrets import EnvSecretSource
from shared.store.port import DocStore, put
from tests.fakes.bus import FakePublisher
from tests.fakes.clock import FakeClock
from tests.fakes.connections import FakeConnections
from tests.fakes.providers import FakeGoogleCalendar, FakeZoom
from tests.fakes.pubsub import encode_push
from tests.fakes.store import FakeDocStore

KEYS = "v1:" + base64.urlsafe_b64encode(bytes(range(32, 64))).decode().rstrip("=")
MANAGE_KEYS = "m1:" + base64.urlsafe_b64encode(bytes(range(96, 128))).decode().rstrip("=")
"""Only for the booking service that makes the bookings here; the meetings service itself never holds it."""
TIMEZONE = "Europe/Berlin"
NOW = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
"""Monday 2 March 2026, 08:00 in Berlin: the creator's hours start at 09:00."""
WORKDAYS = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
LINK_DEADLINE = timedelta(seconds=900)
ENV = {
    "FLO_ENV": "local",
    "FLO_BASE_URL": "http://flo.test",
    "GOOGLE_CLOUD_PROJECT": "flo-test",
    "LINK_DEADLINE_SECONDS": str(int(LINK_DEADLINE.total_seconds())),
}
ROUTE = "/pubsub/booking-events"
OFFER_TITLE = "Coaching"
DURATION = 60
"""Slots step by the duration from 09:00, so every whole hour from 09:00 to 16:00 is one."""
FAN = {"name": "Ada Lovelace", "email": "ada@example.com"}


def local(day: int, hour: int, minute: int = 0) -> datetime:
    """A creator-local wall-clock time in March 2026 (day 2 is a Monday), as the UTC instant bookings store."""
    return datetime(2026, 3, day, hour, minute, tzinfo=ZoneInfo(TIMEZONE)).astimezone(UTC)


class MeetingsHarness:
    def __init__(
        self,
        zoom: FakeZoom | None = None,
        creator_id: str = "creator-1",
        store: DocStore | None = None,
        link_deadline: timedelta = LINK_DEADLINE,
    ) -> None:
        self.store: DocStore = store if store is not None else FakeDocStore()
        self.publisher = FakePublisher()
        self.clock = FakeClock(NOW)
        self.connections = FakeConnections()
        self.zoom = zoom if zoom is not None else FakeZoom()
        self.calendar = FakeGoogleCalendar()
        self.runtime = Runtime(
            service="meetings",
            settings=Settings.from_env({**ENV, "LINK_DEADLINE_SECONDS": str(int(link_deadline.total_seconds()))}),
            store=self.store,
            publisher=self.publisher,
            clock=self.clock,
            secrets=EnvSecretSource({"TOKEN_ENCRYPTION_KEYS": KEYS, "MANAGE_TOKEN_KEYS": MANAGE_KEYS}),
            adapters=Adapters(connections=self.connections, zoom=self.zoom, calendar=self.calendar),
        )
        # Bookings are made by the real booking service (with an always-free calendar), so the fields the
        # reconciler reads are the ones production writes; the worker is wired as its service wires it.
        self.bookings = booking_service(self.runtime, NoCalendar())
        self.reconciler = meeting_reconciler(self.runtime)
        self.client = Client(build_app(self.runtime))
        self._message_ids = itertools.count(1)
        self.creator_id = creator_id
        self.store.commit(
            [
                put(
                    CREATORS,
                    creator_id,
                    {
                        "email": "creator@example.com",
                        "name": "Cee",
                        "plan": "creator",
                        "timezone": TIMEZONE,
                        "weekly_hours": hours_to_doc(WORKDAYS),
                        "created_at": NOW,
                    },
                )
            ]
        )
        self.free_offer = new_offer(self.store, creator_id, OFFER_TITLE, DURATION, 0, NOW)
        self.paid_offer = new_offer(self.store, creator_id, "Paid coaching", DURATION, 4000, NOW)

    # ---- setup -------------------------------------------------------------------------------------------

    def connect(self, *providers: Provider) -> None:
        for provider in providers:
            self.connections.connect(self.creator_id, provider)

    def book(self, start: datetime, paid: bool = False, fan: dict[str, str] | None = None) -> str:
        offer = self.paid_offer if paid else self.free_offer
        return self.bookings.book(offer, start, Fan(**(fan or FAN))).booking_id

    # ---- delivery ----------------------------------------------------------------------------------------

    def push(self, data: dict[str, Any]) -> TestResponse:
        envelope = encode_push(data, message_id=str(next(self._message_ids)))
        return self.client.post(ROUTE, json=envelope)

    def deliver(self, booking_id: str) -> TestResponse:
        """The booking event for the booking's current revision, as Pub/Sub would push it."""
        data = {"type": "booking.changed", "booking_id": booking_id, "revision": self.doc(booking_id)["revision"]}
        return self.push(data)

    def settle(self, booking_id: str) -> dict[str, Any]:
        response = self.deliver(booking_id)
        assert response.status_code == 200, response.get_data(as_text=True)
        return self.doc(booking_id)

    # ---- observations ------------------------------------------------------------------------------------

    def doc(self, booking_id: str) -> dict[str, Any]:
        doc = self.store.get(BOOKINGS, booking_id)
        assert doc is not None
        return doc

    def live_meetings(self) -> list[ZoomMeeting]:
        return list(self.zoom.meetings.values())

    def event_of(self, booking_id: str) -> CalendarEvent | None:
        return self.calendar.events.get(event_id_for(booking_id))

    def live_events(self) -> list[CalendarEvent]:
        return [e for e in self.calendar.events.values() if e.status != "cancelled"]

    def link_events(self) -> list[dict[str, Any]]:
        return self.publisher.on(LINK_EVENTS)

    def booking_events(self) -> list[dict[str, Any]]:
        return self.publisher.on(BOOKING_EVENTS)

    def notices(self) -> list[dict[str, Any]]:
        return [doc for _, doc in self.store.query(NOTICES)]
