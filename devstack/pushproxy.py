"""A chaos switch of the local stack: Pub/Sub pushes delivered 1 to 3 times, late and out of order.

Production Pub/Sub push is at-least-once with no ordering; the emulator is kinder than that. With
FLO_CHAOS_PUSH=1 the local stack points every push subscription at this proxy instead of at the
service. Each push is forwarded at once and its answer is the answer Pub/Sub gets, so a nack still
redelivers (the emulator pushes one message at a time per subscription, so a delay here would hold
up every message behind it). Then up to two more copies follow a random moment later, overtaking
newer messages, and nobody hears their answers, as with a duplicate delivery.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

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

    def __init__(self, service_url: Callable[[str], str], chaos: PushChaos, seed: int | None = None) -> None:
        self._service_url = service_url
        self._chaos = chaos
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._client = httpx.Client(timeout=FORWARD_TIMEOUT_SECONDS)
        self.counts = {"pushes": 0, "deliveries": 0, "duplicates": 0, "unreachable": 0}

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
            delays = [0.0] + [self._random.uniform(0, self._chaos.max_delay_seconds) for _ in range(copies - 1)]
            self.counts["pushes"] += 1
            self.counts["duplicates"] += copies - 1
        url = self._service_url(service) + "/" + rest
        for delay in delays[1:]:
            threading.Thread(
                target=self._forward, args=(url, body, headers, delay + self._chaos.max_delay_seconds), daemon=True
            ).start()
        status = self._forward(url, body, headers, delays[0])
        return Response(status=status)(environ, start_response)

    def _forward(self, url: str, body: bytes, headers: dict[str, str], delay: float) -> int:
        """Deliver once after `delay`; a service that is down (crashed, restarting) is a 503, so a nack."""
        time.sleep(delay)
        with self._lock:
            self.counts["deliveries"] += 1
        try:
            return self._client.post(url, content=body, headers=headers).status_code
        except httpx.HTTPError:
            with self._lock:
                self.counts["unreachable"] += 1
            return 503


def serve_push_proxy(proxy: PushProxy, port: int) -> BaseWSGIServer:
    server = make_server("127.0.0.1", port, proxy, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True, name="push-proxy").start()
    return server
