"""A small document-store interface: just what the domain needs from Firestore, so a fake can honour it exactly."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

T = TypeVar("T")
Doc = dict[str, Any]
Op = Literal["==", "<", "<=", ">", ">=", "in"]
Cursor = tuple[Any, str]
"""Where a page ended: the ordered field's value and the document id of its last row."""


class Conflict(Exception):
    """A create met an existing document; with a batch, nothing in the batch was written."""


class NotFound(Exception):
    """An update met no document."""


class Contended(Exception):
    """Other writers kept changing the documents read (or held a lock on them) through every try: nothing was
    written. Safe to retry as it was: a push handler answers 503 so Pub/Sub redelivers, a sweep tries again next
    tick, a caller gets 503 Retry-After."""


@dataclass(frozen=True)
class Where:
    field: str
    op: Op
    value: Any


@dataclass(frozen=True)
class Write:
    """One write of an atomic batch: create fails if the document exists, update if it does not; add adds
    each number in `data` to the document's field (made, from 0, with the document if missing) on the server,
    so writers counting into one document never contend for it as transactions would."""

    kind: Literal["create", "set", "update", "delete", "add"]
    collection: str
    doc_id: str
    data: Doc = field(default_factory=dict)


class Txn(Protocol):
    """Reads come before writes, as in Firestore; the whole function is retried on contention."""

    def get(self, collection: str, doc_id: str) -> Doc | None: ...

    def write(self, write: Write) -> None: ...


class DocStore(Protocol):
    def get(self, collection: str, doc_id: str) -> Doc | None: ...

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
        """With ``order_by``, rows come by that field, then by document id (both descending when asked),
        and ``start_after`` (the field's value and the id of the last row read) resumes after that row:
        pages that neither skip nor repeat a row, even when many share one value."""
        ...

    def commit(self, writes: Sequence[Write]) -> None:
        """Apply all writes atomically; raise Conflict (writing nothing) if a create meets a document, and
        Contended (writing nothing) if another writer held a lock on one of the documents past the wait."""
        ...

    def transaction(self, fn: Callable[[Txn], T]) -> T:
        """Run `fn` and commit its writes atomically if nothing it read changed meanwhile, else `fn` again on fresh
        reads; Contended when it cannot commit."""
        ...


def put(collection: str, doc_id: str, data: Doc) -> Write:
    return Write("set", collection, doc_id, data)


def create(collection: str, doc_id: str, data: Doc) -> Write:
    return Write("create", collection, doc_id, data)


def update(collection: str, doc_id: str, data: Doc) -> Write:
    return Write("update", collection, doc_id, data)


def delete(collection: str, doc_id: str) -> Write:
    return Write("delete", collection, doc_id)


def add(collection: str, doc_id: str, amounts: dict[str, int]) -> Write:
    return Write("add", collection, doc_id, dict(amounts))


def paged(
    store: DocStore, collection: str, where: Sequence[Where], order_by: str, batch: int
) -> Iterator[tuple[str, Doc]]:
    """Every matching row by `order_by` then id, read `batch` at a time, each page resuming where the last
    one ended: a row changed meanwhile is neither read twice nor able to hide the rows after it."""
    after: Cursor | None = None
    while True:
        page = store.query(collection, where, order_by, batch, start_after=after)
        yield from page
        if len(page) < batch:
            return
        last_id, last = page[-1]
        after = (last[order_by], last_id)
