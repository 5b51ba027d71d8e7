"""Writers contending for one Firestore document on the emulator: the client's locking transactions against
the store adapter's optimistic ones (what `shared/store/firestore.py` uses), each read-then-write.

Each of WRITERS threads increments one counter ROUNDS times; it prints the wall time, the median and worst
time of one increment, the increments that failed (the client gives up after 20 attempts), and whether the
counter came out exact. Run: .venv/bin/python -m bench.store_contention [--writers 4] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from collections.abc import Callable

from devstack.emulators import start_emulator, stop_process

PROJECT = "flo-bench-contention"
Increment = Callable[[], None]


def _locking(client: object) -> Increment:
    from google.cloud import firestore

    assert isinstance(client, firestore.Client)
    ref = client.collection("bench").document("counter")

    @firestore.transactional
    def increment(transaction: firestore.Transaction) -> None:
        value = (ref.get(transaction=transaction).to_dict() or {})["value"]
        transaction.update(ref, {"value": value + 1})

    return lambda: increment(client.transaction(max_attempts=20))


def _optimistic(client: object) -> Increment:
    from google.cloud import firestore

    from shared.store.firestore import FirestoreDocStore
    from shared.store.port import Txn, update

    assert isinstance(client, firestore.Client)
    store = FirestoreDocStore(PROJECT, client)

    def increment(txn: Txn) -> None:
        current = txn.get("bench", "counter")
        assert current is not None
        txn.write(update("bench", "counter", {"value": current["value"] + 1}))

    return lambda: store.transaction(increment)


def _race(make: Callable[[object], Increment], writers: int, rounds: int) -> str:
    from google.cloud import firestore

    firestore.Client(project=PROJECT).collection("bench").document("counter").set({"value": 0})
    times: list[float] = []
    failures: list[str] = []

    def writer() -> None:
        increment = make(firestore.Client(project=PROJECT))
        for _ in range(rounds):
            started = time.monotonic()
            try:
                increment()
            except Exception as exc:  # the figure to print: how many gave up, and why
                failures.append(type(exc).__name__)
            times.append(time.monotonic() - started)

    threads = [threading.Thread(target=writer) for _ in range(writers)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - started
    value = (firestore.Client(project=PROJECT).collection("bench").document("counter").get().to_dict() or {})["value"]
    exact = value == writers * rounds - len(failures)
    return (
        f"{wall:6.2f} s wall, one increment median {statistics.median(times):.3f} s / worst {max(times):.3f} s, "
        f"{len(failures)} failed, counter {value} ({'exact' if exact else 'WRONG'})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    emulator = start_emulator("firestore", PROJECT)
    os.environ["FIRESTORE_EMULATOR_HOST"] = emulator.host_port
    try:
        print(f"{args.writers} writers x {args.rounds} increments of one document")
        print(f"  locking transactions     {_race(_locking, args.writers, args.rounds)}")
        print(f"  optimistic (the adapter) {_race(_optimistic, args.writers, args.rounds)}")
    finally:
        stop_process(emulator.process)


if __name__ == "__main__":
    main()
