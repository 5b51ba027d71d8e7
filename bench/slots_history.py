"""The slots route's time and documents read for a creator with 100 and with 10,000 past bookings.

The route asks the store only for the bookings overlapping the requested window (an indexed range on
the creator's start times), so a long history should cost nothing: the ratio should stay near 1.
It runs the bookings app in process on the in-memory store, counting the documents each route call
reads from the store (what Firestore bills, and what its latency follows). The in-memory store
answers a query by scanning the whole collection, where Firestore walks its index, so the route's
time is also printed without the time spent inside store queries: that is the part that carries over.
Run: .venv/bin/python -m bench.slots_history
"""

from __future__ import annotations

import gc
import statistics
import time
from dataclasses import replace
from datetime import timedelta
from typing import Any

from shared.bookings.repository import DocStoreBookingRepository
from tests.fakes.store import FakeDocStore
from tests.unit.test_bookings_harness import MONDAY, Harness, at

REPEATS = 30


class CountingStore(FakeDocStore):
    """The in-memory store, counting the documents handed back by gets and queries."""

    def __init__(self) -> None:
        super().__init__()
        self.read = 0
        self.query_seconds = 0.0

    def get(self, collection: str, doc_id: str) -> Any:
        doc = super().get(collection, doc_id)
        self.read += 1
        return doc

    def query(self, collection: str, where: Any = (), *args: Any, **options: Any) -> Any:
        began = time.perf_counter()
        rows = super().query(collection, where, *args, **options)
        self.query_seconds += time.perf_counter() - began
        self.read += max(1, len(rows))
        return rows


def measure(past: int) -> tuple[float, float]:
    """Median milliseconds of one slots call, with and without the store's query scans, for a creator with
    `past` past bookings; prints a row."""
    store = CountingStore()
    h = Harness(store=store)
    creator = h.creator()
    offer_id = h.offer(creator)
    template_id, _ = h.booked(offer_id, at(9))
    repository = DocStoreBookingRepository(store)
    template = repository.get(template_id)
    assert template is not None
    for index in range(past):
        start = template.start - timedelta(days=1 + index // 6, minutes=30 * (index % 6))
        repository.add(f"past-{index:05d}", replace(template, start=start, end=start + timedelta(minutes=30), cells=()))
    gc.collect()
    gc.freeze()  # the seeded history is not the route's garbage to walk
    samples, own, reads = [], [], 0
    for _ in range(REPEATS):
        store.read, store.query_seconds = 0, 0.0
        began = time.perf_counter()
        response = h.slots_response(creator.creator_id, offer_id, MONDAY, MONDAY)
        took = time.perf_counter() - began
        samples.append(took * 1000)
        own.append((took - store.query_seconds) * 1000)
        reads = store.read
        assert response.status_code == 200, response.get_data(as_text=True)
    median, own_median = statistics.median(samples), statistics.median(own)
    print(
        f"{past:>7,} past bookings: {reads:>6,} documents read; route median {median:7.2f} ms, "
        f"without the in-memory store's scans {own_median:6.2f} ms ({REPEATS} calls)"
    )
    gc.unfreeze()
    return median, own_median


def main() -> None:
    small, small_own = measure(100)
    large, large_own = measure(10_000)
    print(
        f"10,000 / 100 past bookings -> {large / small:.2f}x route time, "
        f"{large_own / small_own:.2f}x without the store's scans"
    )


if __name__ == "__main__":
    main()
