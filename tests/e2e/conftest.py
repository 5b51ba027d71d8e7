"""The whole local stack (`python -m devstack.stack`, what `make run` starts), once per test session."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.emulators import free_port
from tests.e2e.flo import Flo, StackInfo

E2E_ENV = {
    "CONFIRMATION_GRACE_SECONDS": "4",
    "LINK_DEADLINE_SECONDS": "25",
    "PAYMENT_HOLD_MINUTES": "15",
}


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackInfo]:
    workdir = tmp_path_factory.mktemp("stack")
    state_file = workdir / "stack.json"
    env = {k: v for k, v in os.environ.items() if k not in ("PROVIDER_SANDBOX_URL", "SMTP_HOST", "SMTP_PORT")}
    env.update(E2E_ENV, FLO_PORT=str(free_port()))
    log = (workdir / "stack.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack.stack", "--state-file", str(state_file)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while not state_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(
                f"the local stack did not start; see {workdir / 'stack.log'}:\n"
                + (workdir / "stack.log").read_text()[-3000:]
            )
        time.sleep(0.2)
    info = StackInfo.from_json(json.loads(state_file.read_text()), Path(workdir / "stack.log"))
    try:
        yield info
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        info.exit_code = process.returncode


@pytest.fixture
def flo(stack: StackInfo) -> Iterator[Flo]:
    client = Flo(stack)
    try:
        yield client
    finally:
        client.close()
