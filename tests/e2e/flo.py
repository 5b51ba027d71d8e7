"""A small client for e2e tests: the public HTTP API, the sandbox's control API and the mail sink."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email import message_from_string, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx
from google.api_core.exceptions import DeadlineExceeded
from google.cloud import firestore
from google.cloud.pubsub_v1 import SubscriberClient

from devstack.sandbox.client import SandboxControl, authorize
from shared.store.firestore import FirestoreDocStore

T = TypeVar("T")
WEEKDAYS_9_TO_17 = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


@dataclass
class StackInfo:
    base_url: str
    sandbox_url: str
    mail_url: str
    services: dict[str, str]
    zoom_webhook_secret: str
    log: Path
    firestore_emulator: str
    pubsub_emulator: str
    project_id: str
    demo: dict[str, str] = field(default_factory=dict)
    exit_code: int | None = field(default=None)

    @classmethod
    def from_json(cls, data: dict[str, Any], log: Path) -> StackInfo:
        return cls(
            data["base_url"],
            data["provider_sandbox_url"],
            data["mail_sink_url"],
            data["services"],
            data["zoom_webhook_secret"],
            log,
            data["firestore_emulator"],
            data["pubsub_emulator"],
            data["project_id"],
            dict(data.get("demo", {})),
        )


@dataclass
class Creator:
    creator_id: str
    token: str
    email: str
    timezone: str


def eventually(check: Callable[[], T | None], timeout: float = 30, every: float = 0.25, what: str = "") -> T:
    """Poll until check() gives a truthy value: the stack works asynchronously, through Pub/Sub."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what or check.__name__}; last value {last!r}")


class Flo:
    def __init__(self, stack: StackInfo) -> None:
        self.stack = stack
        self.http = httpx.Client(base_url=stack.base_url, timeout=30, follow_redirects=False)
        self.sandbox = SandboxControl(stack.sandbox_url)
        self.mail = httpx.Client(base_url=stack.mail_url, timeout=10)

    def close(self) -> None:
        self.http.close()
        self.mail.close()
        self.sandbox.close()

    # ---- creators --------------------------------------------------------------------------------------

    def creator(
        self, plan: str = "creator", timezone: str = "Europe/London", hours: dict[str, Any] | None = None
    ) -> Creator:
        email = f"creator-{uuid.uuid4().hex[:8]}@example.com"
        r = self.http.post(
            "/api/dev/creators", json={"email": email, "name": "Casey Creator", "plan": plan, "timezone": timezone}
        )
        assert r.status_code == 201, r.text
        creator = Creator(r.json()["creator_id"], r.json()["token"], email, timezone)
        if plan != "free":
            r = self.http.put(
                "/api/settings/availability",
                headers=self.auth(creator),
                json={"timezone": timezone, "weekly_hours": hours or WEEKDAYS_9_TO_17},
            )
            assert r.status_code == 200, r.text
        return creator

    @staticmethod
    def auth(creator: Creator) -> dict[str, str]:
        return {"Authorization": f"Bearer {creator.token}"}

    def offer(self, creator: Creator, duration: int = 30, price_cents: int = 0, title: str = "Coaching") -> str:
        r = self.http.post(
            "/api/offers",
            headers=self.auth(creator),
            json={"title": title, "duration_minutes": duration, "price_cents": price_cents},
        )
        assert r.status_code == 201, r.text
        return str(r.json()["offer_id"])

    def slots(self, creator: Creator, offer_id: str, first: date, last: date) -> dict[str, Any]:
        r = self.http.get(
            f"/api/public/creators/{creator.creator_id}/offers/{offer_id}/slots",
            params={"from": first.isoformat(), "to": last.isoformat()},
        )
        assert r.status_code == 200, r.text
        return dict(r.json())

    def first_slot(self, creator: Creator, offer_id: str, days_ahead: int = 3, index: int = 0) -> str:
        day = date.today() + timedelta(days=days_ahead)
        found = self.slots(creator, offer_id, day, day + timedelta(days=1))["slots"]
        return str(found[index]["start"])

    def book(self, offer_id: str, start: str, fan_email: str | None = None) -> dict[str, Any]:
        fan = {"name": "Frankie Fan", "email": fan_email or f"fan-{uuid.uuid4().hex[:8]}@example.com"}
        r = self.http.post("/api/public/bookings", json={"offer_id": offer_id, "start": start, "fan": fan})
        assert r.status_code == 201, r.text
        return {**r.json(), "fan": fan}

    def manage_token(self, booking: dict[str, Any]) -> str:
        return str(booking["manage_url"]).rsplit("/", 1)[-1]

    def bookings(self, creator: Creator, scope: str = "upcoming") -> dict[str, dict[str, Any]]:
        r = self.http.get("/api/bookings", params={"scope": scope}, headers=self.auth(creator))
        assert r.status_code == 200, r.text
        return {b["id"]: b for b in r.json()["bookings"]}

    def booking(self, creator: Creator, booking_id: str) -> dict[str, Any]:
        return self.bookings(creator)[booking_id]

    def settled(self, creator: Creator, booking_id: str, timeout: float = 40) -> dict[str, Any]:
        """The booking once its link is no longer pending."""
        return eventually(
            lambda: b if (b := self.booking(creator, booking_id))["link_status"] != "pending" else None,
            timeout=timeout,
            what=f"link of booking {booking_id}",
        )

    def slot_starts(self, creator: Creator, offer_id: str, count: int, days_ahead: int = 3) -> list[str]:
        """`count` distinct free slot starts from days_ahead on (more days as needed)."""
        first = date.today() + timedelta(days=days_ahead)
        found = self.slots(creator, offer_id, first, first + timedelta(days=max(1, count // 8 + 1)))["slots"]
        assert len(found) >= count, f"only {len(found)} free slots"
        return [str(s["start"]) for s in found[:count]]

    def reschedule(self, booking: dict[str, Any], start: str) -> httpx.Response:
        return self.http.post(f"/api/manage/{self.manage_token(booking)}/reschedule", json={"start": start})

    def fan_cancel(self, booking: dict[str, Any]) -> httpx.Response:
        return self.http.post(f"/api/manage/{self.manage_token(booking)}/cancel")

    def creator_cancel(self, creator: Creator, booking_id: str) -> httpx.Response:
        return self.http.post(f"/api/bookings/{booking_id}/cancel", headers=self.auth(creator))

    def pay(self, booking_id: str) -> httpx.Response:
        return self.http.post(f"/api/dev/payments/{booking_id}/succeed")

    def notices(self, creator: Creator) -> list[dict[str, Any]]:
        r = self.http.get("/api/notices", headers=self.auth(creator))
        assert r.status_code == 200, r.text
        return list(r.json()["notices"])

    def dismiss(self, creator: Creator, notice_id: str) -> httpx.Response:
        return self.http.post(f"/api/notices/{notice_id}/dismiss", headers=self.auth(creator))

    def any_booking(self, creator: Creator, booking_id: str) -> dict[str, Any]:
        """The booking whether upcoming or past."""
        found = {**self.bookings(creator, "past"), **self.bookings(creator, "upcoming")}
        return found[booking_id]

    # ---- provider side (the sandbox) -------------------------------------------------------------------

    def zoom_meetings(self, creator: Creator) -> list[dict[str, Any]]:
        """Live Zoom meetings hosted by the creator's Zoom user."""
        return self.sandbox.zoom_meetings(creator.email).get(creator.email, [])

    def google_events(self, creator: Creator) -> list[dict[str, Any]]:
        """Non-cancelled events on the creator's Google calendar."""
        return self.sandbox.google_events(creator.email).get(creator.email.lower(), [])

    def meeting_for(self, creator: Creator, join_url: str) -> dict[str, Any] | None:
        return next((m for m in self.zoom_meetings(creator) if m.get("join_url") == join_url), None)

    # ---- integrations ----------------------------------------------------------------------------------

    def connect(
        self,
        creator: Creator,
        provider: str,
        decision: Literal["allow", "deny"] = "allow",
        granted_scopes: list[str] | None = None,
    ) -> httpx.Response:
        """Run the whole OAuth connect flow through the sandbox's consent page; returns the callback response."""
        if provider == "zoom":
            self.sandbox.create_zoom_user(creator.email)  # get-or-create: a reconnect reuses the same user
        r = self.http.post(f"/api/integrations/{provider}/connect", headers=self.auth(creator))
        assert r.status_code == 200, r.text
        location = authorize(r.json()["authorize_url"], creator.email, decision, granted_scopes)
        parts = urlsplit(location)
        return self.http.get(f"{parts.path}?{parts.query}")

    def connected(self, creator: Creator, *providers: str) -> None:
        """Connect each provider (consent allowed) and check that its tile says connected."""
        for provider in providers:
            result = callback_result(self.connect(creator, provider))
            assert result.get("connected") == [provider], result
            assert self.integrations(creator)[provider]["status"] == "connected"

    def tile(self, creator: Creator, provider: str) -> dict[str, Any]:
        return dict(self.integrations(creator)[provider])

    def disconnect(self, creator: Creator, provider: str) -> httpx.Response:
        return self.http.post(f"/api/integrations/{provider}/disconnect", headers=self.auth(creator))

    def integrations(self, creator: Creator) -> dict[str, Any]:
        r = self.http.get("/api/integrations", headers=self.auth(creator))
        assert r.status_code == 200, r.text
        return dict(r.json())

    # ---- mail ------------------------------------------------------------------------------------------

    def hold_mail(self, *addresses: str) -> None:
        """The mail sink refuses mail to these addresses (a 4xx: the sender retries) until released."""
        for address in addresses:
            assert self.mail.put(f"/held/{address}").status_code == 204

    def release_mail(self, *addresses: str) -> None:
        for address in addresses:
            assert self.mail.delete(f"/held/{address}").status_code == 204

    def mail_policy(self, refuse: str | None = None, *, smtputf8: bool = True) -> None:
        """Make the mail sink refuse addresses matching `refuse` (550) or stop offering SMTPUTF8."""
        r = self.mail.put("/policy", json={"refuse": refuse, "smtputf8": smtputf8})
        assert r.status_code == 200, r.text

    def emails(self, booking_id: str | None = None, kind: str | None = None) -> list[EmailMessage]:
        found = []
        for item in self.mail.get("/messages").json():
            raw = self.mail.get(f"/messages/{item['id']}/raw").text
            message = message_from_string(raw, policy=policy.default)
            assert isinstance(message, EmailMessage)
            if booking_id and message["X-Flo-Booking-Id"] != booking_id:
                continue
            if kind and message["X-Flo-Email-Kind"] != kind:
                continue
            found.append(message)
        return found


def callback_result(response: httpx.Response) -> dict[str, list[str]]:
    assert response.status_code == 302, response.text
    return parse_qs(urlsplit(response.headers["Location"]).query)


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def event_start(event: dict[str, Any]) -> datetime:
    """A Google Calendar event's start as a UTC instant, whether the sandbox wrote an offset or a zone."""
    when = event["start"]
    start = datetime.fromisoformat(when["dateTime"].replace("Z", "+00:00"))
    if start.tzinfo is None:
        start = start.replace(tzinfo=ZoneInfo(when["timeZone"]))
    return start.astimezone(UTC)


# ---- the stack's emulators, for what no public route can do -----------------------------------------------


@contextmanager
def _emulator_env(name: str, host_port: str) -> Iterator[None]:
    """The official clients find an emulator through the environment when they are built; only then."""
    saved = os.environ.get(name)
    os.environ[name] = host_port
    try:
        yield
    finally:
        if saved is None:
            del os.environ[name]
        else:
            os.environ[name] = saved


def stack_store(stack: StackInfo) -> FirestoreDocStore:
    """The stack's Firestore, to store what the door refuses today but older bookings may still hold."""
    with _emulator_env("FIRESTORE_EMULATOR_HOST", stack.firestore_emulator):
        return FirestoreDocStore(stack.project_id, firestore.Client(project=stack.project_id))


class TopicReader:
    """A pull subscription on one of the stack's topics, as the system on the other end would have."""

    def __init__(self, stack: StackInfo, topic: str) -> None:
        with _emulator_env("PUBSUB_EMULATOR_HOST", stack.pubsub_emulator):
            self._client = SubscriberClient()
        self._name = self._client.subscription_path(stack.project_id, f"e2e-{topic}-{uuid.uuid4().hex[:8]}")
        self._client.create_subscription(name=self._name, topic=f"projects/{stack.project_id}/topics/{topic}")

    def messages(self) -> list[dict[str, Any]]:
        """What was published since the subscription was made (and not read yet)."""
        try:
            answer = self._client.pull(subscription=self._name, max_messages=50, timeout=2)
        except DeadlineExceeded:  # nothing published yet
            return []
        if answer.received_messages:
            self._client.acknowledge(subscription=self._name, ack_ids=[m.ack_id for m in answer.received_messages])
        return [json.loads(m.message.data) for m in answer.received_messages]

    def close(self) -> None:
        self._client.delete_subscription(subscription=self._name)
        self._client.close()
