"""`make run`: the whole system on loopback, each part its own process, behind one base URL.

Starts the Firestore and Pub/Sub emulators, the provider sandbox and the mail sink (unless
PROVIDER_SANDBOX_URL / SMTP_HOST say where they already are), every service of topology.yaml, the
gateway on FLO_PORT and a local stand-in for Cloud Scheduler. Ctrl-C stops all of it.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FrameType
from urllib.parse import urlencode

import httpx

from devstack.emulators import PrerequisiteError, free_port, port_free, start_emulator, stop_process, wait_http
from devstack.gateway import Gateway, serve_gateway
from devstack.pubsub_setup import ensure_topology
from devstack.pushproxy import PushChaos, PushProxy, serve_push_proxy
from devstack.pushrelay import PushRelay, concurrency_from_env
from devstack.ratelimit import limiter_from_env
from shared.topology import Topology, load_topology

ROOT = Path(__file__).resolve().parent.parent
PROJECT_ID = "flo-local"


def _dev_secrets() -> dict[str, str]:
    """Fresh throwaway secrets per run: the local data lives only as long as the emulators do."""

    def key() -> str:
        return "v1:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()

    return {
        "ZOOM_CLIENT_ID": "flo-local-zoom",
        "ZOOM_CLIENT_SECRET": secrets.token_urlsafe(24),
        "ZOOM_WEBHOOK_SECRET": secrets.token_urlsafe(24),
        "GOOGLE_CLIENT_ID": "flo-local-google.apps.googleusercontent.com",
        "GOOGLE_CLIENT_SECRET": secrets.token_urlsafe(24),
        "TOKEN_ENCRYPTION_KEYS": key(),
        "MANAGE_TOKEN_KEYS": key(),
        "OAUTH_STATE_SECRET": secrets.token_urlsafe(32),
    }


class Stack:
    def __init__(self, log_dir: Path, restart_crashed: bool = False) -> None:
        self.log_dir = log_dir
        self.processes: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.stopping = threading.Event()
        self.restart_crashed = restart_crashed
        """FLO_RESTART_CRASHED=1: a service that dies is started again, as Cloud Run starts a new instance."""
        self.restarts: dict[str, int] = {}
        self._commands: dict[str, tuple[list[str], dict[str, str]]] = {}

    def spawn(
        self, name: str, cmd: list[str], env: dict[str, str], *, restartable: bool = False
    ) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"{name}.log").open("ab")
        process = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT)
        self.processes.append((name, process))
        if restartable:
            self._commands[name] = (cmd, env)
        return process

    def supervise(self) -> bool:
        """Restart the services that died (when enabled); True if the stack must stop (anything else died)."""
        for index, (name, process) in enumerate(self.processes):
            if process.poll() is None:
                continue
            if not self.restart_crashed or name not in self._commands or self.stopping.is_set():
                print(
                    f"error: {name} exited with code {process.returncode}; see {self.log_dir}/{name}.log",
                    file=sys.stderr,
                )
                return True
            self.restarts[name] = self.restarts.get(name, 0) + 1
            print(
                f"restarting {name}: it exited with code {process.returncode} (restart {self.restarts[name]})",
                flush=True,
            )
            cmd, env = self._commands[name]
            del self.processes[index]
            self.spawn(name, cmd, env, restartable=True)
            return False
        return False

    def pids(self) -> dict[str, int]:
        return {name: process.pid for name, process in self.processes}

    def stop(self) -> None:
        self.stopping.set()
        for _, process in reversed(self.processes):
            stop_process(process)


Wait = tuple[str, "subprocess.Popen[bytes]"]
"""A health URL to poll and the process that must answer it."""


def _stack_env(base_url: str) -> dict[str, str]:
    venv_bin = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "FLO_ENV": "local",
        "FLO_BASE_URL": base_url,
        "GOOGLE_CLOUD_PROJECT": PROJECT_ID,
        "PATH": f"{venv_bin}:{os.environ.get('PATH', '')}",
        "PYTHONUNBUFFERED": "1",
    }
    for name, value in _dev_secrets().items():
        env.setdefault(name, value)
    return env


def _spawn_sandbox(stack: Stack, env: dict[str, str]) -> list[Wait]:
    """The provider sandbox, unless one is given or the real providers are wanted (sets PROVIDER_SANDBOX_URL)."""
    if env.get("PROVIDER_SANDBOX_URL") or env.get("FLO_PROVIDERS") == "real":
        return []
    port = free_port()
    env["PROVIDER_SANDBOX_URL"] = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "devstack.sandbox", "--host", "127.0.0.1", "--port", str(port)]
    return [(env["PROVIDER_SANDBOX_URL"] + "/_sandbox/health", stack.spawn("sandbox", cmd, env))]


def _spawn_mailsink(stack: Stack, env: dict[str, str]) -> tuple[list[Wait], str | None]:
    """The mail sink, unless an SMTP server is given (sets SMTP_HOST/SMTP_PORT); its URL when started."""
    if env.get("SMTP_HOST"):
        return [], None
    smtp_port, http_port = free_port(), free_port()
    env.update(SMTP_HOST="127.0.0.1", SMTP_PORT=str(smtp_port))
    mail_url = f"http://127.0.0.1:{http_port}"
    cmd = [sys.executable, "-m", "devstack.mailsink", "--smtp-port", str(smtp_port), "--http-port", str(http_port)]
    return [(mail_url + "/messages", stack.spawn("mailsink", cmd, env))], mail_url


PUSH_WORKERS = ("meetings", "notify")
"""The services Pub/Sub pushes to: the ones FLO_WORKER_INSTANCES starts more instances of."""
CLOUD_RUN_THREADS = "4"
"""functions-framework's production server (gunicorn, threaded workers) runs 4 threads per CPU; a Cloud Run
instance has one CPU, so each local instance gets the same 4 threads whatever this machine's core count."""


def _server_env(service: str, env: Mapping[str, str]) -> dict[str, str]:
    """How functions-framework's production server runs the service: gunicorn with THREADS threads in WORKERS
    processes. Each worker process is a separate instance (its own clients and memory) on the same port, so
    FLO_WORKER_INSTANCES=N puts N instances of each push worker behind its one push endpoint."""
    instances = env.get("FLO_WORKER_INSTANCES", "1") if service in PUSH_WORKERS else "1"
    if not instances.isdecimal() or int(instances) < 1:
        raise RuntimeError(f"FLO_WORKER_INSTANCES must be a whole number from 1, got {instances!r}")
    return {"WORKERS": instances, "THREADS": env.get("THREADS", CLOUD_RUN_THREADS)}


def _spawn_services(stack: Stack, topology: Topology, env: dict[str, str]) -> tuple[list[Wait], dict[str, str]]:
    """Every service as its own functions-framework server (never its debug server); their URLs by name."""
    venv_bin = Path(sys.executable).parent
    waits: list[Wait] = []
    service_urls: dict[str, str] = {}
    for service in topology.services:
        port = free_port()
        service_urls[service] = f"http://127.0.0.1:{port}"
        cmd = [
            str(venv_bin / "functions-framework"),
            "--target",
            "handle",
            "--source",
            str(ROOT / "services" / service / "main.py"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
        served = {**env, "FLO_SERVICE": service, **_server_env(service, env)}
        waits.append((f"{service_urls[service]}/health", stack.spawn(service, cmd, served, restartable=True)))
    return waits, service_urls


def _watch(stack: Stack, state_path: Path, state: Mapping[str, object]) -> None:
    """Block until a process of the stack dies for good (then stop everything) or the user interrupts;
    a restarted service's new process id is written to the state file."""
    _write_state(state_path, state, stack)
    while True:
        restarts = dict(stack.restarts)
        if stack.supervise():
            raise KeyboardInterrupt
        if stack.restarts != restarts:
            _write_state(state_path, state, stack)
        time.sleep(0.5)


def run(state_file: Path | None) -> int:
    started = time.monotonic()
    topology = load_topology()
    flo_port = int(os.environ.get("FLO_PORT", "8080"))
    if not port_free(flo_port):
        print(
            f"error: port {flo_port} (FLO_PORT) is already in use; stop what uses it or set FLO_PORT.", file=sys.stderr
        )
        return 2
    log_dir = ROOT / ".run" / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    stack = Stack(log_dir, restart_crashed=os.environ.get("FLO_RESTART_CRASHED") == "1")
    base_url = os.environ.get("FLO_BASE_URL") or f"http://127.0.0.1:{flo_port}"
    env = _stack_env(base_url)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)  # also when started in the background, where SIGINT is inherited ignored
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the gateway's per-request lines are noise here
    server = None
    relay: PushRelay | None = None
    try:
        firestore = start_emulator("firestore", PROJECT_ID, log_path=log_dir / "firestore.log")
        stack.processes.append(("firestore-emulator", firestore.process))
        pubsub = start_emulator("pubsub", PROJECT_ID, log_path=log_dir / "pubsub.log")
        stack.processes.append(("pubsub-emulator", pubsub.process))
        env["FIRESTORE_EMULATOR_HOST"] = firestore.host_port
        env["PUBSUB_EMULATOR_HOST"] = pubsub.host_port
        os.environ["PUBSUB_EMULATOR_HOST"] = pubsub.host_port

        waits = _spawn_sandbox(stack, env)
        mail_waits, mail_url = _spawn_mailsink(stack, env)
        service_waits, service_urls = _spawn_services(stack, topology, env)
        for url, process in [*waits, *mail_waits, *service_waits]:
            wait_http(url, timeout=30, process=process)
        push_url, push_proxied, relay = _wire_push(env, topology, service_urls)
        server = serve_gateway(Gateway(topology, service_urls, limiter_from_env(env)), flo_port)
        for job in topology.scheduler:
            threading.Thread(
                target=_scheduler_loop,
                args=(stack, service_urls[job.service] + job.path, job.local_interval_seconds),
                daemon=True,
            ).start()
        demo = _demo_creator(f"http://127.0.0.1:{flo_port}", base_url)
        state = {
            "demo": demo,
            "base_url": base_url,
            "services": service_urls,
            "provider_sandbox_url": env.get("PROVIDER_SANDBOX_URL"),
            "smtp": f"{env['SMTP_HOST']}:{env['SMTP_PORT']}",
            "mail_sink_url": mail_url,
            "firestore_emulator": firestore.host_port,
            "pubsub_emulator": pubsub.host_port,
            "project_id": PROJECT_ID,
            "logs": str(log_dir),
            "zoom_webhook_secret": env["ZOOM_WEBHOOK_SECRET"],
            "push_proxy_url": push_url("").rstrip("/") if push_proxied else None,
        }
        _print_summary(state, time.monotonic() - started)
        _watch(stack, state_file or ROOT / ".run" / "stack.json", state)
    except KeyboardInterrupt:
        return 0
    except (PrerequisiteError, TimeoutError, RuntimeError, OSError, ValueError, httpx.HTTPError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if relay is not None:
            relay.stop()
        stack.stop()
        if server is not None:
            server.shutdown()
        print("stopped every process of the local stack")
    return 0


DEMO_HOURS = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


def _demo_creator(gateway_url: str, base_url: str) -> dict[str, str]:
    """A ready-made creator (Pro plan, weekday hours, a free offer), so a newcomer can click through at once."""
    with httpx.Client(base_url=gateway_url, timeout=30) as http:
        made = http.post(
            "/api/dev/creators",
            json={
                "email": "demo-creator@example.com",
                "name": "Demo Creator",
                "plan": "pro",
                "timezone": "Europe/Berlin",
            },
        )
        made.raise_for_status()
        creator_id, token = made.json()["creator_id"], made.json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        http.put(
            "/api/settings/availability",
            headers=headers,
            json={"timezone": "Europe/Berlin", "weekly_hours": DEMO_HOURS},
        ).raise_for_status()
        offer = http.post(
            "/api/offers", headers=headers, json={"title": "Intro call", "duration_minutes": 30, "price_cents": 0}
        )
        offer.raise_for_status()
    query = urlencode({"token": token, "next": "/dashboard/bookings"})
    return {
        "creator_id": creator_id,
        "dashboard_url": f"{base_url}/dev/sign-in?{query}",
        "booking_page_url": f"{base_url}/book/{creator_id}/{offer.json()['offer_id']}",
    }


def _wire_push(
    env: Mapping[str, str], topology: Topology, service_urls: Mapping[str, str]
) -> tuple[Callable[[str], str], bool, PushRelay | None]:
    """Pub/Sub's way to the workers: the emulator's own push (through the chaos proxy when that is on), or the
    relay with FLO_PUSH_CONCURRENCY. Returns where pushes go, whether the proxy is in front, and the relay."""
    chaos = PushChaos.from_env(env)
    push_url = _push_targets(service_urls, chaos)
    concurrency = concurrency_from_env(env)
    ensure_topology(PROJECT_ID, topology, push_url, push=concurrency is None)
    if concurrency is None:
        return push_url, chaos is not None, None
    relay = PushRelay(PROJECT_ID, topology, push_url, concurrency)
    relay.start()
    return push_url, chaos is not None, relay


def _push_targets(service_urls: Mapping[str, str], chaos: PushChaos | None) -> Callable[[str], str]:
    """Where Pub/Sub pushes for a service go: the service itself, or the duplicating proxy in front of it."""
    if chaos is None:
        return service_urls.__getitem__
    port = free_port()
    serve_push_proxy(PushProxy(service_urls.__getitem__, chaos), port)
    return lambda service: f"http://127.0.0.1:{port}/{service}"


def _write_state(path: Path, state: Mapping[str, object], stack: Stack) -> None:
    """The stack's URLs, plus each process's id and restart count (rewritten after every restart)."""
    full = {**state, "pids": stack.pids(), "restarts": dict(stack.restarts)}
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(full, indent=2))
    temporary.replace(path)


def _scheduler_loop(stack: Stack, url: str, interval: float) -> None:
    """Local stand-in for Cloud Scheduler: POST the task route on a fixed interval."""
    with httpx.Client(timeout=30) as client:
        while not stack.stopping.wait(interval):
            try:
                client.post(url)
            except httpx.HTTPError:
                continue


def _print_summary(state: Mapping[str, object], seconds: float) -> None:
    print(f"Flo local stack ready in {seconds:.1f}s")
    print(f"  base URL (every route)  {state['base_url']}")
    services = state["services"]
    assert isinstance(services, dict)
    for name, url in services.items():
        print(f"  service {name:<16} {url}   health: {state['base_url']}/health/{name}")
    print(f"  provider sandbox        {state['provider_sandbox_url']}")
    print(f"  SMTP                    {state['smtp']}   mail sink: {state['mail_sink_url'] or '(external)'}")
    print(f"  Firestore emulator      {state['firestore_emulator']}")
    print(f"  Pub/Sub emulator        {state['pubsub_emulator']}")
    print(f"  logs                    {state['logs']}")
    demo = state["demo"]
    assert isinstance(demo, dict)
    print("Click through as the demo creator (signs this browser in), then as a fan:")
    print(f"  creator dashboard       {demo['dashboard_url']}")
    print(f"  public booking page     {demo['booking_page_url']}")
    print("Ctrl-C stops everything.", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--state-file", type=Path, help="write the stack's URLs here as JSON once it is ready")
    args = parser.parse_args()
    sys.exit(run(args.state_file))


if __name__ == "__main__":
    main()
