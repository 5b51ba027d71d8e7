"""Starts and stops the Firestore and Pub/Sub emulators from the Google Cloud CLI on free loopback ports."""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

SDK_ROOT = Path("/usr/lib/google-cloud-sdk")


class PrerequisiteError(Exception):
    """A tool the emulators need is missing; the message names it and how to install it."""


def check_prerequisites() -> None:
    if shutil.which("java") is None:
        raise PrerequisiteError(
            "Java is missing: the emulators need Java 11+ (apt-get install openjdk-17-jre-headless)."
        )
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        raise PrerequisiteError(
            "The Google Cloud CLI is missing: install google-cloud-cli (https://cloud.google.com/sdk)."
        )
    root = Path(os.path.realpath(gcloud)).parent.parent
    for component, package in (
        ("cloud-firestore-emulator", "google-cloud-cli-firestore-emulator"),
        ("pubsub-emulator", "google-cloud-cli-pubsub-emulator"),
    ):
        if not (root / "platform" / component).exists():
            raise PrerequisiteError(
                f"The gcloud component {component} is missing: apt-get install {package}"
                f" (or gcloud components install {component.replace('cloud-', '')})."
            )


OUTGOING_PORT_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST_LISTEN_PORT = 20000
_handed_out: set[int] = set()
_handing_out = threading.Lock()


def port_free(port: int) -> bool:
    """Whether a server could bind this loopback port now."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A loopback port for a server about to start, never the same twice in this process.

    Not one from bind(0): those come from the kernel's range for outgoing connections' source ports, so a
    connection opened between the pick and the server's bind can take it (a start-up race seen under load).
    Ports below that range are only ever taken by a listener."""
    low, _ = (int(bound) for bound in OUTGOING_PORT_RANGE.read_text().split())
    with _handing_out:
        for _attempt in range(200):
            port = random.randrange(LOWEST_LISTEN_PORT, max(low, LOWEST_LISTEN_PORT + 1000))
            if port not in _handed_out and port_free(port):
                _handed_out.add(port)
                return port
    raise RuntimeError(f"no free loopback port between {LOWEST_LISTEN_PORT} and {low}")


def wait_http(url: str, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    """Wait until something answers at url; fail early if the process behind it died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process for {url} exited with code {process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing answered at {url} within {timeout:.0f}s")


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_process(process: subprocess.Popen[bytes], grace: float = 5) -> None:
    """Stop a process and everything it started (the emulators are gcloud wrappers around Java)."""
    pgid = process.pid
    if not _group_alive(pgid):
        process.poll()
        return
    os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while _group_alive(pgid) and time.monotonic() < deadline:
        process.poll()
        time.sleep(0.05)
    if _group_alive(pgid):
        os.killpg(pgid, signal.SIGKILL)
    process.wait()


@dataclass
class Emulator:
    name: str
    host_port: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        stop_process(self.process)


def start_emulator(kind: str, project_id: str, port: int = 0, log_path: Path | None = None) -> Emulator:
    """Start 'firestore' or 'pubsub' on 127.0.0.1 and wait until it answers."""
    check_prerequisites()
    host_port = f"127.0.0.1:{port or free_port()}"
    if kind == "firestore":
        cmd = ["gcloud", "emulators", "firestore", "start", f"--host-port={host_port}", "--quiet"]
    else:
        cmd = [
            "gcloud",
            "beta",
            "emulators",
            "pubsub",
            "start",
            f"--host-port={host_port}",
            f"--project={project_id}",
            "--quiet",
        ]
    out = log_path.open("ab") if log_path else subprocess.DEVNULL
    process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_http(f"http://{host_port}/", timeout=60, process=process)
    except BaseException:
        stop_process(process)
        raise
    return Emulator(kind, host_port, process)


def main() -> None:
    """`python -m devstack.emulators --check`: stop at once, naming what is missing."""
    import sys

    try:
        check_prerequisites()
    except PrerequisiteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
