"""Clients for the sandbox tests; the sandbox and its reset `control` come from tests/integration/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from devstack.sandbox import SandboxServer
from devstack.sandbox.client import SandboxControl
from tests.integration.sandbox.helpers import ZoomTokens, zoom_connect


@pytest.fixture
def base_url(sandbox_server: SandboxServer) -> str:
    return sandbox_server.url


@pytest.fixture
def http(control: SandboxControl) -> Iterator[httpx.Client]:
    """A plain client; depends on `control` so the sandbox is reset first."""
    with httpx.Client(timeout=10.0) as client:
        yield client


@pytest.fixture
def zoom(http: httpx.Client, base_url: str) -> ZoomTokens:
    return zoom_connect(http, base_url, "host@example.com")
