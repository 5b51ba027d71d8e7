"""A chaos switch of the local stack: Pub/Sub pushes delivered 1 to 3 times, late and out of order.

Production Pub/Sub push is at-least-once, concurrent and unordered; the emulator pushes one message
at a time per subscription, in order. With FLO_CHAOS_PUSH=1 the local stack points every push
subscription at this proxy instead. The proxy takes each message over at once (the emulator sees an
ack) and then plays Pub/Sub itself: it delivers the message after a random moment, concurrently with
the others (so they overtake each other), redelivers it with the subscription's declared backoff
until the service acks it or the attempts run out (counted as dead-lettered), and sends up to two
more copies later whose answers nobody hears, as a duplicate delivery's are.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from shared.topology import RetryPolicy

FORWARD_TIMEOUT_SECONDS = 90.0
"""Longer than any handler takes, as Pub/Sub waits up to the ack deadline."""


@dataclass(frozen=True)
class PushChaos:
    max_copies: int = 3
    max_delay_seconds: float = 1.5

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> PushChaos | None:
        """None unless FLO_CHAOS_PUSH=1: off by default, so `make run` and the tests see plain pushes."""
        if environ.get("FLO_CHAOS_PUSH") != "1":
            return None
        return cls(
            max_copies=int(environ.get("FLO_CHAOS_PUSH_MAX_COPIES", "3")),
            max_delay_seconds=float(environ.get("FLO_CHAOS_PUSH_MAX_DELAY_SECONDS", "1.5")),
        )


class PushProxy:
    """WSGI app: POST /<service><path> forwards to that service's own URL, duplicated and delayed."""

    def __init__(
        self, service_url: Callable[[str], str], chaos: PushChaos, retry: RetryPolicy, seed: int | None = None
    ) -> None:
        self._service_url = service_url
        self._chaos = chaos
        self._retry = retry
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._client = httpx.Client(timeout=FORWARD_TIMEOUT_SECONDS)
        self.counts = {
            "pushes": 0,
            "deliveries": 0,
            "duplicates": 0,
            "redeliveries": 0,
            "unreachable": 0,
            "dead_lettered": 0,
        }

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        if request.method == "GET" and request.path == "/_proxy/stats":
            with self._lock:
                stats = json.dumps(self.counts)
            return Response(stats, mimetype="application/json")(environ, start_response)
        service, _, rest = request.path.lstrip("/").partition("/")
        body, headers = request.get_data(), {"content-type": request.content_type or "application/json"}
        with self._lock:
            copies = self._random.randint(1, self._chaos.max_copies)
            delays = [self._random.uniform(0, self._chaos.max_delay_seconds) for _ in range(copies)]
            self.counts["pushes"] += 1
            self.counts["duplicates"] += copies - 1
        url = self._service_url(service) + "/" + rest
        self._later(delays[0], url, body, headers, 1)
        for delay in delays[1:]:
            self._later(delay + self._chaos.max_delay_seconds, url, body, headers, None)
        return Response(status=204)(environ, start_response)  # taken over: from here on the proxy delivers it

    def _later(self, delay: float, url: str, body: bytes, headers: dict[str, str], attempt: int | None) -> None:
        timer = threading.Timer(delay, self._deliver, args=(url, body, headers, attempt))
        timer.daemon = True
        timer.start()

    def _deliver(self, url: str, body: bytes, headers: dict[str, str], attempt: int | None) -> None:
        """One delivery; `attempt` None is a duplicate, whose answer is ignored. A service that is down
        (crashed, restarting) counts as a nack, as Pub/Sub sees it."""
        with self._lock:
            self.counts["deliveries"] += 1
        try:
            status = self._client.post(url, content=body, headers=headers).status_code
        except httpx.HTTPError:
            with self._lock:
                self.counts["unreachable"] += 1
            status = 503
        if attempt is None or status == 102 or 200 <= status < 300:
            return
        if attempt >= self._retry.max_delivery_attempts:
            with self._lock:
                self.counts["dead_lettered"] += 1
            return
        backoff = min(self._retry.maximum_backoff_seconds, self._retry.minimum_backoff_seconds * 2 ** (attempt - 1))
        with self._lock:
            self.counts["redeliveries"] += 1
        self._later(backoff, url, body, headers, attempt + 1)


def serve_push_proxy(proxy: PushProxy, port: int) -> BaseWSGIServer:
    server = make_server("127.0.0.1", port, proxy, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True, name="push-proxy").start()
    return server
