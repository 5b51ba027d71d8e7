"""The bookings service wired by the composition root with fakes, driven through its HTTP routes.

A creator is made through the dev route (the only way a local creator gets a token), so every
test goes through the same doors a fan or a creator would use.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from werkzeug.test import Client, TestResponse

from services.bookings.app import build_app
from shared.bookings.model import BOOKINGS
from shared.bookings.service import Policy
from shared.bootstrap import Adapters, Runtime, booking_policy, bookings_use_cases
from shared.config import Settings
from shared.secrets import EnvSecretSource
from shared.store.port import DocStore
from tests.fakes.bus import FakePublisher
from tests.fakes.clock import FakeClock
from tests.fakes.connections import FakeConnections
from tests.fakes.providers import FakeGoogleCalendar
from tests.fakes.store import FakeDocStore

BASE_URL = "http://flo.test"
ENV = {"FLO_ENV": "local", "FLO_BASE_URL": BASE_URL, "GOOGLE_CLOUD_PROJECT": "flo-test"}
KEYS = "v1:" + base64.urlsafe_b64encode(bytes(range(32))).decode().rstrip("=")
MANAGE_KEYS = "m1:" + base64.urlsafe_b64encode(bytes(range(64, 96))).decode().rstrip("=")
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
"""Monday 2 March 2026, 08:00 UTC: an hour before the first slot of the default hours."""
MONDAY = "2026-03-02"
TUESDAY = "2026-03-03"
MORNINGS = {day: [["09:00", "12:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
POLICY = Policy(
    payment_hold=timedelta(minutes=15),
    link_deadline=timedelta(seconds=900),
    confirmation_grace=timedelta(seconds=8),
    booking_horizon=timedelta(days=365),
)


def at(hour: int, minute: int = 0, day: int = 2) -> str:
    """An RFC 3339 UTC instant in March 2026 (day 2 is the Monday of NOW)."""
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC).isoformat()


@dataclass(frozen=True)
class Creator:
    creator_id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


OAUTH_CLIENTS = {
    name: f"test-{name.lower()}"
    for name in ("ZOOM_CLIENT_ID", "ZOOM_CLIENT_SECRET", "GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET")
}
"""The OAuth clients' credentials: the scheduler tick refreshes tokens ahead of expiry, so it builds them."""


def runtime_for(
    store: DocStore, publisher: FakePublisher, clock: FakeClock, adapters: Adapters | None = None
) -> Runtime:
    return Runtime(
        service="bookings",
        settings=Settings.from_env(ENV),
        store=store,
        publisher=publisher,
        clock=clock,
        secrets=EnvSecretSource({"TOKEN_ENCRYPTION_KEYS": KEYS, "MANAGE_TOKEN_KEYS": MANAGE_KEYS, **OAUTH_CLIENTS}),
        adapters=adapters or Adapters(),
    )


class Harness:
    """The bookings app on a FakeDocStore, or on the store given (the Firestore emulator's, in integration)."""

    def __init__(self, now: datetime = NOW, store: DocStore | None = None) -> None:
        self.store: DocStore = store if store is not None else FakeDocStore()
        self.publisher = FakePublisher()
        self.clock = FakeClock(now)
        self.connections = FakeConnections()
        self.calendar = FakeGoogleCalendar()
        self.runtime = runtime_for(
            self.store, self.publisher, self.clock, Adapters(connections=self.connections, calendar=self.calendar)
        )
        assert booking_policy(self.runtime.settings) == POLICY
        self.uses = bookings_use_cases(self.runtime)
        self.service = self.uses.bookings
        self.app = build_app(self.runtime)
        self.client = Client(self.app)

    # ---- creators and offers --------------------------------------------------------------------------

    def creator(self, plan: str = "creator", timezone: str = "UTC", hours: Any = None) -> Creator:
        response = self.client.post(
            "/api/dev/creators", json={"email": "c@example.com", "name": "Cee", "plan": plan, "timezone": timezone}
        )
        assert response.status_code == 201, response.get_data(as_text=True)
        body = response.get_json()
        creator = Creator(body["creator_id"], body["token"])
        if plan != "free":
            set_hours = self.client.put(
                "/api/settings/availability",
                json={"timezone": timezone, "weekly_hours": MORNINGS if hours is None else hours},
                headers=creator.headers,
            )
            assert set_hours.status_code == 200, set_hours.get_data(as_text=True)
        return creator

    def offer(self, creator: Creator, duration: int = 30, price_cents: int = 0) -> str:
        response = self.client.post(
            "/api/offers",
            json={"title": f"{duration} min", "duration_minutes": duration, "price_cents": price_cents},
            headers=creator.headers,
        )
        assert response.status_code == 201, response.get_data(as_text=True)
        offer_id: str = response.get_json()["offer_id"]
        return offer_id

    # ---- fans -------------------------------------------------------------------------------------------

    def slots_response(self, creator_id: str, offer_id: str, first: str = MONDAY, last: str = MONDAY) -> TestResponse:
        return self.client.get(f"/api/public/creators/{creator_id}/offers/{offer_id}/slots?from={first}&to={last}")

    def slot_starts(self, creator_id: str, offer_id: str, first: str = MONDAY, last: str = MONDAY) -> list[str]:
        response = self.slots_response(creator_id, offer_id, first, last)
        assert response.status_code == 200, response.get_data(as_text=True)
        return [slot["start"] for slot in response.get_json()["slots"]]

    def book(self, offer_id: str, start: str, email: str = "fan@example.com") -> TestResponse:
        return self.client.post(
            "/api/public/bookings", json={"offer_id": offer_id, "start": start, "fan": {"name": "Fan", "email": email}}
        )

    def booked(self, offer_id: str, start: str) -> tuple[str, str]:
        """Book and return (booking_id, manage token)."""
        response = self.book(offer_id, start)
        assert response.status_code == 201, response.get_data(as_text=True)
        body = response.get_json()
        prefix = f"{BASE_URL}/manage/"
        assert body["manage_url"].startswith(prefix)
        return body["booking_id"], body["manage_url"][len(prefix) :]

    def doc(self, booking_id: str) -> dict[str, Any]:
        doc = self.store.get(BOOKINGS, booking_id)
        assert doc is not None
        return doc

    def events(self) -> list[dict[str, Any]]:
        return self.publisher.on("booking-events")


def error_of(response: TestResponse) -> dict[str, Any]:
    """The contract's error body: JSON {"error": {"code", "message"}} with a non-empty message."""
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert isinstance(error["code"], str)
    assert error["code"]
    assert isinstance(error["message"], str)
    assert error["message"]
    return error


def test_the_harness_creator_can_book_a_free_slot() -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    assert h.slot_starts(creator.creator_id, offer_id)[0] == at(9)
    booking_id, token = h.booked(offer_id, at(9))
    assert h.doc(booking_id)["status"] == "confirmed"
    assert token
