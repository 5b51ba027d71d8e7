"""In-memory twin of the Firestore adapter with the same atomicity, for unit tests."""

from __future__ import annotations

import copy
import operator
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from shared.store.port import Conflict, Cursor, Doc, DocStore, NotFound, Txn, Where, Write

T = TypeVar("T")

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "in": lambda a, b: a in b,
}


def _lookup(doc: Doc, path: str) -> tuple[bool, Any]:
    """A field by its Firestore path, where "a.b" is field b of map a."""
    value: Any = doc
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return False, None
        value = value[part]
    return True, value


def _matches(doc: Doc, where: Where) -> bool:
    """Firestore compares only values of the same type: a null or missing field never matches a range."""
    present, value = _lookup(doc, where.field)
    if not present or (value is None and where.value is not None):
        return False
    try:
        return _OPS[where.op](value, where.value)
    except TypeError:
        return False


class _FakeTxn:
    def __init__(self, store: FakeDocStore) -> None:
        self._store = store
        self.writes: list[Write] = []

    def get(self, collection: str, doc_id: str) -> Doc | None:
        return self._store.get(collection, doc_id)

    def write(self, write: Write) -> None:
        self.writes.append(write)


class FakeDocStore:
    def __init__(self) -> None:
        self._docs: dict[str, dict[str, Doc]] = {}
        self._lock = threading.RLock()
        self.fail_next_commit: Exception | None = None

    def get(self, collection: str, doc_id: str) -> Doc | None:
        with self._lock:
            doc = self._docs.get(collection, {}).get(doc_id)
            return copy.deepcopy(doc) if doc is not None else None

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
        with self._lock:
            rows = [
                (doc_id, copy.deepcopy(doc))
                for doc_id, doc in self._docs.get(collection, {}).items()
                if all(_matches(doc, w) for w in where)
            ]
        if order_by:
            field = order_by
            rows = [r for r in rows if r[1].get(field) is not None]
            rows.sort(key=lambda r: (r[1][field], r[0]), reverse=descending)
            if start_after is not None:
                rows = rows[sum(1 for r in rows if _reached((r[1][field], r[0]), start_after, descending)) :]
        return rows[:limit] if limit is not None else rows

    def commit(self, writes: Sequence[Write]) -> None:
        with self._lock:
            if self.fail_next_commit is not None:
                exc, self.fail_next_commit = self.fail_next_commit, None
                raise exc
            for w in writes:
                exists = w.doc_id in self._docs.get(w.collection, {})
                if w.kind == "create" and exists:
                    raise Conflict(f"{w.collection}/{w.doc_id} exists")
                if w.kind == "update" and not exists:
                    raise NotFound(f"{w.collection}/{w.doc_id}")
            for w in writes:
                docs = self._docs.setdefault(w.collection, {})
                if w.kind == "delete":
                    docs.pop(w.doc_id, None)
                elif w.kind == "add":
                    counted = docs.setdefault(w.doc_id, {})
                    for name, amount in w.data.items():
                        counted[name] = counted.get(name, 0) + amount
                elif w.kind == "update":
                    docs[w.doc_id].update(copy.deepcopy(w.data))
                else:
                    docs[w.doc_id] = copy.deepcopy(w.data)

    def transaction(self, fn: Callable[[_FakeTxn], T]) -> T:
        with self._lock:
            txn = _FakeTxn(self)
            result = fn(txn)
            self.commit(txn.writes)
            return result

    def clear(self) -> None:
        with self._lock:
            self._docs.clear()


def _reached(key: Cursor, cursor: Cursor, descending: bool) -> bool:
    """Whether a row ordered by `key` comes at or before the page's `cursor` in the query's order."""
    return key >= cursor if descending else key <= cursor


class DelegatingStore:
    """A DocStore that passes every call on to another: tests and benchmarks subclass it to count, watch or
    interleave one operation without writing out the whole port again."""

    def __init__(self, inner: DocStore) -> None:
        self._inner = inner

    def get(self, collection: str, doc_id: str) -> Doc | None:
        return self._inner.get(collection, doc_id)

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
        return self._inner.query(collection, where, order_by, limit, start_after, descending=descending)

    def commit(self, writes: Sequence[Write]) -> None:
        self._inner.commit(writes)

    def transaction(self, fn: Callable[[Txn], T]) -> T:
        return self._inner.transaction(fn)


@dataclass(frozen=True)
class Call:
    """One call on the store port, as an interleaving picks it out: its kind, and what it names."""

    kind: str
    """get, query, commit or transaction (a RecordingStore also lists a transaction's reads as get)."""
    collection: str | None = None
    doc_id: str | None = None
    writes: Sequence[Write] = ()


class WatchedStore(DelegatingStore):
    """A DocStore that shows each call on the port to `_seen` just before making it."""

    def _seen(self, call: Call) -> None:
        raise NotImplementedError

    def get(self, collection: str, doc_id: str) -> Doc | None:
        self._seen(Call("get", collection, doc_id))
        return super().get(collection, doc_id)

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
        self._seen(Call("query", collection))
        return super().query(collection, where, order_by, limit, start_after, descending=descending)

    def commit(self, writes: Sequence[Write]) -> None:
        self._seen(Call("commit", writes=writes))
        super().commit(writes)

    def transaction(self, fn: Callable[[Txn], T]) -> T:
        self._seen(Call("transaction"))
        return super().transaction(fn)


class InterleavingStore(WatchedStore):
    """A DocStore that runs `step` once, just ahead of the first call `at` picks out: another caller's (or
    instance's) step landing between this caller's read and its write, the same way every run."""

    def __init__(self, inner: DocStore, at: Callable[[Call], bool], step: Callable[[], object]) -> None:
        super().__init__(inner)
        self._at = at
        self._step: Callable[[], object] | None = step

    def _seen(self, call: Call) -> None:
        if self._step is not None and self._at(call):
            step, self._step = self._step, None
            step()


class _RecordingTxn:
    def __init__(self, txn: Txn, calls: list[Call]) -> None:
        self._txn = txn
        self._calls = calls

    def get(self, collection: str, doc_id: str) -> Doc | None:
        self._calls.append(Call("get", collection, doc_id))
        return self._txn.get(collection, doc_id)

    def write(self, write: Write) -> None:
        self._txn.write(write)


class RecordingStore(WatchedStore):
    """A DocStore that lists every call made on it, a transaction's reads included: what an operation costs, for
    tests that pin how often it reads a document or commits."""

    def __init__(self, inner: DocStore) -> None:
        super().__init__(inner)
        self.calls: list[Call] = []

    def reads(self, collection: str) -> list[str]:
        """The documents of `collection` read by id, one entry per read, a transaction's reads included (queries
        are in `calls` only)."""
        return [c.doc_id for c in self.calls if c.kind == "get" and c.collection == collection and c.doc_id]

    def commits(self, collection: str) -> list[Call]:
        """The commits writing to `collection`, failed ones included."""
        return [c for c in self.calls if c.kind == "commit" and any(w.collection == collection for w in c.writes)]

    def _seen(self, call: Call) -> None:
        self.calls.append(call)

    def transaction(self, fn: Callable[[Txn], T]) -> T:
        return super().transaction(lambda txn: fn(_RecordingTxn(txn, self.calls)))
