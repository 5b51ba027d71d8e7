"""Creators' connections kept in the document store with their tokens sealed by the Vault, refreshed single-flight.

Zoom rotates the refresh token on every refresh, so two instances refreshing at once would leave
one holding a dead token and log the creator out. A lease document (created with `create`, so
exactly one caller wins) makes one caller refresh while the others poll the connection until its
`token_version` moves on. Plain creates and updates are used instead of contended transactions,
which the emulator serialises slowly.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, TypeVar

from shared.clock import Clock
from shared.connections.port import ConnectionStatus, NotConnectedError
from shared.providers.errors import ErrorKind, Provider, ProviderError, retry_once_after_refresh
from shared.providers.models import TokenSet
from shared.providers.ports import OAuthProvider
from shared.store.lease import release_lease, take_lease
from shared.store.port import Doc, DocStore, Txn, Where, delete, put, update
from shared.vault import Sealed, Vault, connection_aad

log = logging.getLogger(__name__)

T = TypeVar("T")
CONNECTIONS = "connections"
LEASES = "leases"
ReconnectReason = Literal["refresh_refused", "access_revoked", "app_deauthorized"]
_TOKEN_FIELDS = ("access_token", "refresh_token")


def connection_id(creator_id: str, provider: str) -> str:
    return f"{creator_id}_{provider}"


@dataclass(frozen=True)
class ConnectionInfo:
    """What a tile shows about a connection; never holds a token."""

    provider: Provider
    status: ConnectionStatus
    account_email: str | None
    connected_at: datetime | None
    reconnect_reason: str | None
    reconnect_required_at: datetime | None


Stamp = tuple[str, int]
"""(generation, token_version): which grant and which refresh of it a token came from."""


@dataclass(frozen=True)
class _Record:
    status: ConnectionStatus
    generation: str
    token_version: int
    tokens: TokenSet | None

    @property
    def stamp(self) -> Stamp:
        return self.generation, self.token_version


@dataclass(frozen=True)
class RefreshPolicy:
    """How long a lease lives (a crashed holder blocks others no longer) and how losers wait."""

    margin: timedelta = timedelta(minutes=5)
    lease_ttl: timedelta = timedelta(seconds=30)
    poll_seconds: float = 0.05
    max_polls: int = 800  # 40 s of polling: longer than a lease, so a crashed holder's lease is taken over


class DocStoreConnections:
    """The Connections port over a DocStore; also what the connect service uses to store and remove connections."""

    def __init__(
        self,
        store: DocStore,
        vault: Vault,
        oauth: Mapping[str, OAuthProvider],
        clock: Clock,
        policy: RefreshPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._store = store
        self._vault = vault
        self._oauth = oauth
        self._clock = clock
        self._policy = policy or RefreshPolicy()
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"DocStoreConnections({self._vault!r})"

    # ---- reading ------------------------------------------------------------------------------------

    def info(self, creator_id: str, provider: Provider) -> ConnectionInfo | None:
        doc = self._store.get(CONNECTIONS, connection_id(creator_id, provider))
        if doc is None:
            return None
        return ConnectionInfo(
            provider=provider,
            status=doc["status"],
            account_email=doc.get("account_email"),
            connected_at=doc.get("connected_at"),
            reconnect_reason=doc.get("reconnect_reason"),
            reconnect_required_at=doc.get("reconnect_required_at"),
        )

    def status(self, creator_id: str, provider: Provider) -> ConnectionStatus:
        found = self.info(creator_id, provider)
        return "not_connected" if found is None else found.status

    def _record(self, creator_id: str, provider: Provider) -> _Record | None:
        doc = self._store.get(CONNECTIONS, connection_id(creator_id, provider))
        if doc is None:
            return None
        tokens = None
        if doc.get("access_token") and doc.get("refresh_token"):
            aad = connection_aad(creator_id, provider)
            tokens = TokenSet(
                access_token=self._vault.decrypt(Sealed.from_dict(doc["access_token"]), aad),
                refresh_token=self._vault.decrypt(Sealed.from_dict(doc["refresh_token"]), aad),
                expires_at=doc["expires_at"],
                scopes=frozenset(doc.get("scopes", ())),
            )
        return _Record(doc["status"], doc["generation"], int(doc["token_version"]), tokens)

    def _usable(self, creator_id: str, provider: Provider) -> tuple[_Record, TokenSet]:
        record = self._record(creator_id, provider)
        if record is None:
            raise NotConnectedError(provider, "not_connected")
        if record.status != "connected" or record.tokens is None:
            raise NotConnectedError(provider, "reconnect_required")
        return record, record.tokens

    # ---- writing ------------------------------------------------------------------------------------

    def _sealed(self, creator_id: str, provider: Provider, tokens: TokenSet) -> Doc:
        aad = connection_aad(creator_id, provider)
        return {
            "access_token": self._vault.encrypt(tokens.access_token, aad).to_dict(),
            "refresh_token": self._vault.encrypt(tokens.refresh_token, aad).to_dict(),
            "key_version": self._vault.current_version,
            "expires_at": tokens.expires_at,
            "scopes": sorted(tokens.scopes),
        }

    def save(
        self,
        creator_id: str,
        provider: Provider,
        tokens: TokenSet,
        account_email: str | None,
        zoom_user_id: str | None = None,
    ) -> None:
        """Store a fresh connection, replacing any earlier one (a reconnect clears reconnect_required)."""
        doc: Doc = {
            "creator_id": creator_id,
            "provider": provider,
            "status": "connected",
            "account_email": account_email,
            "zoom_user_id": zoom_user_id,
            "connected_at": self._clock.now(),
            "generation": secrets.token_hex(8),
            "token_version": 1,
            "reconnect_reason": None,
            "reconnect_required_at": None,
            **self._sealed(creator_id, provider, tokens),
        }
        self._store.commit([put(CONNECTIONS, connection_id(creator_id, provider), doc)])
        log.info("connection stored", extra={"creator_id": creator_id, "provider": provider})

    def remove(self, creator_id: str, provider: Provider) -> None:
        """Revoke the grant at the provider (best effort: the row goes either way) and delete the connection."""
        record = self._record(creator_id, provider)
        if record is None:
            return
        if record.tokens is not None:
            try:
                self._oauth[provider].revoke(record.tokens.refresh_token)
            except ProviderError as exc:
                log.warning(
                    "revoking at the provider failed; removing the connection anyway",
                    extra={"creator_id": creator_id, "provider": provider, "kind": exc.kind.value},
                )
        self._store.commit([delete(CONNECTIONS, connection_id(creator_id, provider))])
        log.info("connection removed", extra={"creator_id": creator_id, "provider": provider})

    def _mark_reconnect_required(self, creator_id: str, provider: Provider, reason: ReconnectReason) -> None:
        """Drop the dead tokens and say why; a connection already marked keeps its first reason and time."""
        doc = self._store.get(CONNECTIONS, connection_id(creator_id, provider))
        if doc is None or doc["status"] != "connected":
            return
        self._store.commit([update(CONNECTIONS, connection_id(creator_id, provider), self._broken(reason))])
        log.warning("connection needs reconnecting", extra={"creator_id": creator_id, "provider": provider})

    def _broken(self, reason: ReconnectReason) -> Doc:
        return {
            "status": "reconnect_required",
            "reconnect_reason": reason,
            "reconnect_required_at": self._clock.now(),
            **dict.fromkeys(_TOKEN_FIELDS),
        }

    def deauthorize_zoom(self, zoom_user_id: str) -> int:
        """Zoom says the creator removed the app: forget the tokens, show Reconnect required. Returns rows changed."""
        rows = self._store.query(
            CONNECTIONS, [Where("provider", "==", "zoom"), Where("zoom_user_id", "==", zoom_user_id)]
        )
        writes = [update(CONNECTIONS, doc_id, self._broken("app_deauthorized")) for doc_id, _ in rows]
        if writes:
            self._store.commit(writes)
        for _, doc in rows:
            log.info("zoom app deauthorized", extra={"creator_id": doc.get("creator_id")})
        return len(writes)

    # ---- using --------------------------------------------------------------------------------------

    def with_token(self, creator_id: str, provider: Provider, call: Callable[[str], T]) -> T:
        record, tokens = self._usable(creator_id, provider)
        stamp, access = record.stamp, tokens.access_token
        if tokens.expires_soon(self._clock.now(), self._policy.margin):
            stamp, access = self._refresh(creator_id, provider, stamp)

        def refresh_after_refusal() -> str:
            return self._refresh(creator_id, provider, stamp)[1]

        try:
            return retry_once_after_refresh(call, access, refresh_after_refusal)
        except ProviderError as exc:
            if exc.kind is ErrorKind.REVOKED:
                self._mark_reconnect_required(creator_id, provider, "access_revoked")
            raise

    def _refresh(self, creator_id: str, provider: Provider, seen: Stamp) -> tuple[Stamp, str]:
        """A token newer than the `seen` one: someone else's, or one this caller refreshes under the lease."""
        for _ in range(self._policy.max_polls):
            record, tokens = self._usable(creator_id, provider)
            if record.stamp != seen:
                return record.stamp, tokens.access_token
            holder = self._take_lease(creator_id, provider)
            if holder is not None:
                try:
                    return self._refresh_holding_lease(creator_id, provider, seen)
                finally:
                    self._release_lease(creator_id, provider, holder)
            self._sleep(self._policy.poll_seconds)
        raise ProviderError(
            ErrorKind.TRANSIENT, provider, None, None, "another instance's token refresh did not finish"
        )

    def _refresh_holding_lease(self, creator_id: str, provider: Provider, seen: Stamp) -> tuple[Stamp, str]:
        # Read again under the lease: a holder that just finished may have refreshed already.
        record, tokens = self._usable(creator_id, provider)
        if record.stamp != seen:
            return record.stamp, tokens.access_token
        try:
            fresh = self._oauth[provider].refresh(tokens.refresh_token)
        except ProviderError as exc:
            if exc.kind is ErrorKind.REVOKED:
                self._mark_reconnect_required(creator_id, provider, "refresh_refused")
            raise
        version = record.token_version + 1
        changes = {**self._sealed(creator_id, provider, fresh), "token_version": version}
        doc_id = connection_id(creator_id, provider)

        def store_unless_replaced(txn: Txn) -> bool:
            # A reconnect during the refresh wins: its tokens are the creator's latest grant.
            current = txn.get(CONNECTIONS, doc_id)
            if current is None or current["generation"] != record.generation:
                return False
            txn.write(update(CONNECTIONS, doc_id, changes))
            return True

        if not self._store.transaction(store_unless_replaced):
            record, tokens = self._usable(creator_id, provider)
            return record.stamp, tokens.access_token
        log.info("access token refreshed", extra={"creator_id": creator_id, "provider": provider})
        return (record.generation, version), fresh.access_token

    def _take_lease(self, creator_id: str, provider: Provider) -> str | None:
        return take_lease(self._store, _lease_id(creator_id, provider), self._clock.now(), self._policy.lease_ttl)

    def _release_lease(self, creator_id: str, provider: Provider, holder: str) -> None:
        release_lease(self._store, _lease_id(creator_id, provider), holder)


def _lease_id(creator_id: str, provider: str) -> str:
    return f"refresh-{creator_id}-{provider}"
