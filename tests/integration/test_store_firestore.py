"""The Firestore adapter and the booking repository on the emulator, including how contention surfaces."""

import subprocess
import sys
from collections.abc import Callable
from typing import TypeVar

import pytest

from shared.bookings.repository import DocStoreBookingRepository
from shared.store.firestore import FirestoreDocStore
from shared.store.port import Conflict, Contended, NotFound, Txn, create, put, update
from tests.bookings_contract import check_booking_repository_contract
from tests.fakes.emulator import wipe_firestore_emulator
from tests.integration.conftest import PROJECT_ID
from tests.store_contract import check_store_contract

T = TypeVar("T")


def test_firestore_store_honours_the_store_contract(firestore_store: FirestoreDocStore) -> None:
    check_store_contract(firestore_store)


def test_the_booking_repository_honours_its_contract_on_firestore(firestore_store: FirestoreDocStore) -> None:
    check_booking_repository_contract(DocStoreBookingRepository(firestore_store), firestore_store)


_HOLDER = """
import sys, time
from google.cloud import firestore
client = firestore.Client(project=sys.argv[1])
transaction = client.transaction()
transaction._begin()
client.collection("locks").document("held").get(transaction=transaction)
print("read", flush=True)
time.sleep(600)
"""
"""A worker killed in the middle of a transaction: it began one, read the document, and never finished."""
LOCKS_PROJECT = f"{PROJECT_ID}-locks"
"""A project of its own: the lock the killed holder leaves (for about a minute) must not block the next
test's wipe of the shared one."""


def test_a_transaction_behind_a_killed_instances_lock_is_contended_and_writes_nothing(
    emulators: dict[str, str],
) -> None:
    store = FirestoreDocStore(LOCKS_PROJECT)
    store.commit([put("locks", "held", {"value": 0})])
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, LOCKS_PROJECT], stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"read\n"
    finally:
        holder.kill()
        holder.wait()
    impatient = FirestoreDocStore(LOCKS_PROJECT, attempts=2)  # 2 s of lock wait each, not the 20 of production

    def increment(txn: Txn) -> None:
        current = txn.get("locks", "held")
        assert current is not None
        txn.write(update("locks", "held", {"value": current["value"] + 1}))

    with pytest.raises(Contended):  # not the client's bare ValueError, nor Conflict ("a create met a document")
        impatient.transaction(increment)
    assert store.get("locks", "held") == {"value": 0}


def _meddled(store: FirestoreDocStore, meddle: Callable[[], None], body: Callable[[Txn], T]) -> tuple[T, int]:
    """Run `body` as a transaction, with `meddle` (another writer) run once between the first try's reads and its
    commit; the result and how many tries it took."""
    tries = 0

    def run(txn: Txn) -> T:
        nonlocal tries
        tries += 1
        result = body(txn)
        if tries == 1:
            meddle()
        return result

    return store.transaction(run), tries


def test_a_write_decided_from_a_read_that_changed_before_the_commit_is_decided_again(
    firestore_store: FirestoreDocStore,
) -> None:
    store = firestore_store
    store.commit([put("counters", "c", {"value": 1})])

    def increment(txn: Txn) -> int:
        current = txn.get("counters", "c")
        assert current is not None
        txn.write(update("counters", "c", {"value": current["value"] + 1}))
        return int(current["value"])

    seen, tries = _meddled(store, lambda: store.commit([update("counters", "c", {"value": 10})]), increment)
    assert (seen, tries) == (10, 2)
    assert store.get("counters", "c") == {"value": 11}


def test_a_document_only_read_is_checked_at_the_commit_and_left_as_it_was(firestore_store: FirestoreDocStore) -> None:
    """The fence pattern: a lease read, another document written only if the lease is still the one read."""
    store = firestore_store
    store.commit([put("leases", "l", {"holder": "a"}), put("bookings", "b", {"status": "confirmed"})])

    def write_if_held(txn: Txn) -> bool:
        lease = txn.get("leases", "l")
        if lease is None or lease["holder"] != "a":
            return False
        txn.write(update("bookings", "b", {"status": "cancelled"}))
        return True

    assert _meddled(store, lambda: store.commit([put("leases", "l", {"holder": "b"})]), write_if_held) == (False, 2)
    assert store.get("bookings", "b") == {"status": "confirmed"}
    store.commit([put("leases", "l", {"holder": "a"})])
    assert store.transaction(write_if_held) is True
    assert store.get("leases", "l") == {"holder": "a"}, "the check changes nothing"
    assert store.get("bookings", "b") == {"status": "cancelled"}


def test_a_document_read_as_missing_and_made_meanwhile_is_read_again_not_a_conflict(
    firestore_store: FirestoreDocStore,
) -> None:
    store = firestore_store

    def take_if_free(txn: Txn) -> str:
        current = txn.get("leases", "free")
        if current is not None:
            return str(current["holder"])
        txn.write(put("leases", "free", {"holder": "me"}))
        return "me"

    someone = [put("leases", "free", {"holder": "someone"})]
    assert _meddled(store, lambda: store.commit(someone), take_if_free) == ("someone", 2)
    assert store.get("leases", "free") == {"holder": "someone"}

    def unless_there(txn: Txn) -> bool:
        if txn.get("leases", "absent") is not None:
            return False
        txn.write(put("bookings", "b", {"status": "confirmed"}))
        return True

    made = [put("leases", "absent", {"holder": "x"})]
    assert _meddled(store, lambda: store.commit(made), unless_there) == (False, 2)
    assert store.get("bookings", "b") is None


def test_a_create_meeting_a_document_it_never_read_is_a_conflict_and_an_update_of_none_is_not_found(
    firestore_store: FirestoreDocStore,
) -> None:
    store = firestore_store
    store.commit([put("cells", "taken", {"booking_id": "other"})])

    def claim(txn: Txn) -> None:
        txn.get("bookings", "b")
        txn.write(put("bookings", "b", {"status": "confirmed"}))
        txn.write(create("cells", "taken", {"booking_id": "b"}))

    with pytest.raises(Conflict):
        store.transaction(claim)
    assert store.get("bookings", "b") is None, "nothing of the batch is written"
    with pytest.raises(NotFound):
        store.transaction(lambda txn: txn.write(update("bookings", "nobody", {"status": "confirmed"})))


def test_a_transaction_whose_reads_keep_changing_is_contended_after_its_tries(emulators: dict[str, str]) -> None:
    store = FirestoreDocStore(PROJECT_ID, attempts=3)
    wipe_firestore_emulator(PROJECT_ID)
    store.commit([put("counters", "c", {"value": 0})])
    tries = 0

    def always_meddled(txn: Txn) -> None:
        nonlocal tries
        tries += 1
        current = txn.get("counters", "c")
        assert current is not None
        store.commit([update("counters", "c", {"value": current["value"] + 100})])
        txn.write(update("counters", "c", {"value": -1}))

    with pytest.raises(Contended):
        store.transaction(always_meddled)
    assert tries == 3
    assert store.get("counters", "c") == {"value": 300}
