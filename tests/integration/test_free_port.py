"""The stack's ports for its servers: never from the range the kernel gives outgoing connections, never twice."""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator

import pytest

from devstack.emulators import OUTGOING_PORT_RANGE, free_port


def outgoing_range() -> tuple[int, int]:
    low, high = (int(bound) for bound in OUTGOING_PORT_RANGE.read_text().split())
    return low, high


def test_ports_are_below_the_outgoing_range_and_never_handed_out_twice() -> None:
    ports = [free_port() for _ in range(100)]
    assert len(set(ports)) == len(ports)
    assert max(ports) < outgoing_range()[0]


def test_an_outgoing_connections_source_port_is_not_in_the_range_ports_come_from() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server, socket.create_connection(server.getsockname()) as client:
        source_port = client.getsockname()[1]
    low, high = outgoing_range()
    assert low <= source_port <= high


@pytest.fixture
def listener() -> Iterator[int]:
    with socket.create_server(("127.0.0.1", free_port())) as server:
        yield server.getsockname()[1]


def test_a_port_something_listens_on_is_passed_over(listener: int, monkeypatch: pytest.MonkeyPatch) -> None:
    picks = iter([listener, listener + 1])
    monkeypatch.setattr(random, "randrange", lambda *_: next(picks))
    assert free_port() == listener + 1
