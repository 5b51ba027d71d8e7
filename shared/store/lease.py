"""Short leases on a document: one holder at a time across processes, taken over once expired, and fenced.

Plain creates decide the common case at once (the emulator serialises contended transactions
slowly); only the rare takeover of an expired lease uses a transaction.

A lease alone cannot stop a holder that stalled past its expiry from writing after someone else
took over, so every write made under a lease is fenced: it runs in a transaction that reads the
lease document and is refused (LeaseLost) unless the lease still names this holder. The holder id
is drawn afresh for every take, so it works as the fencing token: a taken-over holder's token is
never valid again.

A lease is sized one of two ways. Either it outlives the worst of the work it covers (the token refresh,
the email claim: one bounded call), or it is short and its live holder renews it while it works
(`Heartbeat`, for the reconcile, whose worst case is minutes of token waits and provider calls): a
crashed holder then blocks others only until its last renewal runs out, a slow live one keeps the
lease, and the fencing above still refuses a holder that lost it (say it stalled past every renewal).
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType

from shared.clock import Clock
from shared.store.port import Conflict, Contended, Doc, DocStore, Txn, create, delete, put, update

log = logging.getLogger(__name__)

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


def renew_lease(store: DocStore, lease: Lease, now: datetime, ttl: timedelta) -> bool:
    """Extend the lease to `now + ttl` while it still names this holder; False once another caller took it over
    (then it stays theirs, and this holder's fenced writes are refused)."""

    def run(txn: Txn) -> bool:
        if not lease.held(txn.get):
            return False
        txn.write(update(LEASES, lease.lease_id, {"expires_at": now + ttl}))
        return True

    return store.transaction(run)


class Heartbeat:
    """Renews a lease every `every` seconds (a background thread) while its holder works, inside `with`.

    `ttl` should be a few beats long, so one slow or contended renewal does not lose a live holder's lease.
    Once a renewal finds the lease taken over the beating stops: the holder's next fenced write is refused.
    """

    def __init__(self, store: DocStore, lease: Lease, clock: Clock, ttl: timedelta, every: float) -> None:
        self._store = store
        self._lease = lease
        self._clock = clock
        self._ttl = ttl
        self._every = every
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat {lease.lease_id}", daemon=True)
        self.lost = False

    def beat(self) -> bool:
        """One renewal; False once the lease is lost. A contended renewal is tried again at the next beat."""
        try:
            self.lost = not renew_lease(self._store, self._lease, self._clock.now(), self._ttl)
        except Contended:
            log.warning("lease renewal contended; the next beat tries again", extra={"lease": self._lease.lease_id})
        return not self.lost

    def _run(self) -> None:
        while not self._stopped.wait(self._every) and self.beat():
            pass

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stopped.set()
        self._thread.join()
