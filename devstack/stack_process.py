"""The local stack as a child process, for the e2e tests and the benchmarks: started on a free port with
its own sandbox and mail sink, and stopped the way Ctrl-C stops `make run`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.emulators import free_port

ROOT = Path(__file__).resolve().parent.parent
STATE_FILE = "stack.json"


@dataclass
class RunningStack:
    process: subprocess.Popen[bytes]
    state: dict[str, Any]
    log: Path

    def service_pid(self, service: str) -> int:
        """The service's process id now: the stack rewrites its state file when it restarts one."""
        pids: dict[str, int] = json.loads(self.log.with_name(STATE_FILE).read_text())["pids"]
        return pids[service]

    def restarts(self) -> dict[str, int]:
        restarts: dict[str, int] = json.loads(self.log.with_name(STATE_FILE).read_text())["restarts"]
        return restarts

    def stop(self) -> int:
        """SIGINT, as Ctrl-C; the stack then stops every process it started."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        return self.process.returncode


def start_stack(workdir: Path, env_overrides: Mapping[str, str] | None = None, timeout: float = 120) -> RunningStack:
    """Start `python -m devstack.stack` and wait until it has written its state file."""
    state_file, log = workdir / STATE_FILE, workdir / "stack.log"
    env = {k: v for k, v in os.environ.items() if k not in ("PROVIDER_SANDBOX_URL", "SMTP_HOST", "SMTP_PORT")}
    env.update(env_overrides or {})
    env.setdefault("FLO_PORT", str(free_port()))
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack.stack", "--state-file", str(state_file)],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
        cwd=ROOT,
    )
    deadline = time.monotonic() + timeout
    while not state_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            RunningStack(process, {}, log).stop()
            raise RuntimeError(f"the local stack did not start; {log}:\n" + log.read_text()[-3000:])
        time.sleep(0.2)
    return RunningStack(process, dict(json.loads(state_file.read_text())), log)
