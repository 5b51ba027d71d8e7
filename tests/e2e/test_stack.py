"""`make run` itself: a taken FLO_PORT is a clear error, and SIGINT/SIGTERM leave no process behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.stack_process import start_stack
from tests.e2e.flo import StackInfo


def _start(port: int, state_file: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in ("PROVIDER_SANDBOX_URL", "SMTP_HOST", "SMTP_PORT")}
    env["FLO_PORT"] = str(port)
    return subprocess.Popen(
        [sys.executable, "-m", "devstack.stack", "--state-file", str(state_file)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _listening(host_port: str) -> bool:
    host, port = host_port.replace("http://", "").rsplit(":", 1)
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, int(port))) == 0


def _processes_mentioning(needles: list[str]) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(needle in cmdline for needle in needles):
            found.append(cmdline)
    return found


def test_a_taken_port_is_a_clear_error(stack: StackInfo, tmp_path: Path) -> None:
    port = int(stack.base_url.rsplit(":", 1)[1])
    process = _start(port, tmp_path / "state.json")
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 2
    assert f"port {port} (FLO_PORT) is already in use" in output.decode()
    assert not (tmp_path / "state.json").exists()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_every_process_of_the_stack(tmp_path: Path, signum: int) -> None:
    running = start_stack(tmp_path)
    state = running.state
    addresses = [
        state["base_url"],
        *state["services"].values(),
        state["provider_sandbox_url"],
        state["mail_sink_url"],
        state["firestore_emulator"],
        state["pubsub_emulator"],
    ]
    assert all(_listening(address) for address in addresses)
    ports = [address.rsplit(":", 1)[1] for address in addresses]

    running.process.send_signal(signum)
    assert running.process.wait(timeout=60) == 0, running.log.read_text()[-2000:]
    assert "stopped every process of the local stack" in running.log.read_text()
    assert not [a for a in addresses if _listening(a)], "something still listens after the stop"
    assert _processes_mentioning([f"--port {p}" for p in ports] + [f"--port={p}" for p in ports]) == []
