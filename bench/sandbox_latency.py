"""Latency of provider-sandbox calls: median and p99 of GET /users/me and meeting create.

Run by hand: `.venv/bin/python bench/sandbox_latency.py [--calls 500]`. Starts an in-process
sandbox, connects one Zoom user through the consent page, then times calls over one keep-alive
client, as the project's services would make them.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from devstack.sandbox import serve_in_thread
from devstack.sandbox.client import SandboxControl, authorize

REDIRECT_URI = "http://127.0.0.1:9/cb"


def _token(http: httpx.Client, base_url: str) -> str:
    params = {"response_type": "code", "client_id": "bench", "redirect_uri": REDIRECT_URI}
    location = authorize(f"{base_url}/zoom/oauth/authorize?{urlencode(params)}", "bench@example.com")
    code = parse_qs(urlsplit(location).query)["code"][0]
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
    answer = http.post(base_url + "/zoom/oauth/token", auth=("bench", "secret"), data=data)
    answer.raise_for_status()
    token: str = answer.json()["access_token"]
    return token


def _measure(label: str, calls: int, call: Callable[[], httpx.Response], expected: int) -> None:
    samples: list[float] = []
    for _ in range(calls):
        started = time.perf_counter()
        status = call().status_code
        samples.append((time.perf_counter() - started) * 1000)
        if status != expected:
            raise SystemExit(f"{label}: expected {expected}, got {status}")
    samples.sort()
    p99 = samples[min(len(samples) - 1, round(0.99 * len(samples)) - 1)]
    print(f"{label:<34} n={calls}  median={statistics.median(samples):.2f} ms  p99={p99:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=500)
    args = parser.parse_args()
    server = serve_in_thread()
    try:
        with SandboxControl(server.url) as control, httpx.Client(timeout=10.0) as http:
            control.settings(zoom_daily_write_limit=args.calls + 10)
            headers = {"Authorization": "Bearer " + _token(http, server.url)}
            body = {"topic": "bench", "type": 2, "start_time": "2030-01-01T10:00:00Z", "duration": 30}
            _measure(
                "GET /zoom/v2/users/me",
                args.calls,
                lambda: http.get(server.url + "/zoom/v2/users/me", headers=headers),
                200,
            )
            _measure(
                "POST /zoom/v2/users/me/meetings",
                args.calls,
                lambda: http.post(server.url + "/zoom/v2/users/me/meetings", headers=headers, json=body),
                201,
            )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
