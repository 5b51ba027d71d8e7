"""The Firestore adapter of the document-store port (the emulator locally, through the client's own switch).

Transactions are optimistic: reads take no lock, each remembers the version of the document it saw (its
update time, or that it was missing), and the writes go out in one atomic batch that Firestore applies only
if every document read is still that version; otherwise the function runs again on fresh reads. Locking
transactions were the first design, and they fail here: the emulator resolves two of them reading and then
writing one document by waiting out a lock timeout (four writers of one booking took 41 s for 20 writes, and
gave up; the same writes with preconditions take 0.7 s), and a killed instance's open transaction keeps its
locks for a minute. A write still waiting on someone else's lock past the wait comes back ABORTED and is tried
again too; once every try is used up the caller hears Contended, never Conflict (a create meeting a document,
which callers read as "slot taken") nor an error nobody handles.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter
from google.cloud.firestore_v1.types import common, document
from google.cloud.firestore_v1.types import write as write_pb

from shared.store.port import Conflict, Contended, Cursor, Doc, NotFound, Where, Write

T = TypeVar("T")
_DOCUMENT_ID = "__name__"
"""Firestore's name for the document id as a field to order by (FieldPath.document_id())."""
TRANSACTION_ATTEMPTS = 20
"""Tries of one transaction function, each on fresh reads, before the caller hears Contended."""
FIRST_PAUSE_SECONDS = 0.02
LONGEST_PAUSE_SECONDS = 0.5
"""Between tries a random pause up to a bound that doubles from the first to the longest, so writers that met
once do not meet again in step."""
_Key = tuple[str, str]


class _OptimisticTxn:
    """One try of a transaction function: the versions its reads saw, and its writes, held back until commit."""

    def __init__(self, client: firestore.Client) -> None:
        self._client = client
        self._versions: dict[_Key, datetime | None] = {}
        self.writes: list[Write] = []

    def get(self, collection: str, doc_id: str) -> Doc | None:
        snapshot = self._client.collection(collection).document(doc_id).get()
        self._versions.setdefault((collection, doc_id), snapshot.update_time if snapshot.exists else None)
        return snapshot.to_dict() if snapshot.exists else None

    def write(self, write: Write) -> None:
        self.writes.append(write)

    def batch(self) -> Any:
        """The writes, each conditional on the version read of its document (a create already requires it
        missing), and for each document read but not written a write that changes nothing and only checks it:
        an empty update on its update time (Firestore keeps the update time of a write that changes nothing),
        or a delete that requires it missing."""
        batch = self._client.batch()
        for write in self.writes:
            _apply(batch, self._client, write)
            key = (write.collection, write.doc_id)
            if key in self._versions and write.kind != "create":
                batch._write_pbs[-1].current_document = self._precondition(key)
        written = {(write.collection, write.doc_id) for write in self.writes}
        checks = [self._check(key) for key in self._versions if key not in written]
        if checks:
            batch._add_write_pbs(checks)
        return batch

    def changed_since_read(self) -> bool:
        """Whether a document read is no longer the version read: then a refused commit was not the caller's
        own conflict (a create meeting a document, an update meeting none) but a stale read, to be tried again."""
        for (collection, doc_id), version in self._versions.items():
            snapshot = self._client.collection(collection).document(doc_id).get()
            if (snapshot.update_time if snapshot.exists else None) != version:
                return True
        return False

    def _precondition(self, key: _Key) -> common.Precondition:
        version = self._versions[key]
        return common.Precondition(exists=False) if version is None else common.Precondition(update_time=version)

    def _check(self, key: _Key) -> write_pb.Write:
        path = self._client.collection(key[0]).document(key[1])._document_path
        if self._versions[key] is None:
            return write_pb.Write(delete=path, current_document=self._precondition(key))
        return write_pb.Write(
            update=document.Document(name=path),
            update_mask=common.DocumentMask(field_paths=[]),
            current_document=self._precondition(key),
        )


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
        for attempt in range(self._attempts):
            txn = _OptimisticTxn(self._client)
            result = fn(txn)
            if not txn.writes:
                return result  # it only read: nothing to commit, nothing held
            try:
                txn.batch().commit()
                return result
            except gexc.FailedPrecondition:
                pass  # a document read changed since: decide again on fresh reads
            except gexc.Aborted:
                pass  # someone else's locking transaction held a document past the lock wait
            except gexc.Conflict as exc:  # AlreadyExists
                if not txn.changed_since_read():
                    raise Conflict(str(exc.message)) from None
            except gexc.NotFound as exc:
                if not txn.changed_since_read():
                    raise NotFound(str(exc.message)) from None
            bound = min(LONGEST_PAUSE_SECONDS, FIRST_PAUSE_SECONDS * 2**attempt)
            time.sleep(random.uniform(0, bound))  # noqa: S311 (spacing retries, not a secret)
        raise Contended(f"the documents read kept changing or stayed locked through {self._attempts} tries")
