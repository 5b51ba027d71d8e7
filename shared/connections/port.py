"""The port the workers use to talk to a creator's Zoom or Google: they never see how tokens are kept."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, Protocol, TypeVar

from shared.providers.errors import Provider

T = TypeVar("T")
ConnectionStatus = Literal["not_connected", "connected", "reconnect_required"]


class NotConnectedError(Exception):
    """The creator has no usable connection to this provider (never connected, removed, or needs reconnecting)."""

    def __init__(self, provider: Provider, status: ConnectionStatus) -> None:
        super().__init__(f"{provider} is {status.replace('_', ' ')}")
        self.provider = provider
        self.status = status


class Connection(Protocol):
    """A creator's connection to one provider as one read found it: for a caller that checks the status and then
    calls the provider (a reconcile), so the status and the token come from that one read."""

    @property
    def status(self) -> ConnectionStatus: ...

    def with_token(self, call: Callable[[str], T]) -> T:
        """As Connections.with_token, starting from this read's token and then the one that last worked: a
        refused token is refreshed, or the connection marked for reconnecting, just as there."""
        ...


class Connections(Protocol):
    def status(self, creator_id: str, provider: Provider) -> ConnectionStatus: ...

    def read(self, creator_id: str, provider: Provider) -> Connection:
        """The connection read once, for its status and for calls with its token."""
        ...

    def with_token(self, creator_id: str, provider: Provider, call: Callable[[str], T]) -> T:
        """Run `call` with a valid access token, refreshing first when it is about to expire and once more
        after the provider refuses it. Raises NotConnectedError without a usable connection, and
        ProviderError(REVOKED) after turning the connection to reconnect_required."""
        ...
