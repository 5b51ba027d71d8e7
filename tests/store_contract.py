"""One behavioural contract for the document store, run against the fake (unit) and Firestore (integration)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from shared.store.port import Conflict, Contended, DocStore, Txn, Where, add, create, delete, put, update


def check_store_contract(store: DocStore) -> None:
    store.commit([create("things", "a", {"n": 1, "kind": "x"}), put("things", "b", {"n": 2, "kind": "y"})])
    assert store.get("things", "a") == {"n": 1, "kind": "x"}
    assert store.get("things", "missing") is None

    with pytest.raises(Conflict):
        store.commit([create("things", "c", {"n": 3}), create("things", "a", {"n": 9})])
    assert store.get("things", "c") is None, "a failed batch must write nothing"
    assert store.get("things", "a") == {"n": 1, "kind": "x"}

    store.commit([update("things", "a", {"n": 5})])
    assert store.get("things", "a") == {"n": 5, "kind": "x"}

    when = datetime(2026, 12, 1, 10, tzinfo=UTC)
    store.commit([put("things", f"t{i}", {"due": when + timedelta(minutes=i), "kind": "t"}) for i in range(5)])
    due = store.query("things", [Where("due", "<=", when + timedelta(minutes=2))], order_by="due")
    assert [doc_id for doc_id, _ in due] == ["t0", "t1", "t2"]
    assert len(store.query("things", [Where("kind", "==", "t")], limit=2)) == 2
    _check_pages(store, when)

    def bump(txn: Txn) -> int:
        doc = txn.get("things", "counter") or {"n": 0}
        txn.write(put("things", "counter", {"n": doc["n"] + 1}))
        return int(doc["n"]) + 1

    def bump_until_done(_: int) -> int:
        """As a caller does: a transaction refused as Contended wrote nothing, and is tried again."""
        for _attempt in range(5):
            try:
                return store.transaction(bump)
            except Contended:
                continue
        return store.transaction(bump)

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = sorted(pool.map(bump_until_done, range(6)))
    assert results == list(range(1, 7)), "transactions must serialise"
    assert store.get("things", "counter") == {"n": 6}

    store.commit([delete("things", "a")])
    assert store.get("things", "a") is None
    _check_adds(store)


def _check_adds(store: DocStore) -> None:
    store.commit([add("things", "tally", {"n": 2})])
    store.commit([add("things", "tally", {"n": 1, "m": 4})])
    assert store.get("things", "tally") == {"n": 3, "m": 4}
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda _: store.commit([add("things", "tally", {"n": 1})]), range(8)))
    assert store.get("things", "tally") == {"n": 11, "m": 4}, "concurrent adds must never be lost"


def _check_pages(store: DocStore, when: datetime) -> None:
    """Pages by (value, id) from a cursor: none skipped or repeated, even when many rows share one value."""
    store.commit([put("paged", f"p{i}", {"due": when + timedelta(minutes=i // 3)}) for i in range(7)])
    store.commit([put("paged", "late", {"due": when + timedelta(days=1)})])
    due = [Where("due", "<=", when + timedelta(hours=1))]
    seen: list[str] = []
    after = None
    while True:
        page = store.query("paged", due, order_by="due", limit=2, start_after=after)
        seen += [doc_id for doc_id, _ in page]
        if len(page) < 2:
            break
        after = (page[-1][1]["due"], page[-1][0])
    assert seen == [f"p{i}" for i in range(7)], "oldest first, then by id, each once"
    seen, after = [], None
    while True:
        page = store.query("paged", due, order_by="due", limit=3, start_after=after, descending=True)
        seen += [doc_id for doc_id, _ in page]
        if len(page) < 3:
            break
        after = (page[-1][1]["due"], page[-1][0])
    assert seen == [f"p{i}" for i in reversed(range(7))], "descending: newest first, then by id descending"
