"""The faults of the chaos run, each through the switch its part of the local stack offers."""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from devstack.sandbox.client import SandboxControl
from devstack.stack_process import RunningStack

PER_SECOND_LIMIT = {"code": 429, "message": "You have reached the maximum per-second rate limit for this API."}
PROVIDER_API_PATHS = {"zoom": r"^/zoom/v2/", "google": r"^/google/calendar/v3/"}
TOKEN_PATHS = {"zoom": r"^/zoom/oauth/token$", "google": r"^/google/token$"}


def provider_faults(sandbox: SandboxControl, rate: float) -> None:
    """`rate` of provider API calls fail, split between 5xx, timeouts, lost answers and 429 with and without
    Retry-After; token refreshes fail at the same rate with 503s.

    The sandbox compares one roll per call with each matching fault in order, so cumulative
    probabilities split the share between the kinds.
    """
    kinds: list[dict[str, Any]] = [
        {"status": 503, "body": {"code": 503, "message": "Service unavailable"}},
        {"status": 500, "body": {"code": 500, "message": "Internal error"}},
        {"timeout_seconds": 2.0, "timeout_action": "504"},
        {"timeout_seconds": 1.0, "timeout_action": "drop", "after_call": True},
        {"status": 429, "body": PER_SECOND_LIMIT, "headers": {"Retry-After": "1"}},
        {"status": 429, "body": PER_SECOND_LIMIT},
    ]
    for provider, path in PROVIDER_API_PATHS.items():
        for number, kind in enumerate(kinds, start=1):
            sandbox.add_fault(provider, path, probability=rate * number / len(kinds), **kind)  # type: ignore[arg-type]
    for provider, path in TOKEN_PATHS.items():
        sandbox.add_fault(provider, path, status=503, body={"error": "temporarily_unavailable"}, probability=rate)  # type: ignore[arg-type]


def smtp_refusals(mail: httpx.Client, fraction: float, seconds: float) -> None:
    """The mail sink answers 451 to `fraction` of messages for `seconds`."""
    answer = mail.post("/faults", json={"refuse_fraction": fraction, "seconds": seconds})
    answer.raise_for_status()


def smtp_refused(mail: httpx.Client) -> int:
    refused: int = mail.get("/faults").json()["refused"]
    return refused


RESTART_WAIT_SECONDS = 90
"""How long a killed service may take to come back (seconds on a quiet machine, far more on a loaded one)."""


@dataclass
class Killer:
    """SIGKILLs a worker service every `every` seconds while the load runs; the stack starts it again."""

    stack: RunningStack
    services: tuple[str, ...]
    times: int
    every: float
    kills: list[str] = field(default_factory=list)
    restarts_seen: int = 0

    def run(self, running: Callable[[], bool]) -> None:
        for number in range(self.times):
            deadline = time.monotonic() + self.every
            while time.monotonic() < deadline:
                time.sleep(0.5)
            if not running():
                return
            service = self.services[number % len(self.services)]
            before = self.stack.restarts().get(service, 0)
            if not self._kill(service):
                continue
            self.kills.append(service)
            wait_until = time.monotonic() + RESTART_WAIT_SECONDS
            while self.stack.restarts().get(service, 0) == before and time.monotonic() < wait_until:
                time.sleep(0.2)

    def _kill(self, service: str) -> bool:
        """SIGKILL the service's whole instance, mid-flight; on a loaded machine its last restart may still be
        under way (no process yet behind the recorded id): then wait for the new one."""
        deadline = time.monotonic() + RESTART_WAIT_SECONDS
        while time.monotonic() < deadline:
            try:
                os.killpg(self.stack.service_pid(service), signal.SIGKILL)
                return True
            except ProcessLookupError:
                time.sleep(1)
        return False

    def restarts(self) -> int:
        return sum(self.stack.restarts().values())


class Republisher:
    """Outbox republish: booking events for revisions already sent, published again, late and out of order."""

    def __init__(self, project_id: str, known: Callable[[], list[tuple[str, int]]], seed: int) -> None:
        from google.cloud.pubsub_v1 import PublisherClient

        self._publisher = PublisherClient()
        self._topic = self._publisher.topic_path(project_id, "booking-events")
        self._known = known
        self._random = random.Random(seed)
        self.sent = 0
        self.failed = 0
        self.stopping = threading.Event()

    def run(self, every: float) -> None:
        while not self.stopping.wait(every):
            known = self._known()
            if not known:
                continue
            booking_id, latest = self._random.choice(known)
            revision = self._random.randint(1, latest)
            body = {"type": "booking.changed", "booking_id": booking_id, "revision": revision}
            try:
                self._publisher.publish(self._topic, json.dumps(body).encode()).result(timeout=30)
            except Exception:  # an emulator slow under load: this republish is skipped, the next one tried
                self.failed += 1
                continue
            self.sent += 1
