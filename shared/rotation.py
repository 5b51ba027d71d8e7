"""Key rotation: re-seal what an older key sealed, so that key can then be removed.

Rotating TOKEN_ENCRYPTION_KEYS or MANAGE_TOKEN_KEYS puts a new key first and keeps the old one after
it. These sweeps (daily scheduler jobs, see shared/topology.yaml) find the records still sealed under an
older key, including idle connections and bookings nobody reads, and seal them again under the current
key; once a sweep reports nothing left, the old key can be dropped from the secret. Each record is
re-sealed in a transaction that re-reads it, so a refresh or reschedule that wrote it meanwhile wins.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from werkzeug.wrappers import Request, Response

from shared.bookings.booking import Booking
from shared.bookings.repository import BookingRepository
from shared.bookings.service import manage_aad
from shared.connections.repository import CONNECTIONS
from shared.schemas import Ack
from shared.store.port import Doc, DocStore, Txn, Where, update
from shared.vault import Sealed, Vault, connection_aad
from shared.web import Route, json_response, route

BATCH = 200
"""Records per run: the next run takes the rest."""


def reseal_connections(store: DocStore, vault: Vault, batch: int = BATCH) -> int:
    """Creators' OAuth tokens under a retired TOKEN_ENCRYPTION_KEYS version; returns how many were re-sealed."""
    if not vault.retired_versions:
        return 0
    rows = store.query(CONNECTIONS, [Where("key_version", "in", vault.retired_versions)], limit=batch)

    def reseal(doc: Doc) -> Doc:
        aad = connection_aad(doc["creator_id"], doc["provider"])
        # A connection waiting for its creator to reconnect has its tokens cleared: only its version moves on.
        fields = {
            name: _resealed(vault, doc[name], aad)
            for name in ("access_token", "refresh_token")
            if doc[name] is not None
        }
        return {**fields, "key_version": vault.current_version}

    return sum(_reseal_one(store, CONNECTIONS, doc_id, reseal) for doc_id, _ in rows)


def reseal_manage_tokens(bookings: BookingRepository, vault: Vault, batch: int = BATCH) -> int:
    """Fans' manage tokens under a retired MANAGE_TOKEN_KEYS version; returns how many were re-sealed."""
    if not vault.retired_versions:
        return 0
    resealed = 0
    for booking_id, booking in bookings.manage_tokens_sealed_under(vault.retired_versions, batch):
        sealed = _resealed(vault, booking.manage_token_sealed, manage_aad(booking_id))
        written = bookings.update_if(booking_id, booking, replace(booking, manage_token_sealed=sealed), _sealed_as_seen)
        resealed += written is not None
    return resealed


def _sealed_as_seen(booking: Booking) -> tuple[object, ...]:
    """A booking changed since the query (a new revision, or re-sealed by another run) is left to the next run."""
    return (*booking.decided_from(), booking.manage_token_sealed)


def _resealed(vault: Vault, stored: Doc, aad: str) -> Doc:
    sealed = Sealed.from_dict(stored)
    return (vault.reseal(sealed, aad) or sealed).to_dict()


def _reseal_one(store: DocStore, collection: str, doc_id: str, reseal: Callable[[Doc], Doc]) -> bool:
    def run(txn: Txn) -> bool:
        current = txn.get(collection, doc_id)
        if current is None:
            return False
        changes = reseal(current)
        if all(current.get(name) == value for name, value in changes.items()):
            return False  # re-sealed (or rewritten under the current key) since the query
        txn.write(update(collection, doc_id, changes))
        return True

    return store.transaction(run)


def reseal_route(sweep: Callable[[], int]) -> Route:
    """POST /tasks/reseal for the scheduler: the count lets the engineer on call see when a key can go."""

    @route(
        "/tasks/reseal",
        "POST",
        summary="Cloud Scheduler's daily re-seal: what an older key sealed is sealed again under the current one",
        responses={200: Ack},
    )
    def reseal(request: Request) -> Response:
        return json_response({"resealed": sweep()})

    return reseal
