"""A small document-store interface: just what the domain needs from Firestore, so a fake can honour it exactly."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

T = TypeVar("T")
Doc = dict[str, Any]
Op = Literal["==", "<", "<=", ">", ">=", "in"]


class Conflict(Exception):
    """A create met an existing document; with a batch, nothing in the batch was written."""


class NotFound(Exception):
    """An update met no document."""


@dataclass(frozen=True)
class Where:
    field: str
    op: Op
    value: Any


@dataclass(frozen=True)
class Write:
    """One write of an atomic batch: create fails if the document exists, update if it does not."""

    kind: Literal["create", "set", "update", "delete"]
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
        *,
        descending: bool = False,
        start_after: tuple[Any, str] | None = None,
    ) -> list[tuple[str, Doc]]:
        """Matching documents, ordered by `order_by` then document id (both descending when asked), as Firestore
        orders them; `start_after` is the (order_by value, document id) of the previous page's last row."""
        ...

    def commit(self, writes: Sequence[Write]) -> None:
        """Apply all writes atomically; raise Conflict (writing nothing) if a create meets a document."""
        ...

    def transaction(self, fn: Callable[[Txn], T]) -> T: ...


def put(collection: str, doc_id: str, data: Doc) -> Write:
    return Write("set", collection, doc_id, data)


def create(collection: str, doc_id: str, data: Doc) -> Write:
    return Write("create", collection, doc_id, data)


def update(collection: str, doc_id: str, data: Doc) -> Write:
    return Write("update", collection, doc_id, data)


def delete(collection: str, doc_id: str) -> Write:
    return Write("delete", collection, doc_id)
