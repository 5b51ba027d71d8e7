"""Creators' connections kept in the document store with their tokens sealed by the Vault, refreshed single-flight.

Zoom rotates the refresh token on every refresh, so two instances refreshing at once would leave
one holding a dead token and log the creator out. A lease document (created with `create`, so
exactly one caller wins) makes one caller refresh while the others poll the connection until its
`token_version` moves on. The lease outlives the holder's worst refresh call, and every write made
under it is fenced (see shared/store/lease.py); each write is also conditional on the (generation,
token_version) its tokens came from, so nothing stale lands on a connection that moved on. Waiters
poll with plain reads, never contended transactions, which the emulator serialises slowly.
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
from shared.connections.port import Connection, ConnectionStatus, NotConnectedError
from shared.providers._http import PROVIDER_CALL_WORST_SECONDS
from shared.providers.errors import ErrorKind, Provider, ProviderError, retry_once_after_refresh
from shared.providers.models import TokenSet
from shared.providers.ports import OAuthProvider
from shared.store.lease import Lease, LeaseLost, release_lease, take_lease
from shared.store.port import Doc, DocStore, Txn, Where, delete, put, update
from shared.vault import Sealed, Vault, connection_aad

log = logging.getLogger(__name__)

T = TypeVar("T")
CONNECTIONS = "connections"
LEASES = "leases"
ReconnectReason = Literal["refresh_refused", "access_revoked", "app_deauthorized"]
Replaced = Literal["nothing", "same_account", "other_account"]
"""What a new connection replaced: none, a grant of the same provider account, or another account's."""
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


@dataclass(frozen=True)
class BrokenConnection:
    """A break the creator is owed one email about: the grant (generation) that broke, and why."""

    creator_id: str
    provider: Provider
    generation: str
    reason: str


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


REFRESH_LEASE = timedelta(seconds=PROVIDER_CALL_WORST_SECONDS + 10)
"""The holder's work: one token call (at worst PROVIDER_CALL_WORST_SECONDS = 3 x 10 s: connect, send, read)
plus its reads and the fenced write (10 s of slack for the store) = 40 s. A live holder never outlasts it."""
REFRESH_POLL_SECONDS = 0.05
REFRESH_MAX_POLLS = int((REFRESH_LEASE.total_seconds() + 5) / REFRESH_POLL_SECONDS)
"""Waiters poll 45 s: a holder finishes within the 40 s lease, and a crashed holder's lease is taken over."""


@dataclass(frozen=True)
class RefreshPolicy:
    """How long a lease lives (a crashed holder blocks others no longer) and how losers wait."""

    margin: timedelta = timedelta(minutes=5)
    lease_ttl: timedelta = REFRESH_LEASE
    poll_seconds: float = REFRESH_POLL_SECONDS
    max_polls: int = REFRESH_MAX_POLLS


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
        return _usable_tokens(self._record(creator_id, provider), provider)

    def read(self, creator_id: str, provider: Provider) -> Connection:
        return _ReadConnection(self, creator_id, provider, self._record(creator_id, provider))

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
    ) -> Replaced:
        """Store a fresh connection, replacing any earlier one (a reconnect clears reconnect_required). The grant
        it replaces is revoked when it was another account's: the same account's grant is the one just given
        (revoking it at Zoom or Google would end the new connection too). Says what it replaced."""
        earlier = self._store.get(CONNECTIONS, connection_id(creator_id, provider))
        replaced = self._record(creator_id, provider) if earlier is not None else None
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
        other_account = earlier is not None and _account(earlier) != _account(doc)
        if other_account and replaced is not None and replaced.tokens is not None:
            self._revoke_quietly(creator_id, provider, replaced.tokens.refresh_token)
        return "nothing" if earlier is None else "other_account" if other_account else "same_account"

    def _revoke_quietly(self, creator_id: str, provider: Provider, refresh_token: str) -> None:
        """Hand a grant back at the provider; failing that only leaves an unused grant, so it is logged."""
        try:
            self._oauth[provider].revoke(refresh_token)
        except ProviderError as exc:
            log.warning(
                "revoking at the provider failed",
                extra={"creator_id": creator_id, "provider": provider, "kind": exc.kind.value},
            )

    def remove(self, creator_id: str, provider: Provider) -> None:
        """Revoke the grant at the provider (best effort: the row goes either way) and delete the connection."""
        record = self._record(creator_id, provider)
        if record is None:
            return
        if record.tokens is not None:
            self._revoke_quietly(creator_id, provider, record.tokens.refresh_token)  # the row goes either way
        self._store.commit([delete(CONNECTIONS, connection_id(creator_id, provider))])
        log.info("connection removed", extra={"creator_id": creator_id, "provider": provider})

    def _mark_reconnect_required(
        self, creator_id: str, provider: Provider, reason: ReconnectReason, seen: Stamp, lease: Lease | None = None
    ) -> None:
        """Drop the dead tokens and say why, only if the connection still holds the tokens that failed (the
        `seen` stamp): a reconnect or another instance's refresh meanwhile means they are not the live ones.
        Under a lease, also only while the lease is still ours. A connection already marked keeps its first
        reason and time."""
        doc_id = connection_id(creator_id, provider)

        def mark_if_unchanged(txn: Txn) -> bool:
            if lease is not None:
                lease.check(txn.get)
            current = txn.get(CONNECTIONS, doc_id)
            if current is None or current["status"] != "connected":
                return False
            if (current["generation"], int(current["token_version"])) != seen:
                return False
            txn.write(update(CONNECTIONS, doc_id, self._broken(reason)))
            return True

        if self._store.transaction(mark_if_unchanged):
            log.warning("connection needs reconnecting", extra={"creator_id": creator_id, "provider": provider})

    def _broken(self, reason: ReconnectReason) -> Doc:
        # No expiry either: the ahead-of-time refresh looks for connections by it, and these have nothing to refresh.
        return {
            "status": "reconnect_required",
            "reconnect_reason": reason,
            "reconnect_required_at": self._clock.now(),
            "expires_at": None,
            "broken_mail_due": True,
            **dict.fromkeys(_TOKEN_FIELDS),
        }

    def deauthorize_zoom(self, zoom_user_id: str, *, erase: bool = False) -> list[str]:
        """Zoom says the creator removed the app: forget the tokens, show Reconnect required (with `erase`, Zoom's
        user_data_retention false, also the account's email, user id and scopes). Returns the creators changed.
        Each row is changed only if it is still the grant that was read: a reconnect meanwhile is a new grant."""
        rows = self._store.query(
            CONNECTIONS, [Where("provider", "==", "zoom"), Where("zoom_user_id", "==", zoom_user_id)]
        )
        changes = self._broken("app_deauthorized")
        if erase:
            changes |= {"account_email": None, "zoom_user_id": None, "scopes": []}  # _broken clears expires_at
        changed: list[str] = []
        for doc_id, doc in rows:

            def break_if_same_grant(txn: Txn, doc_id: str = doc_id, generation: str = doc["generation"]) -> bool:
                current = txn.get(CONNECTIONS, doc_id)
                if current is None or current["generation"] != generation:
                    return False
                txn.write(update(CONNECTIONS, doc_id, changes))
                return True

            if self._store.transaction(break_if_same_grant):
                changed.append(str(doc["creator_id"]))
                log.info("zoom app deauthorized", extra={"creator_id": doc.get("creator_id"), "erased": erase})
        return changed

    # ---- telling the creator ------------------------------------------------------------------------

    def broken_mail_due(self, limit: int) -> list[BrokenConnection]:
        """Connections that turned Reconnect required and whose creator has not been emailed about it yet."""
        rows = self._store.query(CONNECTIONS, [Where("broken_mail_due", "==", True)], limit=limit)
        return [
            BrokenConnection(
                str(doc["creator_id"]),
                doc["provider"],
                str(doc["generation"]),
                str(doc.get("reconnect_reason") or ""),
            )
            for _, doc in rows
            if doc.get("status") == "reconnect_required"
        ]

    def broken_mail_sent(self, broken: BrokenConnection) -> None:
        """The creator was told about this break; a reconnect meanwhile (a new grant) is left as it is."""
        doc_id = connection_id(broken.creator_id, broken.provider)

        def clear_if_same_grant(txn: Txn) -> None:
            current = txn.get(CONNECTIONS, doc_id)
            if current is not None and current["generation"] == broken.generation:
                txn.write(update(CONNECTIONS, doc_id, {"broken_mail_due": False}))

        self._store.transaction(clear_if_same_grant)

    # ---- refreshing ahead ---------------------------------------------------------------------------

    def refresh_expiring(self, horizon: timedelta, limit: int) -> dict[str, int]:
        """Refresh every connection whose access token expires within `horizon` (the scheduler's tick), single-
        flight like any other refresh, so a revoked or lapsed grant turns Reconnect required within minutes,
        not at the next booking, and Zoom's refresh token is used every hour instead of lapsing unused."""
        now = self._clock.now()
        counts = {"tokens_refreshed": 0, "tokens_refused": 0, "tokens_failed": 0}
        for doc_id, doc in self._store.query(CONNECTIONS, [Where("expires_at", "<=", now + horizon)], limit=limit):
            creator_id, provider = str(doc["creator_id"]), doc["provider"]
            try:
                record, tokens = self._usable(creator_id, provider)
                if tokens.expires_soon(now, horizon):
                    self._refresh(creator_id, provider, record.stamp)
                    counts["tokens_refreshed"] += 1
            except NotConnectedError:
                continue  # removed or broken meanwhile
            except ProviderError as exc:
                key = "tokens_refused" if exc.kind is ErrorKind.REVOKED else "tokens_failed"
                counts[key] += 1
                log.warning("ahead-of-time refresh failed", extra={"connection": doc_id, "kind": exc.kind.value})
        return counts

    # ---- using --------------------------------------------------------------------------------------

    def with_token(self, creator_id: str, provider: Provider, call: Callable[[str], T]) -> T:
        return self.read(creator_id, provider).with_token(call)

    def _first_token(self, creator_id: str, provider: Provider, record: _Record | None) -> tuple[Stamp, str]:
        """The read's token, refreshed first when it is about to expire."""
        record, tokens = _usable_tokens(record, provider)
        if tokens.expires_soon(self._clock.now(), self._policy.margin):
            return self._refresh(creator_id, provider, record.stamp)
        return record.stamp, tokens.access_token

    def _refresh(self, creator_id: str, provider: Provider, seen: Stamp) -> tuple[Stamp, str]:
        """A token newer than the `seen` one: someone else's, or one this caller refreshes under the lease."""
        for _ in range(self._policy.max_polls):
            record, tokens = self._usable(creator_id, provider)
            if record.stamp != seen:
                return record.stamp, tokens.access_token
            lease = self._take_lease(creator_id, provider)
            if lease is not None:
                try:
                    return self._refresh_holding_lease(creator_id, provider, seen, lease)
                except LeaseLost:
                    log.warning("refresh lease lost to another instance", extra={"creator_id": creator_id})
                    raise ProviderError(
                        ErrorKind.TRANSIENT, provider, None, None, "the token refresh outlasted its lease"
                    ) from None
                finally:
                    release_lease(self._store, lease)
            self._sleep(self._policy.poll_seconds)
        raise ProviderError(
            ErrorKind.TRANSIENT, provider, None, None, "another instance's token refresh did not finish"
        )

    def _refresh_holding_lease(
        self, creator_id: str, provider: Provider, seen: Stamp, lease: Lease
    ) -> tuple[Stamp, str]:
        # Read again under the lease: a holder that just finished may have refreshed already.
        record, tokens = self._usable(creator_id, provider)
        if record.stamp != seen:
            return record.stamp, tokens.access_token
        try:
            fresh = self._oauth[provider].refresh(tokens.refresh_token)
        except ProviderError as exc:
            if exc.kind is ErrorKind.REVOKED:
                self._mark_reconnect_required(creator_id, provider, "refresh_refused", record.stamp, lease)
            raise
        version = record.token_version + 1
        changes = {**self._sealed(creator_id, provider, fresh), "token_version": version}
        doc_id = connection_id(creator_id, provider)

        def store_unless_replaced(txn: Txn) -> bool:
            # Fenced: a holder that outlasted its lease writes nothing. A reconnect during the refresh wins:
            # its tokens are the creator's latest grant.
            lease.check(txn.get)
            current = txn.get(CONNECTIONS, doc_id)
            if current is None or current["status"] != "connected":
                return False
            if (current["generation"], int(current["token_version"])) != record.stamp:
                return False
            txn.write(update(CONNECTIONS, doc_id, changes))
            return True

        if not self._store.transaction(store_unless_replaced):
            record, tokens = self._usable(creator_id, provider)
            return record.stamp, tokens.access_token
        log.info("access token refreshed", extra={"creator_id": creator_id, "provider": provider})
        return (record.generation, version), fresh.access_token

    def _take_lease(self, creator_id: str, provider: Provider) -> Lease | None:
        return take_lease(self._store, _lease_id(creator_id, provider), self._clock.now(), self._policy.lease_ttl)


class _ReadConnection:
    """DocStoreConnections' Connection: the status and the token of one read, and then the token that last worked
    (or was refreshed to), so a caller's later calls read the connection no more. A refused token is refreshed
    under the single-flight lease, or the connection marked for reconnecting, as for a first call."""

    def __init__(
        self, connections: DocStoreConnections, creator_id: str, provider: Provider, record: _Record | None
    ) -> None:
        self._connections = connections
        self._creator_id = creator_id
        self._provider = provider
        self._record = record
        self._token: tuple[Stamp, str] | None = None

    @property
    def status(self) -> ConnectionStatus:
        return "not_connected" if self._record is None else self._record.status

    def with_token(self, call: Callable[[str], T]) -> T:
        creator_id, provider, connections = self._creator_id, self._provider, self._connections
        used, access = self._token or connections._first_token(creator_id, provider, self._record)
        self._token = used, access

        def refresh_after_refusal() -> str:
            nonlocal used
            used, fresh = connections._refresh(creator_id, provider, used)
            self._token = used, fresh
            return fresh

        try:
            return retry_once_after_refresh(call, access, refresh_after_refusal)
        except ProviderError as exc:
            if exc.kind is ErrorKind.REVOKED:
                connections._mark_reconnect_required(creator_id, provider, "access_revoked", used)
            raise


def _usable_tokens(record: _Record | None, provider: Provider) -> tuple[_Record, TokenSet]:
    if record is None:
        raise NotConnectedError(provider, "not_connected")
    if record.status != "connected" or record.tokens is None:
        raise NotConnectedError(provider, "reconnect_required")
    return record, record.tokens


def _account(doc: Doc) -> object:
    """Which provider account a connection is for: Zoom's user id, else the account's email."""
    return doc.get("zoom_user_id") or doc.get("account_email")


def _lease_id(creator_id: str, provider: str) -> str:
    return f"refresh-{creator_id}-{provider}"
