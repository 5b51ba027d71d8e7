"""The chaos push proxy: each push reaches the service 1 to 3 times, and a nack is redelivered until acked."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import httpx
import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from devstack.emulators import free_port
from devstack.pushproxy import PushChaos, PushProxy, serve_push_proxy
from shared.topology import RetryPolicy


class _Service:
    """A push endpoint that records each body it gets; it nacks (500) the first `nacks` deliveries of b"nack"."""

    def __init__(self, nacks: int) -> None:
        self.nacks = nacks
        self.bodies: list[bytes] = []
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = Request(environ).get_data()
        with self._lock:
            self.bodies.append(body)
            nack = body == b"nack" and self.bodies.count(body) <= self.nacks
        return Response(status=500 if nack else 204)(environ, start_response)


@pytest.fixture
def service() -> Iterator[tuple[_Service, str]]:
    app = _Service(nacks=2)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield app, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_off_unless_switched_on() -> None:
    assert PushChaos.from_env({}) is None
    assert PushChaos.from_env({"FLO_CHAOS_PUSH": "1", "FLO_CHAOS_PUSH_MAX_COPIES": "2"}) == PushChaos(2, 1.5)


def test_each_push_arrives_one_to_three_times_and_a_nack_is_redelivered(service: tuple[_Service, str]) -> None:
    app, url = service
    port = free_port()
    policy = RetryPolicy(
        minimum_backoff_seconds=0, maximum_backoff_seconds=0, max_delivery_attempts=5, ack_deadline_seconds=10
    )
    proxy = PushProxy({"meetings": url}.__getitem__, PushChaos(3, 0.05), policy, seed=7)
    server = serve_push_proxy(proxy, port)
    endpoint = f"http://127.0.0.1:{port}/meetings/pubsub/booking-events"
    try:
        answers = [httpx.post(endpoint, content=f"m{n}".encode()) for n in range(20)]
        answers.append(httpx.post(endpoint, content=b"nack"))
        assert {a.status_code for a in answers} == {204}  # taken over at once: the emulator's loop never waits
        time.sleep(1)  # the late copies and the redeliveries
        stats = httpx.get(f"http://127.0.0.1:{port}/_proxy/stats").json()
    finally:
        server.shutdown()
    copies = {f"m{n}".encode(): app.bodies.count(f"m{n}".encode()) for n in range(20)}
    assert set(copies.values()) <= {1, 2, 3} and max(copies.values()) > 1, copies
    assert app.bodies.count(b"nack") >= 3  # nacked twice, acked on the third delivery
    assert stats["pushes"] == 21 and stats["deliveries"] == len(app.bodies)
    assert stats["redeliveries"] == 2 and stats["dead_lettered"] == 0
