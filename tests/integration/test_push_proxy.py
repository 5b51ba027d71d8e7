"""The chaos push proxy: each push reaches the service 1 to 3 times; Pub/Sub hears the first answer."""

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


class _Service:
    """A push endpoint that records each body it gets and answers with `status`."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.bodies: list[bytes] = []
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        with self._lock:
            self.bodies.append(Request(environ).get_data())
        return Response(status=self.status)(environ, start_response)


@pytest.fixture
def service() -> Iterator[tuple[_Service, str]]:
    app = _Service(204)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield app, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_off_unless_switched_on() -> None:
    assert PushChaos.from_env({}) is None
    assert PushChaos.from_env({"FLO_CHAOS_PUSH": "1", "FLO_CHAOS_PUSH_MAX_COPIES": "2"}) == PushChaos(2, 1.5)


def test_each_push_arrives_one_to_three_times_and_the_first_answer_is_returned(service: tuple[_Service, str]) -> None:
    app, url = service
    port = free_port()
    server = serve_push_proxy(PushProxy({"meetings": url}.__getitem__, PushChaos(3, 0.05), seed=7), port)
    try:
        answers = [
            httpx.post(f"http://127.0.0.1:{port}/meetings/pubsub/booking-events", content=f"m{n}".encode())
            for n in range(20)
        ]
        assert {a.status_code for a in answers} == {204}
        app.status = 500
        assert httpx.post(f"http://127.0.0.1:{port}/meetings/pubsub/booking-events", content=b"nack").status_code == 500
        time.sleep(0.5)  # the late copies
        stats = httpx.get(f"http://127.0.0.1:{port}/_proxy/stats").json()
    finally:
        server.shutdown()
    copies = {f"m{n}".encode(): app.bodies.count(f"m{n}".encode()) for n in range(20)}
    assert set(copies.values()) <= {1, 2, 3} and max(copies.values()) > 1, copies
    assert stats["pushes"] == 21 and stats["deliveries"] == len(app.bodies)
    assert stats["duplicates"] == len(app.bodies) - 21
