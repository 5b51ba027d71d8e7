"""Short leases on a document: one holder at a time across processes, taken over once expired, and fenced.

Plain creates decide the common case at once (the emulator serialises contended transactions
slowly); only the rare takeover of an expired lease uses a transaction.

A lease alone cannot stop a holder that stalled past its expiry from writing after someone else
took over, so every write made under a lease is fenced: it runs in a transaction that reads the
lease document and is refused (LeaseLost) unless the lease still names this holder. The holder id
is drawn afresh for every take, so it works as the fencing token: a taken-over holder's token is
never valid again.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.store.port import Conflict, Doc, DocStore, Txn, create, delete, put

LEASES = "leases"


class LeaseLost(Exception):
    """A write made under a lease was refused: the lease expired and another caller took it over."""


@dataclass(frozen=True)
class Lease:
    """A lease this caller holds: pass it to every write made under it."""

    lease_id: str
    holder: str

    def held(self, read: Callable[[str, str], Doc | None]) -> bool:
        """Whether the lease still names this holder; `read` is the writing transaction's get."""
        current = read(LEASES, self.lease_id)
        return current is not None and current["holder"] == self.holder

    def check(self, read: Callable[[str, str], Doc | None]) -> None:
        """Raise LeaseLost unless still held: call it inside the transaction of a write made under the lease."""
        if not self.held(read):
            raise LeaseLost(self.lease_id)


def take_lease(store: DocStore, lease_id: str, now: datetime, ttl: timedelta) -> Lease | None:
    """The lease if the caller now holds it, else None."""
    holder = secrets.token_hex(8)
    lease = {"holder": holder, "expires_at": now + ttl}
    with contextlib.suppress(Conflict):
        store.commit([create(LEASES, lease_id, lease)])
        return Lease(lease_id, holder)
    existing = store.get(LEASES, lease_id)
    if existing is None or existing["expires_at"] > now:
        return None

    def take_over(txn: Txn) -> bool:
        # Only the caller that still sees the stale holder replaces it, so one caller takes over.
        current = txn.get(LEASES, lease_id)
        if current is not None and current["holder"] != existing["holder"]:
            return False
        txn.write(put(LEASES, lease_id, lease))
        return True

    return Lease(lease_id, holder) if store.transaction(take_over) else None


def release_lease(store: DocStore, lease: Lease) -> None:
    """Delete the lease unless a slow holder lost it to a takeover (then it is the new holder's)."""

    def run(txn: Txn) -> None:
        if lease.held(txn.get):
            txn.write(delete(LEASES, lease.lease_id))

    store.transaction(run)
