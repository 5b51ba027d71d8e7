"""Real Firestore and Pub/Sub emulators, started once per test session on free ports and always stopped."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from devstack.emulators import start_emulator
from devstack.sandbox import SandboxServer, serve_in_thread
from devstack.sandbox.client import SandboxControl
from shared.store.firestore import FirestoreDocStore
from tests.fakes.emulator import wipe_firestore_emulator

PROJECT_ID = "flo-test"


@pytest.fixture(scope="session")
def emulators() -> Iterator[dict[str, str]]:
    firestore = start_emulator("firestore", PROJECT_ID)
    try:
        pubsub = start_emulator("pubsub", PROJECT_ID)
    except BaseException:
        firestore.stop()
        raise
    saved = {k: os.environ.get(k) for k in ("FIRESTORE_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST")}
    os.environ["FIRESTORE_EMULATOR_HOST"] = firestore.host_port
    os.environ["PUBSUB_EMULATOR_HOST"] = pubsub.host_port
    try:
        yield {"firestore": firestore.host_port, "pubsub": pubsub.host_port, "project_id": PROJECT_ID}
    finally:
        firestore.stop()
        pubsub.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def firestore_store(emulators: dict[str, str]) -> FirestoreDocStore:
    """A Firestore store on the emulator, emptied before each test."""
    store = FirestoreDocStore(PROJECT_ID)
    wipe_firestore_emulator(PROJECT_ID)
    return store


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxServer]:
    """One in-process provider sandbox per test session."""
    server = serve_in_thread()
    yield server
    server.stop()


@pytest.fixture
def control(sandbox_server: SandboxServer) -> Iterator[SandboxControl]:
    """The sandbox's control API, with the sandbox reset so every test starts clean."""
    with SandboxControl(sandbox_server.url) as ctl:
        ctl.reset()
        yield ctl
