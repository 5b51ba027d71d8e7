"""One in-process sandbox per test session; every test starts from a reset sandbox."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from devstack.sandbox import SandboxServer, serve_in_thread
from devstack.sandbox.client import SandboxControl
from tests.integration.sandbox.helpers import ZoomTokens, zoom_connect


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxServer]:
    server = serve_in_thread()
    yield server
    server.stop()


@pytest.fixture
def base_url(sandbox_server: SandboxServer) -> str:
    return sandbox_server.url


@pytest.fixture
def control(sandbox_server: SandboxServer) -> Iterator[SandboxControl]:
    with SandboxControl(sandbox_server.url) as ctl:
        ctl.reset()
        yield ctl


@pytest.fixture
def http(control: SandboxControl) -> Iterator[httpx.Client]:
    """A plain client; depends on `control` so the sandbox is reset first."""
    with httpx.Client(timeout=10.0) as client:
        yield client


@pytest.fixture
def zoom(http: httpx.Client, base_url: str) -> ZoomTokens:
    return zoom_connect(http, base_url, "host@example.com")
