"""How much the reminder sweep's query reads when 100 of 100,000 future bookings are due.

The sweep pages through next_reminder_at <= now, oldest first (ordered by the field, then the document
id, BATCH a page), a single-field range query Firestore answers from its automatic index, so it should
read the due bookings and nothing else however many there are, and all of them even beyond one page.
The documents read is the figure that carries over to Firestore (it is what is billed and what
production latency follows); the emulator's time does not: it evaluates queries by scanning, so its
time grows with the collection (about tenfold from 10,000 to 100,000 bookings at equal results).
Run by hand: `.venv/bin/python bench/reminders_query.py` (starts and stops a Firestore emulator).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from google.cloud import firestore

from devstack.emulators import start_emulator
from shared.bookings.model import BOOKINGS
from shared.notify.reminders import BATCH
from shared.store.firestore import FirestoreDocStore
from shared.store.port import Where, paged

PROJECT = "bench"
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
WRITE_BATCH = 500
REPEATS = 20


def booking(index: int, due: bool) -> dict[str, object]:
    """Just the fields the sweep filters on; due ones were armed a minute ago, the rest fall due within 60 days."""
    start = NOW + timedelta(days=2 + index % 60, minutes=5 * (index % 100))
    return {
        "status": "confirmed",
        "revision": 1,
        "start": start,
        "next_reminder_at": NOW - timedelta(minutes=1) if due else start - timedelta(hours=24),
    }


def seed(client: firestore.Client, total: int, due: int) -> float:
    """Write ``total`` bookings, the first ``due`` of them due, in parallel batches of 500; returns seconds."""
    collection = client.collection(BOOKINGS)

    def write(first: int) -> None:
        batch = client.batch()
        for index in range(first, min(first + WRITE_BATCH, total)):
            batch.set(collection.document(f"b{index:06d}"), booking(index, index < due))
        batch.commit()

    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(write, range(0, total, WRITE_BATCH)))
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bookings", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=100)
    args = parser.parse_args()

    emulator = start_emulator("firestore", PROJECT)
    try:
        os.environ["FIRESTORE_EMULATOR_HOST"] = emulator.host_port
        client = firestore.Client(project=PROJECT)
        store = FirestoreDocStore(PROJECT, client)
        seconds = seed(client, args.bookings, args.due)
        print(f"seeded {args.bookings:,} bookings ({args.due} due) in {seconds:.1f} s")

        query = [Where("next_reminder_at", "<=", NOW)]
        samples, read = [], 0
        for _ in range(REPEATS):
            began = time.perf_counter()
            read = sum(1 for _ in paged(store, BOOKINGS, query, "next_reminder_at", BATCH))
            samples.append((time.perf_counter() - began) * 1000)
        pages = read // BATCH + 1
        print(f"due-reminder sweep (next_reminder_at <= now, {pages} page(s) of {BATCH}): read {read} documents")
        print(
            f"  {REPEATS} runs: median {statistics.median(samples):.1f} ms, "
            f"min {min(samples):.1f} ms, max {max(samples):.1f} ms"
        )
        if read != args.due:
            raise SystemExit(f"expected the query to read exactly the {args.due} due bookings, it read {read}")
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
