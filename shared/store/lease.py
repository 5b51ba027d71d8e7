"""Short leases on a document: one holder at a time across processes, taken over once expired.

Plain creates decide the common case at once (the emulator serialises contended transactions
slowly); only the rare takeover of an expired lease uses a transaction.
"""

from __future__ import annotations

import contextlib
import secrets
from datetime import datetime, timedelta

from shared.store.port import Conflict, DocStore, Txn, create, delete, put

LEASES = "leases"


def take_lease(store: DocStore, lease_id: str, now: datetime, ttl: timedelta) -> str | None:
    """The holder id if the caller now holds the lease, else None."""
    holder = secrets.token_hex(8)
    lease = {"holder": holder, "expires_at": now + ttl}
    with contextlib.suppress(Conflict):
        store.commit([create(LEASES, lease_id, lease)])
        return holder
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

    return holder if store.transaction(take_over) else None


def release_lease(store: DocStore, lease_id: str, holder: str) -> None:
    """Delete the lease unless a slow holder lost it to a takeover (then it is the new holder's)."""
    current = store.get(LEASES, lease_id)
    if current is not None and current["holder"] == holder:
        store.commit([delete(LEASES, lease_id)])
