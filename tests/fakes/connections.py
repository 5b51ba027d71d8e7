"""In-memory twin of the connections port for unit tests: statuses set by the test, a fixed token per creator."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from shared.connections.port import ConnectionStatus, NotConnectedError
from shared.providers.errors import ErrorKind, Provider, ProviderError

T = TypeVar("T")


class FakeConnections:
    def __init__(self) -> None:
        self.statuses: dict[tuple[str, Provider], ConnectionStatus] = {}

    def connect(self, creator_id: str, provider: Provider) -> None:
        self.statuses[(creator_id, provider)] = "connected"

    def status(self, creator_id: str, provider: Provider) -> ConnectionStatus:
        return self.statuses.get((creator_id, provider), "not_connected")

    def read(self, creator_id: str, provider: Provider) -> _ReadConnection:
        return _ReadConnection(self, creator_id, provider, self.status(creator_id, provider))

    def with_token(self, creator_id: str, provider: Provider, call: Callable[[str], T]) -> T:
        status = self.status(creator_id, provider)
        if status != "connected":
            raise NotConnectedError(provider, status)
        try:
            return call(f"token-{provider}-{creator_id}")
        except ProviderError as exc:
            if exc.kind is ErrorKind.REVOKED:
                self.statuses[(creator_id, provider)] = "reconnect_required"
            raise


@dataclass(frozen=True)
class _ReadConnection:
    """The status as read; calls go through the fake's (or a subclass's) with_token."""

    connections: FakeConnections
    creator_id: str
    provider: Provider
    status: ConnectionStatus

    def with_token(self, call: Callable[[str], T]) -> T:
        return self.connections.with_token(self.creator_id, self.provider, call)
