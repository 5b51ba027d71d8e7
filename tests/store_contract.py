"""One behavioural contract for the document store, run against the fake (unit) and Firestore (integration)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from shared.store.port import Conflict, DocStore, Txn, Where, create, delete, put, update


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

    def bump(txn: Txn) -> int:
        doc = txn.get("things", "counter") or {"n": 0}
        txn.write(put("things", "counter", {"n": doc["n"] + 1}))
        return int(doc["n"]) + 1

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = sorted(pool.map(lambda _: store.transaction(bump), range(6)))
    assert results == list(range(1, 7)), "transactions must serialise"
    assert store.get("things", "counter") == {"n": 6}

    store.commit([delete("things", "a")])
    assert store.get("things", "a") is None
