"""Bookings throughput and link latency through the whole local stack, against a bare Pub/Sub + Firestore hop.

Run by hand: `.venv/bin/python -m bench.bookings_throughput [--bookings 500] [--workers 8] [--instances 1]
[--push-concurrency 8]`.

It starts the local stack itself (`python -m devstack.stack` on a free FLO_PORT, its own emulators,
provider sandbox and mail sink), makes creators with Zoom connected and 24-hour availability (as many as
keep each inside Flo's own count of Zoom's 100 meeting creates per host and day, and one more for the
one-at-a-time bookings), makes `--warm-ups` bookings at once and waits for their links (uncounted: each
service instance's first request builds its clients), then:

1. books `--bookings` different slots from a thread pool and reports bookings per second (201s over
   the wall time of the booking phase);
2. records, per booking, when its link was stored: the time from the 201 to that moment (median and p99).
   `--observe log` (the default) reads the meetings worker's "link recorded" log line (written just after
   the link is stored and its event published), which costs the stack under test nothing; `--observe poll`
   reads GET /api/bookings of every creator every `--poll` seconds and notes when link_status is first
   `ready`, which itself loads the stack (each poll reads every upcoming booking; resolution = the interval
   plus one list request). A Firestore listener on the emulator was tried and loaded it more than polling;
3. in the same run, the floor of one asynchronous step: a message published to a temporary topic,
   pushed by the emulator to a tiny local HTTP handler that does one Firestore get and one write
   (median over `--pushes` sequential messages);
4. link throughput (links made ready per second from the burst's start to the last link) against the
   intake, and `--singles` bookings made one at a time on the quiet stack (201 -> ready, polled every
   20 ms) against the bare hop's floor.

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
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil

from devstack.emulators import free_port
from devstack.sandbox.client import SandboxControl, authorize
from devstack.stack_process import start_stack
from shared.meetings.quota import ZOOM_DAILY_WRITES

ROOT = Path(__file__).resolve().parent.parent
ALL_DAY = {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
DURATION_MINUTES = 15
PER_CREATOR = ZOOM_DAILY_WRITES - 10
"""Bookings per creator in the burst: inside the daily Zoom budget, so every one of them gets a Zoom link."""
LOG_READ_SECONDS = 0.25
"""How often the meetings worker's log is read for links recorded."""


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


class Observer(threading.Thread):
    """Notes when each booking's link is first seen settled (epoch seconds), looking every `interval` seconds
    until closed, and what the looks cost the stack (the polls' times; none for the log)."""

    def __init__(self, interval: float) -> None:
        super().__init__(daemon=True)
        self._interval = interval
        self._closing = threading.Event()
        self.ready_at: dict[str, float] = {}
        self.unavailable: set[str] = set()
        self.poll_seconds: list[float] = []

    def _look(self) -> None:
        raise NotImplementedError

    def _settled(self, booking_id: str, link_status: str, at: float) -> None:
        if link_status == "ready":
            self.ready_at.setdefault(booking_id, at)
        elif link_status == "unavailable":
            self.unavailable.add(booking_id)

    def run(self) -> None:
        while not self._closing.is_set():
            self._look()
            self._closing.wait(self._interval)

    def close(self) -> None:
        self._closing.set()
        self.join(timeout=30)


class LinkWatcher(Observer):
    """Polls the creators' bookings and notes when each one's link is first seen settled."""

    def __init__(self, base_url: str, auths: list[dict[str, str]], interval: float) -> None:
        super().__init__(interval)
        self._http = httpx.Client(base_url=base_url, timeout=60)
        self._auths = auths

    def _upcoming(self) -> list[dict[str, Any]]:
        return [booking for auth in self._auths for booking in self._upcoming_of(auth)]

    def _upcoming_of(self, auth: dict[str, str]) -> list[dict[str, Any]]:
        """Every upcoming booking, page by page (an answer other than 200 ends the poll with what it has)."""
        found: list[dict[str, Any]] = []
        params = {"scope": "upcoming", "limit": "200"}
        while True:
            r = self._http.get("/api/bookings", params=params, headers=auth)
            if r.status_code != 200:
                return found
            body = r.json()
            found.extend(body["bookings"])
            if body["next_cursor"] is None:
                return found
            params = {**params, "cursor": body["next_cursor"]}

    def _look(self) -> None:
        started = time.time()
        try:
            bookings = self._upcoming()
        except httpx.HTTPError:
            bookings = []
        seen = time.time()
        self.poll_seconds.append(seen - started)
        for booking in bookings:
            self._settled(booking["id"], booking["link_status"], seen)

    def close(self) -> None:
        super().close()
        self._http.close()


class LinkLog(Observer):
    """Notes when each booking's link was recorded, from the meetings worker's own "link recorded" log lines
    (written once the link is stored and its event published): reading the local log file costs the stack
    under test nothing, where polling its routes or a Firestore listener on the emulator loads it. The times
    are the log's, so how often it is read changes nothing but how soon the wait for the last link ends."""

    def __init__(self, interval: float) -> None:
        super().__init__(interval)
        self._path = ROOT / ".run" / "logs" / "meetings.log"
        self._offset = self._path.stat().st_size

    def _look(self) -> None:
        with self._path.open("rb") as log:
            log.seek(self._offset)
            chunk = log.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self._offset += len(complete)
        for line in complete.splitlines():
            entry = json.loads(line) if line.startswith(b"{") else {}
            if entry.get("message") == "link recorded":
                at = datetime.fromisoformat(entry["time"]).timestamp()
                self._settled(entry["booking_id"], entry["link_status"], at)

    def close(self) -> None:
        super().close()
        self._look()  # the lines written since the last look


def observer(how: str, base_url: str, auths: list[dict[str, str]], poll: float) -> Observer:
    watcher = LinkLog(LOG_READ_SECONDS) if how == "log" else LinkWatcher(base_url, auths, poll)
    watcher.start()
    return watcher


def run_bookings(
    state: dict[str, Any],
    stack_pid: int,
    count: int,
    workers: int,
    observe: str,
    poll: float,
    singles: int,
    warm_ups: int,
) -> dict[str, Any]:
    base_url, sandbox = state["base_url"], SandboxControl(state["provider_sandbox_url"])
    sandbox.settings(zoom_daily_write_limit=count * 10)  # Zoom's real per-user daily limit is not under test
    http = httpx.Client(base_url=base_url, timeout=60)
    creators = [setup_creator(http, sandbox) for _ in range(math.ceil(count / PER_CREATOR))]
    shares = [
        free_slots(http, c_id, offer, len(range(k, count, len(creators))))
        for k, (_, offer, c_id) in enumerate(creators)
    ]
    jobs = [(creators[i % len(creators)][1], shares[i % len(creators)][i // len(creators)]) for i in range(count)]
    single_auth, single_offer, single_creator = setup_creator(http, sandbox)
    quiet_starts = free_slots(http, single_creator, single_offer, singles + warm_ups)
    single_starts, warm_up_starts = quiet_starts[:singles], quiet_starts[singles:]
    print(f"warming up: {warm_ups} bookings at once, not counted", flush=True)
    _warm_up(base_url, single_auth, single_offer, warm_up_starts)
    watcher = observer(observe, base_url, [auth for auth, _, _ in creators], poll)

    local = threading.local()
    confirmed_at: dict[str, float] = {}
    failures: list[str] = []
    lock = threading.Lock()

    def book(i: int) -> None:
        client: httpx.Client | None = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(base_url=base_url, timeout=60)
        fan = {"name": f"Fan {i}", "email": f"fan-{i}@example.com"}
        offer_id, start = jobs[i]
        r = client.post("/api/public/bookings", json={"offer_id": offer_id, "start": start, "fan": fan})
        done = time.time()
        with lock:
            if r.status_code == 201:
                confirmed_at[r.json()["booking_id"]] = done
            else:
                failures.append(f"{r.status_code} {r.text[:120]}")

    cpu = StackCpu(state["pids"], stack_pid)
    cpu_at_start = cpu.sample()
    began = time.time()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(book, range(count)))
    wall = time.time() - began

    deadline = time.time() + 300
    while time.time() < deadline and len(watcher.ready_at) + len(watcher.unavailable) < len(confirmed_at):
        time.sleep(0.5)
    cpu_at_end = cpu.sample()
    watcher.close()
    latencies = [(watcher.ready_at[b] - t) * 1000 for b, t in confirmed_at.items() if b in watcher.ready_at]
    ready = [watcher.ready_at[b] for b in confirmed_at if b in watcher.ready_at]
    link_wall = max(ready) - began if ready else 0.0
    one_at_a_time = _one_at_a_time(http, single_auth, single_offer, single_starts)
    live = sum(len(v) for v in sandbox.zoom_meetings().values())
    http.close()
    sandbox.close()
    return {
        "created": len(confirmed_at),
        "creators": len(creators),
        "failed": failures,
        "wall_seconds": wall,
        "per_second": len(confirmed_at) / wall if wall else 0.0,
        "latencies_ms": latencies,
        "links_per_second": len(ready) / link_wall if link_wall else 0.0,
        "one_at_a_time_ms": one_at_a_time,
        "unavailable": sum(b in watcher.unavailable for b in confirmed_at),
        "never_settled": sum(b not in watcher.ready_at and b not in watcher.unavailable for b in confirmed_at),
        "cpu": StackCpu.report(cpu_at_start, cpu_at_end),
        "poll_ms": [s * 1000 for s in watcher.poll_seconds],
        "live_zoom_meetings": live,
    }


def _book_one(http: httpx.Client, offer_id: str, start: str, who: str) -> str:
    """A booking of one slot that must be made; its id."""
    fan = {"name": who.title(), "email": f"{who.replace(' ', '-')}@example.com"}
    r = http.post("/api/public/bookings", json={"offer_id": offer_id, "start": start, "fan": fan})
    if r.status_code != 201:
        raise RuntimeError(f"{who}'s booking refused: {r.status_code} {r.text[:120]}")
    return str(r.json()["booking_id"])


def _await_link(http: httpx.Client, auth: dict[str, str], booking_id: str) -> None:
    """Wait until the booking's link is ready (polled every 20 ms straight on the booking's own page of the list)."""
    deadline = time.time() + 60
    while time.time() < deadline:
        status = _link_status(http, auth, booking_id)
        if status == "ready":
            return
        if status == "unavailable":
            raise RuntimeError(f"booking {booking_id} got no link")
        time.sleep(0.02)
    raise RuntimeError(f"booking {booking_id} never got its link")


def _warm_up(base_url: str, auth: dict[str, str], offer_id: str, starts: list[str]) -> None:
    """Book these slots all at once and wait for their links, uncounted: each service instance builds its clients
    on its first request, and those builds would otherwise land in the measured burst."""
    with httpx.Client(base_url=base_url, timeout=60) as http, ThreadPoolExecutor(max_workers=len(starts)) as pool:
        made = list(pool.map(lambda i: _book_one(http, offer_id, starts[i], f"warm up {i}"), range(len(starts))))
        for booking_id in made:
            _await_link(http, auth, booking_id)


def _one_at_a_time(http: httpx.Client, auth: dict[str, str], offer_id: str, starts: list[str]) -> list[float]:
    """Book one slot at a time on the quiet stack, each after the previous link landed: 201 -> ready, in ms."""
    samples: list[float] = []
    for i, start in enumerate(starts):
        booking_id = _book_one(http, offer_id, start, f"single {i}")
        made = time.time()
        _await_link(http, auth, booking_id)
        samples.append((time.time() - made) * 1000)
    return samples


def _link_status(http: httpx.Client, auth: dict[str, str], booking_id: str) -> str | None:
    """The booking's link_status, reading the upcoming list page by page until it is found."""
    params = {"scope": "upcoming", "limit": "200"}
    while True:
        body = http.get("/api/bookings", params=params, headers=auth).json()
        for booking in body["bookings"]:
            if booking["id"] == booking_id:
                return str(booking["link_status"])
        if body["next_cursor"] is None:
            return None
        params = {**params, "cursor": body["next_cursor"]}


# ---- where the CPU went ----------------------------------------------------------------------------------


class StackCpu:
    """CPU seconds (user + system) each part of the stack used between two samples: each process the stack
    started with its children (a service's gunicorn workers, an emulator's JVM), the stack's own process (the
    gateway, the push relay, the scheduler) and this benchmark's (the load), against the machine's capacity."""

    def __init__(self, started: Mapping[str, int], stack_pid: int) -> None:
        self._trees = {name: psutil.Process(pid) for name, pid in started.items()}
        self._own = {"gateway, push relay, scheduler": psutil.Process(stack_pid), "this benchmark": psutil.Process()}

    def sample(self) -> tuple[float, dict[str, float]]:
        used = {name: _cpu([process, *process.children(recursive=True)]) for name, process in self._trees.items()}
        used.update({name: _cpu([process]) for name, process in self._own.items()})
        return time.time(), used

    @staticmethod
    def report(first: tuple[float, dict[str, float]], last: tuple[float, dict[str, float]]) -> list[str]:
        seconds = last[0] - first[0]
        capacity = seconds * (psutil.cpu_count() or 1)
        spent = {name: last[1][name] - first[1].get(name, 0.0) for name in last[1]}
        lines = [f"CPU over the burst ({seconds:.1f} s x {psutil.cpu_count()} cores = {capacity:.0f} CPU-s)"]
        for name, used in sorted(spent.items(), key=lambda item: -item[1]):
            lines.append(f"  {name:<30}{used:6.1f} CPU-s  {used / capacity:4.0%}")
        total = sum(spent.values())
        lines.append(f"  {'all of the above':<30}{total:6.1f} CPU-s  {total / capacity:4.0%}")
        return lines


def _cpu(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


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
            finished_at[key] = time.time()
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
            sent = time.time()
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
    parser.add_argument(
        "--observe",
        choices=("log", "poll"),
        default="log",
        help="how settled links are seen: the meetings worker's log (log) or GET /api/bookings polls (poll)",
    )
    parser.add_argument("--poll", type=float, default=0.25, help="seconds between GET /api/bookings polls")
    parser.add_argument("--singles", type=int, default=20, help="bookings made one at a time after the burst")
    parser.add_argument(
        "--warm-ups", type=int, default=16, help="bookings made at once before the burst, not counted (at least 1)"
    )
    parser.add_argument("--instances", type=int, default=1, help="instances of each push worker (FLO_WORKER_INSTANCES)")
    parser.add_argument(
        "--push-concurrency",
        type=int,
        default=8,
        help="deliveries in flight per subscription, as production push has many (FLO_PUSH_CONCURRENCY); "
        "0 keeps the emulator's own push, which has at most two",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="flo-bench-") as tmp:
        print("starting the local stack ...", flush=True)
        # One client IP sends every request, so the gateway's per-IP limit is off.
        settings = {
            "FLO_RATE_LIMIT_PER_MINUTE": "0",
            "FLO_WORKER_INSTANCES": str(args.instances),
            "FLO_PUSH_CONCURRENCY": str(args.push_concurrency),
        }
        running = start_stack(Path(tmp), settings)
        state = running.state
        try:
            print(f"stack up at {state['base_url']}; booking {args.bookings} slots with {args.workers} workers")
            result = run_bookings(
                state,
                running.process.pid,
                args.bookings,
                args.workers,
                args.observe,
                args.poll,
                args.singles,
                args.warm_ups,
            )
            print(f"measuring {args.pushes} bare Pub/Sub pushes with one Firestore get + write ...", flush=True)
            hop = bare_hop(state, args.pushes)
        finally:
            print("stopping the local stack ...", flush=True)
            running.stop()

    print()
    print(f"bookings created (201)        {result['created']} of {args.bookings} in {result['wall_seconds']:.1f} s")
    print(f"bookings per second           {result['per_second']:.1f} (across {result['creators']} creators)")
    if result["failed"]:
        print(f"failed bookings               {len(result['failed'])}, e.g. {result['failed'][0]}")
    print(f"201 -> link stored (ready)    {describe(result['latencies_ms'])}")
    print(f"  settled unavailable         {result['unavailable']}; never settled {result['never_settled']}")
    if result["poll_ms"]:
        between = f"(+ {args.poll * 1000:.0f} ms between polls)"
        print(f"  poll request time           {describe(result['poll_ms'])} {between}")
    else:
        print("  seen in                     the meetings worker's log (no polls of the stack)")
    print(f"  live Zoom meetings          {result['live_zoom_meetings']} (one per booking expected)")
    print(f"bare push + Firestore get/set {describe(hop)}")
    intake, links = result["per_second"], result["links_per_second"]
    print(f"link throughput               {links:.1f} links/s = {links / intake if intake else 0:.2f} of intake")
    single, floor = statistics.median(result["one_at_a_time_ms"]), statistics.median(hop)
    print(f"one at a time 201 -> ready    {describe(result['one_at_a_time_ms'])}")
    print(f"  one at a time / bare floor  {single / floor:.1f}x (medians; {args.instances} instance(s) per worker)")
    pushes = args.push_concurrency or "the emulator's own push (2)"
    print(f"push deliveries in flight     {pushes} per subscription")
    print("\n".join(result["cpu"]))


if __name__ == "__main__":
    main()
