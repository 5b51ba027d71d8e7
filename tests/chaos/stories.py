"""What each booking of the chaos run goes through, and what it must end as."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import httpx

from tests.e2e.flo import Creator, Flo

CreatorKind = Literal["zoom", "google", "both", "neither"]
CREATOR_KINDS: tuple[CreatorKind, ...] = ("zoom", "google", "both", "neither")
Payment = Literal["free", "early", "late", "twice", "never"]
After = Literal["keep", "fan_reschedule", "fan_cancel", "creator_cancel", "reschedule_then_cancel"]
SLOT = timedelta(minutes=30)
ALL_DAY = {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
RETRYABLE = {502, 503, 504}
"""The gateway's answers while a service is down: a person would try again."""


@dataclass
class ChaosCreator:
    creator: Creator
    kind: CreatorKind
    free_offer: str
    paid_offer: str
    first_day: date
    _next_slot: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def providers(self) -> tuple[str, ...]:
        return {"zoom": ("zoom",), "google": ("google",), "both": ("zoom", "google"), "neither": ()}[self.kind]

    def new_slot(self) -> str:
        """A slot start nobody else of this run was given (30-minute steps of an all-day week)."""
        with self._lock:
            number, self._next_slot = self._next_slot, self._next_slot + 1
        start = datetime(self.first_day.year, self.first_day.month, self.first_day.day, tzinfo=UTC) + number * SLOT
        return start.isoformat()


@dataclass
class Story:
    """One booking's script and, as it runs, what the booking must end as."""

    number: int
    owner: ChaosCreator
    payment: Payment
    after: After
    race: bool
    booking_id: str | None = None
    manage_token: str | None = None
    fan_email: str = ""
    start: str | None = None
    status: str | None = None
    """What the store must say at the end: confirmed or cancelled (None: no booking was made)."""
    cancel_reason: str | None = None
    last_change: str | None = None
    """The change whose emails are owed at the end: confirmed, rescheduled, cancelled, or expired (none)."""
    notes: list[str] = field(default_factory=list)
    race_losers: int = 0
    race_winners: int = 0


def plan_stories(creators: list[ChaosCreator], count: int, rng: random.Random) -> list[Story]:
    """`count` bookings spread over the creators; a few are two fans racing for one slot."""
    stories = []
    for number in range(count):
        owner = creators[number % len(creators)]
        race = rng.random() < 0.05
        payment: Payment = "free" if race or rng.random() < 0.5 else rng.choice(("early", "late", "twice", "never"))
        after: After = rng.choices(
            ("keep", "fan_reschedule", "fan_cancel", "creator_cancel", "reschedule_then_cancel"), (45, 20, 15, 12, 8)
        )[0]
        stories.append(Story(number, owner, payment, "keep" if payment == "never" else after, race))
    return stories


class Driver:
    """Plays stories against the stack as fans and creators would, with a bounded number of requests at once."""

    def __init__(self, flo: Flo, concurrency: int, hold_seconds: float) -> None:
        self.flo = flo
        self._gate = threading.BoundedSemaphore(concurrency)
        self._hold_seconds = hold_seconds
        self._lock = threading.Lock()
        self.revisions: dict[str, int] = {}
        """booking id -> highest revision seen, for the republisher."""
        self.retried_requests = 0

    def known_revisions(self) -> list[tuple[str, int]]:
        with self._lock:
            return list(self.revisions.items())

    def _changed(self, story: Story) -> None:
        """The booking moved on by a revision (as far as the driver can tell)."""
        with self._lock:
            self.revisions[str(story.booking_id)] = self.revisions.get(str(story.booking_id), 0) + 1

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request; gateway 5xx (a service restarting) and transport errors are tried again."""
        for attempt in range(8):
            try:
                with self._gate:
                    answer = self.flo.http.request(method, path, **kwargs)
            except httpx.TransportError:
                answer = None
            if answer is not None and answer.status_code not in RETRYABLE:
                return answer
            with self._lock:
                self.retried_requests += 1
            time.sleep(1 + attempt)
        raise RuntimeError(f"{method} {path} kept failing")

    # ---- the steps ---------------------------------------------------------------------------------------

    def play(self, story: Story, rng: random.Random) -> None:
        try:
            self._play(story, rng)
        except Exception as exc:  # a story that could not finish is reported, never hidden
            story.notes.append(f"driver error: {type(exc).__name__}: {exc}")

    def _play(self, story: Story, rng: random.Random) -> None:
        owner = story.owner
        offer = owner.free_offer if story.payment == "free" else owner.paid_offer
        start = owner.new_slot()
        booked = self._race(story, offer, start) if story.race else self._book(story, offer, start)
        if booked is None:
            return
        if story.payment == "free":
            self._confirmed(story, "confirmed")
        elif not self._pay(story, rng):
            return
        time.sleep(rng.uniform(0.5, 6))
        if story.after in ("fan_reschedule", "reschedule_then_cancel"):
            self._reschedule(story)
            time.sleep(rng.uniform(0.5, 4))
        if story.after in ("fan_cancel", "reschedule_then_cancel"):
            self._cancel(story, lambda: self.request("POST", f"/api/manage/{story.manage_token}/cancel"))
        elif story.after == "creator_cancel":
            path = f"/api/bookings/{story.booking_id}/cancel"
            self._cancel(story, lambda: self.request("POST", path, headers=Flo.auth(owner.creator)))

    def _fan(self) -> dict[str, str]:
        return {"name": "Frankie Fan", "email": f"fan-{uuid.uuid4().hex[:10]}@example.com"}

    def _book(self, story: Story, offer: str, start: str) -> httpx.Response | None:
        fan = self._fan()
        answer = self.request("POST", "/api/public/bookings", json={"offer_id": offer, "start": start, "fan": fan})
        if answer.status_code != 201:
            story.notes.append(f"booking answered {answer.status_code}: {answer.text[:200]}")
            return None
        self._accept(story, answer, fan, start)
        return answer

    def _race(self, story: Story, offer: str, start: str) -> httpx.Response | None:
        """Two fans book the same slot at once: exactly one may get it."""
        fans = [self._fan(), self._fan()]
        answers: list[httpx.Response | None] = [None, None]

        def one(index: int) -> None:
            body = {"offer_id": offer, "start": start, "fan": fans[index]}
            answers[index] = self.request("POST", "/api/public/bookings", json=body)

        threads = [threading.Thread(target=one, args=(index,)) for index in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        won = [index for index, answer in enumerate(answers) if answer is not None and answer.status_code == 201]
        story.race_winners = len(won)
        story.race_losers = sum(1 for answer in answers if answer is not None and answer.status_code == 409)
        for index in won[1:]:  # a second winner is a double booking: the store check counts it
            story.notes.append(f"race: second 201 for {start}: {answers[index]}")
        if not won:
            story.notes.append("race: nobody got the slot")
            return None
        answer = answers[won[0]]
        assert answer is not None
        self._accept(story, answer, fans[won[0]], start)
        return answer

    def _accept(self, story: Story, answer: httpx.Response, fan: dict[str, str], start: str) -> None:
        body = answer.json()
        story.booking_id, story.fan_email, story.start = body["booking_id"], fan["email"], start
        story.manage_token = str(body["manage_url"]).rsplit("/", 1)[-1]
        self._changed(story)

    def _confirmed(self, story: Story, change: str) -> None:
        story.status, story.last_change, story.cancel_reason = "confirmed", change, None

    def _view(self, story: Story) -> dict[str, Any]:
        answer = self.request("GET", f"/api/manage/{story.manage_token}")
        answer.raise_for_status()
        view: dict[str, Any] = answer.json()
        return view

    def _wait_status(self, story: Story, wanted: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._view(story)["status"] == wanted:
                return True
            time.sleep(2)
        return False

    def _pay(self, story: Story, rng: random.Random) -> bool:
        """Flo Payments' confirmation: soon, twice, after the hold ran out, or never."""
        pay = f"/api/dev/payments/{story.booking_id}/succeed"
        if story.payment == "never":
            story.status, story.cancel_reason, story.last_change = "cancelled", "payment_timeout", "expired"
            return False
        if story.payment == "late" and rng.random() < 0.5:
            time.sleep(self._hold_seconds + rng.uniform(-3, 3))  # just as the hold runs out: the sweep races it
            self.request("POST", pay)
        elif story.payment == "late":
            if not self._wait_status(story, "cancelled", timeout=self._hold_seconds + 120):
                story.notes.append("late payment: the hold never ran out")
            self._changed(story)
            self.request("POST", pay)  # after the hold was released: the booking takes its still-free slot again
        elif story.payment == "twice":
            time.sleep(rng.uniform(0, 2))
            self.request("POST", pay)
            time.sleep(rng.uniform(0, 3))
            self.request("POST", pay)
        else:
            time.sleep(rng.uniform(0, 3))
            self.request("POST", pay)
        self._changed(story)
        self._confirmed(story, "confirmed")  # a payment that succeeded means a confirmed booking: the story's end
        if not self._wait_status(story, "confirmed", timeout=150):
            story.notes.append("payment succeeded but the booking is not confirmed")
            return False
        return True

    def _reschedule(self, story: Story) -> None:
        start = story.owner.new_slot()
        for _ in range(5):
            answer = self.request("POST", f"/api/manage/{story.manage_token}/reschedule", json={"start": start})
            if answer.status_code == 200:
                self._changed(story)
                story.start = start
                self._confirmed(story, "rescheduled")
                return
            if "booking_changed" not in answer.text:
                story.notes.append(f"reschedule answered {answer.status_code}: {answer.text[:200]}")
                return
            time.sleep(1)

    def _cancel(self, story: Story, send: Callable[[], httpx.Response]) -> None:
        for _ in range(5):
            answer = send()
            if answer.status_code == 200:
                self._changed(story)
                story.status, story.last_change, story.cancel_reason = "cancelled", "cancelled", None
                return
            if "booking_changed" not in answer.text:
                story.notes.append(f"cancel answered {answer.status_code}: {answer.text[:200]}")
                return
            time.sleep(1)
