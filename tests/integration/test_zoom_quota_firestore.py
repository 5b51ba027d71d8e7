"""The Zoom daily budget on the Firestore emulator, under one creator's burst of concurrent reconciles: the
count takes no transaction, so none of them fails on contention, and the budget is never overspent."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from shared.meetings.quota import ZOOM_QUOTA, ZoomQuota
from shared.store.firestore import FirestoreDocStore

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def test_a_burst_of_takes_counts_every_one_and_allows_no_more_than_the_budget(
    firestore_store: FirestoreDocStore,
) -> None:
    quota = ZoomQuota(firestore_store, limit=10)

    with ThreadPoolExecutor(max_workers=8) as pool:
        allowed = list(pool.map(lambda _: quota.take("creator-1", NOW), range(24)))

    assert 1 <= allowed.count(True) <= 10
    assert firestore_store.get(ZOOM_QUOTA, "creator-1_2026-12-01") == {"count": 24}
    assert quota.take("creator-2", NOW)  # another creator's budget is its own
