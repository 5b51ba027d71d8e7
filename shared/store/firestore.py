"""The Firestore adapter of the document-store port (the emulator locally, through the client's own switch).

Firestore answers contention with ABORTED, which the client library raises as a subclass of Conflict: a
transaction's read that waited past the lock timeout, or a commit whose every attempt aborted (the client
wraps the last in a ValueError). Both become Contended here, never Conflict (a create meeting a document,
which callers read as "slot taken") nor an error nobody handles. A killed instance's open transaction holds
its locks until Firestore expires it (60 s idle, 270 s at most), so that is contention too, and retried.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from shared.store.port import Conflict, Contended, Cursor, Doc, NotFound, Where, Write

T = TypeVar("T")
_DOCUMENT_ID = "__name__"
TRANSACTION_ATTEMPTS = 20
"""Commit attempts of one transaction (the client's own retries, each keeping its place in the lock queue)."""
"""Firestore's name for the document id as a field to order by (FieldPath.document_id())."""


class _FirestoreTxn:
    def __init__(self, client: firestore.Client, transaction: firestore.Transaction) -> None:
        self._client = client
        self._transaction = transaction

    def get(self, collection: str, doc_id: str) -> Doc | None:
        snapshot = self._client.collection(collection).document(doc_id).get(transaction=self._transaction)
        return snapshot.to_dict() if snapshot.exists else None

    def write(self, write: Write) -> None:
        _apply(self._transaction, self._client, write)


def _apply(target: Any, client: firestore.Client, write: Write) -> None:
    ref = client.collection(write.collection).document(write.doc_id)
    if write.kind == "create":
        target.create(ref, write.data)
    elif write.kind == "set":
        target.set(ref, write.data)
    elif write.kind == "update":
        target.update(ref, write.data)
    elif write.kind == "add":
        target.set(ref, {name: firestore.Increment(amount) for name, amount in write.data.items()}, merge=True)
    else:
        target.delete(ref)


class FirestoreDocStore:
    def __init__(
        self, project_id: str, client: firestore.Client | None = None, attempts: int = TRANSACTION_ATTEMPTS
    ) -> None:
        self._project_id = project_id
        self._client = client or firestore.Client(project=project_id)
        self._attempts = attempts

    def get(self, collection: str, doc_id: str) -> Doc | None:
        snapshot = self._client.collection(collection).document(doc_id).get()
        return snapshot.to_dict() if snapshot.exists else None

    def query(
        self,
        collection: str,
        where: Sequence[Where] = (),
        order_by: str | None = None,
        limit: int | None = None,
        start_after: Cursor | None = None,
        *,
        descending: bool = False,
    ) -> list[tuple[str, Doc]]:
        query: Any = self._client.collection(collection)
        for w in where:
            query = query.where(filter=FieldFilter(w.field, w.op, w.value))
        if order_by:
            direction = firestore.Query.DESCENDING if descending else firestore.Query.ASCENDING
            query = query.order_by(order_by, direction=direction).order_by(_DOCUMENT_ID, direction=direction)
            if start_after is not None:
                value, doc_id = start_after
                query = query.start_after({order_by: value, _DOCUMENT_ID: doc_id})
        if limit is not None:
            query = query.limit(limit)
        return [(snap.id, snap.to_dict() or {}) for snap in query.stream()]

    def commit(self, writes: Sequence[Write]) -> None:
        batch = self._client.batch()
        for write in writes:
            _apply(batch, self._client, write)
        try:
            batch.commit()
        except gexc.Aborted as exc:
            raise Contended(str(exc.message)) from None
        except gexc.Conflict as exc:
            raise Conflict(str(exc.message)) from None
        except gexc.NotFound as exc:
            raise NotFound(str(exc.message)) from None

    def transaction(self, fn: Callable[[Any], T]) -> T:
        @firestore.transactional
        def run(transaction: firestore.Transaction) -> T:
            return fn(_FirestoreTxn(self._client, transaction))

        try:
            result: T = run(self._client.transaction(max_attempts=self._attempts))
        except gexc.Aborted as exc:  # a read waited past the lock timeout
            raise Contended(str(exc.message)) from None
        except gexc.Conflict as exc:
            raise Conflict(str(exc.message)) from None
        except ValueError as exc:
            if isinstance(exc.__cause__, gexc.Aborted):  # every commit attempt aborted
                raise Contended(str(exc.__cause__.message)) from None
            raise
        return result
