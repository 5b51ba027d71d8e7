"""Bookings throughput and link latency through the whole local stack, against a bare Pub/Sub + Firestore hop.

Run by hand: `.venv/bin/python bench/bookings_throughput.py [--bookings 500] [--workers 8]`.

It starts the local stack itself (`python -m devstack.stack` on a free FLO_PORT, its own emulators,
provider sandbox and mail sink), makes one creator with Zoom connected and 24-hour availability, then:

1. books `--bookings` different slots from a thread pool and reports bookings per second (201s over
   the wall time of the booking phase);
2. polls GET /api/bookings and records, per booking, the first time its link_status is `ready`:
   the time from the 201 to that moment (median and p99; resolution = the poll interval plus one
   list request);
3. in the same run, the floor of one asynchronous step: a message published to a temporary topic,
   pushed by the emulator to a tiny local HTTP handler that does one Firestore get and one write
   (median over `--pushes` sequential messages).

The stack is stopped at the end, whatever happens.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import statistics
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from devstack.emulators import free_port
from devstack.sandbox.client import SandboxControl, authorize
from devstack.stack_process import start_stack

ROOT = Path(__file__).resolve().parent.parent
ALL_DAY = {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
DURATION_MINUTES = 15


# ---- the stack -------------------------------------------------------------------------------------------


# ---- figures ---------------------------------------------------------------------------------------------


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))  # nearest rank
    return ordered[index]


def describe(samples: list[float], unit: str = "ms") -> str:
    if not samples:
        return "no samples"
    return (
        f"median {statistics.median(samples):.0f} {unit}, p99 {percentile(samples, 0.99):.0f} {unit}, "
        f"min {min(samples):.0f} {unit}, max {max(samples):.0f} {unit} (n={len(samples)})"
    )


# ---- the booking run -------------------------------------------------------------------------------------


def setup_creator(http: httpx.Client, sandbox: SandboxControl) -> tuple[dict[str, str], str, str]:
    """(auth headers, offer_id, creator_id) of a Creator-plan creator with Zoom connected."""
    email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
    r = http.post("/api/dev/creators", json={"email": email, "name": "Bench", "plan": "creator", "timezone": "UTC"})
    r.raise_for_status()
    creator_id, token = r.json()["creator_id"], r.json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    http.put("/api/settings/availability", headers=auth, json={"timezone": "UTC", "weekly_hours": ALL_DAY})
    r = http.post(
        "/api/offers", headers=auth, json={"title": "Bench", "duration_minutes": DURATION_MINUTES, "price_cents": 0}
    )
    r.raise_for_status()
    offer_id = str(r.json()["offer_id"])
    sandbox.create_zoom_user(email)
    r = http.post("/api/integrations/zoom/connect", headers=auth)
    r.raise_for_status()
    location = urlsplit(authorize(r.json()["authorize_url"], email))
    r = http.get(f"{location.path}?{location.query}")
    assert "connected=zoom" in r.headers.get("Location", ""), r.headers
    return auth, offer_id, creator_id


def free_slots(http: httpx.Client, creator_id: str, offer_id: str, count: int) -> list[str]:
    first = date.today() + timedelta(days=2)
    days = count * DURATION_MINUTES // (24 * 60) + 2
    r = http.get(
        f"/api/public/creators/{creator_id}/offers/{offer_id}/slots",
        params={"from": first.isoformat(), "to": (first + timedelta(days=days)).isoformat()},
    )
    r.raise_for_status()
    slots = [str(s["start"]) for s in r.json()["slots"]]
    if len(slots) < count:
        raise RuntimeError(f"only {len(slots)} free slots for {count} bookings")
    return slots[:count]


class LinkWatcher(threading.Thread):
    """Polls the creator's bookings and notes when each one's link is first seen settled."""

    def __init__(self, base_url: str, auth: dict[str, str], interval: float) -> None:
        super().__init__(daemon=True)
        self._http = httpx.Client(base_url=base_url, timeout=60)
        self._auth = auth
        self._interval = interval
        self.ready_at: dict[str, float] = {}
        self.unavailable: set[str] = set()
        self.poll_seconds: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                r = self._http.get("/api/bookings", params={"scope": "upcoming"}, headers=self._auth)
                bookings = r.json()["bookings"] if r.status_code == 200 else []
            except httpx.HTTPError:
                bookings = []
            seen = time.monotonic()
            self.poll_seconds.append(seen - started)
            for booking in bookings:
                if booking["link_status"] == "ready":
                    self.ready_at.setdefault(booking["id"], seen)
                elif booking["link_status"] == "unavailable":
                    self.unavailable.add(booking["id"])
            self.stop.wait(self._interval)
        self._http.close()


def run_bookings(base_url: str, sandbox_url: str, count: int, workers: int, poll: float) -> dict[str, Any]:
    sandbox = SandboxControl(sandbox_url)
    sandbox.settings(zoom_daily_write_limit=count * 10)  # Zoom's real per-user daily limit is not under test
    http = httpx.Client(base_url=base_url, timeout=60)
    auth, offer_id, creator_id = setup_creator(http, sandbox)
    starts = free_slots(http, creator_id, offer_id, count)
    watcher = LinkWatcher(base_url, auth, poll)
    watcher.start()

    local = threading.local()
    confirmed_at: dict[str, float] = {}
    failures: list[str] = []
    lock = threading.Lock()

    def book(i: int) -> None:
        client: httpx.Client | None = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(base_url=base_url, timeout=60)
        fan = {"name": f"Fan {i}", "email": f"fan-{i}@example.com"}
        r = client.post("/api/public/bookings", json={"offer_id": offer_id, "start": starts[i], "fan": fan})
        done = time.monotonic()
        with lock:
            if r.status_code == 201:
                confirmed_at[r.json()["booking_id"]] = done
            else:
                failures.append(f"{r.status_code} {r.text[:120]}")

    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(book, range(count)))
    wall = time.monotonic() - began

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and len(watcher.ready_at) + len(watcher.unavailable) < len(confirmed_at):
        time.sleep(0.5)
    watcher.stop.set()
    watcher.join(timeout=30)
    latencies = [(watcher.ready_at[b] - t) * 1000 for b, t in confirmed_at.items() if b in watcher.ready_at]
    live = sum(len(v) for v in sandbox.zoom_meetings().values())
    http.close()
    sandbox.close()
    return {
        "created": len(confirmed_at),
        "failed": failures,
        "wall_seconds": wall,
        "per_second": len(confirmed_at) / wall if wall else 0.0,
        "latencies_ms": latencies,
        "unavailable": len(watcher.unavailable),
        "never_settled": len(confirmed_at) - len(watcher.ready_at) - len(watcher.unavailable),
        "poll_ms": [s * 1000 for s in watcher.poll_seconds],
        "live_zoom_meetings": live,
    }


# ---- the bare Pub/Sub push + Firestore hop ---------------------------------------------------------------


def bare_hop(state: dict[str, Any], messages: int) -> list[float]:
    """Publish → emulator push → local handler doing one Firestore get and one write; ms per message."""
    os.environ["PUBSUB_EMULATOR_HOST"] = state["pubsub_emulator"]
    os.environ["FIRESTORE_EMULATOR_HOST"] = state["firestore_emulator"]
    from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient

    from shared.store.firestore import FirestoreDocStore
    from shared.store.port import put

    project = str(state["project_id"])
    store = FirestoreDocStore(project)
    done: dict[str, threading.Event] = {}
    finished_at: dict[str, float] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            envelope = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))))
            data = json.loads(base64.b64decode(envelope["message"]["data"]))
            key = str(data["key"])
            previous = store.get("bench", "hop") or {}
            store.commit([put("bench", "hop", {"last": key, "count": int(previous.get("count", 0)) + 1})])
            finished_at[key] = time.monotonic()
            self.send_response(204)
            self.end_headers()
            if key in done:
                done[key].set()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    publisher, subscriber = PublisherClient(), SubscriberClient()
    name = f"bench-{uuid.uuid4().hex[:8]}"
    topic = publisher.topic_path(project, name)
    subscription = subscriber.subscription_path(project, name)
    publisher.create_topic(name=topic)
    endpoint = f"http://127.0.0.1:{server.server_address[1]}/push"
    subscriber.create_subscription(
        request={"name": subscription, "topic": topic, "push_config": {"push_endpoint": endpoint}}
    )
    samples: list[float] = []
    try:
        for i in range(messages + 3):  # three warm-up messages are not counted
            key = f"m{i}"
            done[key] = threading.Event()
            sent = time.monotonic()
            publisher.publish(topic, json.dumps({"key": key}).encode()).result(timeout=30)
            if not done[key].wait(timeout=60):
                raise RuntimeError(f"message {key} was never pushed")
            if i >= 3:
                samples.append((finished_at[key] - sent) * 1000)
    finally:
        subscriber.delete_subscription(request={"subscription": subscription})
        publisher.delete_topic(request={"topic": topic})
        subscriber.close()
        server.shutdown()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bookings", type=int, default=500)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--pushes", type=int, default=50)
    parser.add_argument("--poll", type=float, default=0.25, help="seconds between GET /api/bookings polls")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="flo-bench-") as tmp:
        print("starting the local stack ...", flush=True)
        running = start_stack(Path(tmp), {"FLO_RATE_LIMIT_PER_MINUTE": "0"})  # one client IP sends every request
        state = running.state
        try:
            print(f"stack up at {state['base_url']}; booking {args.bookings} slots with {args.workers} workers")
            result = run_bookings(
                state["base_url"], state["provider_sandbox_url"], args.bookings, args.workers, args.poll
            )
            print(f"measuring {args.pushes} bare Pub/Sub pushes with one Firestore get + write ...", flush=True)
            hop = bare_hop(state, args.pushes)
        finally:
            print("stopping the local stack ...", flush=True)
            running.stop()

    print()
    print(f"bookings created (201)        {result['created']} of {args.bookings} in {result['wall_seconds']:.1f} s")
    print(f"bookings per second           {result['per_second']:.1f}")
    if result["failed"]:
        print(f"failed bookings               {len(result['failed'])}, e.g. {result['failed'][0]}")
    print(f"201 -> link stored (ready)    {describe(result['latencies_ms'])}")
    print(f"  settled unavailable         {result['unavailable']}; never settled {result['never_settled']}")
    print(f"  poll request time           {describe(result['poll_ms'])} (+ {args.poll * 1000:.0f} ms between polls)")
    print(f"  live Zoom meetings          {result['live_zoom_meetings']} (one per booking expected)")
    print(f"bare push + Firestore get/set {describe(hop)}")


if __name__ == "__main__":
    main()
