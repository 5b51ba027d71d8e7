"""What one booking's whole life costs: Firestore reads, writes and transactions, Pub/Sub publishes and
deliveries, and provider calls, counted at the ports.

Every service runs in process with the composition root's wiring over one in-memory store: the store,
publisher and provider ports are wrapped with counters, and every published message is pushed to each
push subscription of its topic (from shared/topology.yaml), as Pub/Sub would. The creator has Zoom and
Google Calendar connected (the real connection repository, tokens sealed in the store). The life: a fan
books, the link is made and the confirmation and creator notification go, the fan reschedules (the
meeting moves and both updates go), the two reminders go on the scheduler's ticks, then the fan
cancels. Idle scheduler ticks (one every 5 minutes, nothing due) are counted apart: they are the
system's, not one booking's. Reads count one per document returned (at least one per query), as
Firestore bills them. Run: .venv/bin/python -m bench.booking_cost
"""

from __future__ import annotations

import base64
import itertools
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from werkzeug.test import Client

from services.bookings.app import build_app as bookings_app
from services.meetings.app import build_app as meetings_app
from services.notify.app import build_app as notify_app
from services.reminders.app import build_app as reminders_app
from shared.bookings.model import BOOKINGS
from shared.bootstrap import Adapters, Runtime
from shared.config import Settings
from shared.connections.repository import DocStoreConnections
from shared.providers.models import TokenSet, ZoomUser
from shared.providers.oauth import GOOGLE_SCOPES
from shared.secrets import EnvSecretSource
from shared.store.port import Doc, DocStore, Txn, Write
from shared.topology import load_topology
from shared.vault import Vault
from tests.fakes.bus import FakePublisher
from tests.fakes.clock import FakeClock
from tests.fakes.mail import FakeMailSender
from tests.fakes.providers import FakeGoogleCalendar, FakeZoom, fake_oauth_providers
from tests.fakes.pubsub import encode_push
from tests.fakes.store import DelegatingStore, FakeDocStore

T = TypeVar("T")
KEYS = "v1:" + base64.urlsafe_b64encode(bytes(range(32))).decode().rstrip("=")
MANAGE_KEYS = "m1:" + base64.urlsafe_b64encode(bytes(range(64, 96))).decode().rstrip("=")
ENV = {
    "FLO_ENV": "local",
    "FLO_BASE_URL": "http://flo.test",
    "GOOGLE_CLOUD_PROJECT": "flo-bench",
    "MAIL_FROM": "Flo <sessions@flo.test>",
}
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
MORNINGS = {day: [["09:00", "12:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
COLUMNS = ("doc reads", "doc writes", "txns", "commits", "publishes", "deliveries", "zoom", "google", "oauth", "emails")


@dataclass
class Counts:
    """Everything counted at the ports, by column name."""

    by: Counter[str] = field(default_factory=Counter)

    def add(self, column: str, n: int = 1) -> None:
        self.by[column] += n


class _CountingTxn:
    def __init__(self, txn: Txn, counts: Counts) -> None:
        self._txn = txn
        self._counts = counts

    def get(self, collection: str, doc_id: str) -> Doc | None:
        self._counts.add("doc reads")
        return self._txn.get(collection, doc_id)

    def write(self, write: Write) -> None:
        self._counts.add("doc writes")
        self._txn.write(write)


class CountingStore(DelegatingStore):
    """The DocStore port, counting what Firestore would bill and round trips."""

    def __init__(self, inner: DocStore, counts: Counts) -> None:
        super().__init__(inner)
        self._counts = counts

    def get(self, collection: str, doc_id: str) -> Doc | None:
        self._counts.add("doc reads")
        return super().get(collection, doc_id)

    def query(self, collection: str, *args: Any, **options: Any) -> list[tuple[str, Doc]]:
        rows = super().query(collection, *args, **options)
        self._counts.add("doc reads", max(1, len(rows)))
        return rows

    def commit(self, writes: Sequence[Write]) -> None:
        self._counts.add("commits")
        self._counts.add("doc writes", len(writes))
        super().commit(writes)

    def transaction(self, fn: Callable[[Txn], T]) -> T:
        self._counts.add("txns")
        return super().transaction(lambda txn: fn(_CountingTxn(txn, self._counts)))


class CountingPublisher:
    """The Publisher port: counts publishes and queues each message for delivery."""

    def __init__(self, counts: Counts) -> None:
        self._inner = FakePublisher()
        self._counts = counts
        self.queue: list[tuple[str, dict[str, Any]]] = []

    def publish(self, topic: str, data: Mapping[str, Any]) -> str:
        self._counts.add("publishes")
        self.queue.append((topic, dict(data)))
        return self._inner.publish(topic, data)


class System:
    """Every service wired by the composition root over the same counted ports."""

    def __init__(self) -> None:
        self.counts = Counts()
        self.clock = FakeClock(NOW)
        self.store = CountingStore(FakeDocStore(), self.counts)
        self.publisher = CountingPublisher(self.counts)
        self.zoom = FakeZoom(ZoomUser(id="zoom-user-1", email="host@zoom.example", timezone="UTC"))
        self.calendar = FakeGoogleCalendar()
        self.oauth = fake_oauth_providers(self.clock)
        self.mail = FakeMailSender()
        self.connections = DocStoreConnections(self.store, Vault(KEYS), self.oauth, self.clock)
        adapters = Adapters(
            oauth=self.oauth,
            zoom=self.zoom,
            calendar=self.calendar,
            connection_repository=self.connections,
            mail=self.mail,
        )
        secrets = EnvSecretSource(
            {"TOKEN_ENCRYPTION_KEYS": KEYS, "MANAGE_TOKEN_KEYS": MANAGE_KEYS, "OAUTH_STATE_SECRET": "s" * 32}
        )
        builders = {
            "bookings": bookings_app,
            "meetings": meetings_app,
            "notify": notify_app,
            "reminders": reminders_app,
        }
        self.apps = {
            name: Client(
                build(Runtime(name, Settings.from_env(ENV), self.store, self.publisher, self.clock, secrets, adapters))
            )
            for name, build in builders.items()
        }
        self._message_ids = itertools.count(1)

    # ---- what Pub/Sub and Cloud Scheduler do ---------------------------------------------------------------

    def deliver_all(self) -> None:
        """Push every queued message to each subscription of its topic until none is left; a non-2xx is redelivered."""
        subscriptions = load_topology().subscriptions
        for _ in range(100):
            if not self.publisher.queue:
                return
            topic, data = self.publisher.queue.pop(0)
            for sub in (s for s in subscriptions if s.topic == topic):
                envelope = encode_push(data, str(next(self._message_ids)), sub.name)
                self.counts.add("deliveries")
                response = self.apps[sub.service].post(sub.path, json=envelope)
                if response.status_code >= 300:
                    self.publisher.queue.append((topic, data))
        raise RuntimeError("deliveries never settled")

    def tick(self) -> None:
        response = self.apps["reminders"].post("/tasks/reminders")
        assert response.status_code == 200, response.get_data(as_text=True)
        self.deliver_all()

    def calls(self) -> dict[str, int]:
        return {
            "zoom": len(self.zoom.calls),
            "google": len(self.calendar.calls),
            "oauth": sum(len(p.calls) for p in self.oauth.values()),
            "emails": len(self.mail.sent),
        }

    def snapshot(self) -> Counter[str]:
        return Counter({**self.counts.by, **self.calls()})

    # ---- the creator, set up before counting -----------------------------------------------------------------

    def creator(self) -> tuple[str, dict[str, str], str]:
        bookings = self.apps["bookings"]
        made = bookings.post(
            "/api/dev/creators", json={"email": "c@example.com", "name": "Cee", "plan": "creator", "timezone": "UTC"}
        ).get_json()
        headers = {"Authorization": f"Bearer {made['token']}"}
        bookings.put("/api/settings/availability", json={"timezone": "UTC", "weekly_hours": MORNINGS}, headers=headers)
        offer = bookings.post(
            "/api/offers", json={"title": "Coaching", "duration_minutes": 30, "price_cents": 0}, headers=headers
        ).get_json()
        later = self.clock.now() + timedelta(days=30)
        self.connections.save(
            made["creator_id"],
            "zoom",
            TokenSet("zoom-access", "zoom-refresh", later, frozenset()),
            "host@zoom.example",
            zoom_user_id="zoom-user-1",
        )
        self.connections.save(
            made["creator_id"],
            "google",
            TokenSet("google-access", "google-refresh", later, GOOGLE_SCOPES),
            "creator@gmail.example",
        )
        return made["creator_id"], headers, offer["offer_id"]


def life(system: System) -> list[tuple[str, Counter[str]]]:
    """Run one booking's life; the counts of each step."""
    _, _, offer_id = system.creator()
    steps: list[tuple[str, Counter[str]]] = []
    bookings = system.apps["bookings"]
    before = system.snapshot()

    def step(name: str) -> None:
        nonlocal before
        now = system.snapshot()
        steps.append((name, now - before))
        before = now

    fan = {"name": "Ada", "email": "ada@example.com"}
    made = bookings.post(
        "/api/public/bookings", json={"offer_id": offer_id, "start": "2026-03-04T10:00:00+00:00", "fan": fan}
    )
    assert made.status_code == 201, made.get_data(as_text=True)
    booking_id, token = made.get_json()["booking_id"], made.get_json()["manage_url"].rsplit("/", 1)[-1]
    step("book (POST /api/public/bookings)")
    system.deliver_all()
    step("link + confirmation + notification")
    assert _doc(system, booking_id)["link_status"] == "ready"

    moved = bookings.post(f"/api/manage/{token}/reschedule", json={"start": "2026-03-05T10:00:00+00:00"})
    assert moved.status_code == 200, moved.get_data(as_text=True)
    step("reschedule (POST)")
    system.deliver_all()
    step("meeting moved + both updates")

    for name in ("reminder 24h (tick)", "reminder 1h (tick)"):
        due = _doc(system, booking_id)["next_reminder_at"]
        system.clock.advance(due - system.clock.now())
        system.tick()
        step(name)

    cancelled = bookings.post(f"/api/manage/{token}/cancel")
    assert cancelled.status_code == 200, cancelled.get_data(as_text=True)
    step("cancel (POST)")
    system.deliver_all()
    step("meeting deleted + cancellations")
    system.clock.advance(timedelta(minutes=5))
    system.tick()
    step("next tick (outbox, sweeps)")
    return steps


def _doc(system: System, booking_id: str) -> Doc:
    doc = system.store.get(BOOKINGS, booking_id)
    assert doc is not None
    return doc


def idle_tick() -> Counter[str]:
    """What one scheduler tick costs with nothing due."""
    system = System()
    system.creator()
    before = system.snapshot()
    system.tick()
    return system.snapshot() - before


def main() -> None:
    system = System()
    steps = life(system)
    width = max(len(name) for name, _ in steps) + 2
    print("step".ljust(width) + "".join(f"{c:>11}" for c in COLUMNS))
    total: Counter[str] = Counter()
    for name, counts in steps:
        total.update(counts)
        print(name.ljust(width) + "".join(f"{counts[c]:>11}" for c in COLUMNS))
    print("whole life".ljust(width) + "".join(f"{total[c]:>11}" for c in COLUMNS))
    idle = idle_tick()
    print("idle tick (every 5 min)".ljust(width) + "".join(f"{idle[c]:>11}" for c in COLUMNS))
    print(f"emails: {', '.join(str(message['Subject']) for message in system.mail.sent)}")


if __name__ == "__main__":
    main()
