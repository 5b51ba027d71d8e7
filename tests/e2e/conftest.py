"""The whole local stack (`python -m devstack.stack`, what `make run` starts), once per test session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from devstack.stack_process import start_stack
from tests.e2e.browser import chromium
from tests.e2e.flo import Flo, StackInfo

E2E_ENV = {
    "CONFIRMATION_GRACE_SECONDS": "6",
    "LINK_DEADLINE_SECONDS": "25",
    "PAYMENT_HOLD_MINUTES": "15",
    # Off for the shared stack (the fuzzer alone sends thousands of requests from one IP); the limiter's own
    # test runs a gateway of its own with a low limit.
    "FLO_RATE_LIMIT_PER_MINUTE": "0",
}


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackInfo]:
    running = start_stack(tmp_path_factory.mktemp("stack"), E2E_ENV)
    info = StackInfo.from_json(running.state, running.log)
    try:
        yield info
    finally:
        info.exit_code = running.stop()


@pytest.fixture
def flo(stack: StackInfo) -> Iterator[Flo]:
    client = Flo(stack)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with chromium() as running:
        yield running
