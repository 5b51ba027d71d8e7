"""The push relay on the Pub/Sub emulator: many deliveries in flight per subscription (the emulator's own push
keeps two), the push envelope, acks on 2xx, and a refused message coming back after its backoff."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from google.cloud.pubsub_v1 import PublisherClient
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from devstack.pubsub_setup import ensure_topology
from devstack.pushrelay import PushRelay, backoff_seconds, concurrency_from_env
from shared.topology import RetryPolicy, Subscription, Topology

RETRY = RetryPolicy(
    minimum_backoff_seconds=1, maximum_backoff_seconds=4, max_delivery_attempts=5, ack_deadline_seconds=20
)


class _Worker:
    """A push endpoint that takes `seconds` per message, refuses the first delivery of `refuse_first`, and keeps
    what it saw."""

    def __init__(self, seconds: float, refuse_first: set[str] | None = None) -> None:
        self.seconds = seconds
        self.refuse_first = refuse_first or set()
        self.bodies: list[dict[str, Any]] = []
        self.answered_at: dict[str, list[float]] = {}
        self.in_flight = 0
        self.peak = 0
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = json.loads(Request(environ).get_data())
        key = json.loads(base64.b64decode(body["message"]["data"]))["key"]
        with self._lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            self.bodies.append(body)
        time.sleep(self.seconds)
        with self._lock:
            self.in_flight -= 1
            seen = self.answered_at.setdefault(key, [])
            seen.append(time.monotonic())
            refused = key in self.refuse_first and len(seen) == 1
        return Response(status=503 if refused else 204)(environ, start_response)


@contextmanager
def _relay_for(emulators: dict[str, str], worker: _Worker, concurrency: int) -> Iterator[tuple[PublisherClient, str]]:
    server = make_server("127.0.0.1", 0, worker, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    name = f"relay-{uuid.uuid4().hex[:8]}"
    subscription = Subscription(f"{name}-sub", name, "worker", "/pubsub/test")
    topology = Topology((), (), (name,), (subscription,), (), RETRY)
    project = emulators["project_id"]
    url = f"http://127.0.0.1:{server.server_port}"
    ensure_topology(project, topology, lambda _service: url, push=False)
    relay = PushRelay(project, topology, lambda _service: url, concurrency)
    relay.start()
    publisher = PublisherClient()
    try:
        yield publisher, publisher.topic_path(project, name)
    finally:
        relay.stop()
        server.shutdown()


@pytest.fixture
def wait_until() -> Callable[[Callable[[], bool], float], None]:
    def wait(done: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, "timed out"
            time.sleep(0.05)

    return wait


def test_a_burst_is_delivered_many_at_a_time_in_the_push_envelope(
    emulators: dict[str, str], wait_until: Callable[[Callable[[], bool], float], None]
) -> None:
    worker = _Worker(seconds=0.3)
    with _relay_for(emulators, worker, concurrency=8) as (publisher, topic):
        for future in [publisher.publish(topic, json.dumps({"key": f"m{i}"}).encode()) for i in range(24)]:
            future.result(timeout=30)
        wait_until(lambda: len(worker.answered_at) == 24, 30)

    assert worker.peak > 2  # more than the emulator's own push ever has in flight
    assert worker.peak <= 8
    assert sorted(worker.answered_at) == sorted(f"m{i}" for i in range(24))
    assert all(len(times) == 1 for times in worker.answered_at.values())  # acked: none came twice
    first = worker.bodies[0]
    assert set(first["message"]) >= {"data", "messageId", "publishTime", "attributes"}
    assert first["subscription"].endswith("-sub")


def test_a_refused_message_comes_again_after_its_backoff_and_holds_no_slot_meanwhile(
    emulators: dict[str, str], wait_until: Callable[[Callable[[], bool], float], None]
) -> None:
    worker = _Worker(seconds=0.05, refuse_first={"refused"})
    with _relay_for(emulators, worker, concurrency=1) as (publisher, topic):
        publisher.publish(topic, json.dumps({"key": "refused"}).encode()).result(timeout=30)
        wait_until(lambda: "refused" in worker.answered_at, 30)
        publisher.publish(topic, json.dumps({"key": "next"}).encode()).result(timeout=30)
        wait_until(lambda: len(worker.answered_at.get("refused", [])) == 2 and "next" in worker.answered_at, 30)

    first, again = worker.answered_at["refused"]
    assert again - first >= backoff_seconds(RETRY, 1) - 0.2  # not straight back
    assert worker.answered_at["next"][0] < again  # one slot, yet the next message did not wait behind it


def test_the_backoff_doubles_to_its_cap_and_the_switch_reads_its_variable() -> None:
    assert [backoff_seconds(RETRY, attempt) for attempt in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 4.0]
    assert concurrency_from_env({}) is None
    assert concurrency_from_env({"FLO_PUSH_CONCURRENCY": "0"}) is None
    assert concurrency_from_env({"FLO_PUSH_CONCURRENCY": "16"}) == 16
    with pytest.raises(ValueError, match="FLO_PUSH_CONCURRENCY"):
        concurrency_from_env({"FLO_PUSH_CONCURRENCY": "-1"})
