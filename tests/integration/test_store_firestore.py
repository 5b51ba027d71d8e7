"""The Firestore adapter and the booking repository on the emulator, including how contention surfaces."""

import subprocess
import sys

import pytest

from shared.bookings.repository import DocStoreBookingRepository
from shared.store.firestore import FirestoreDocStore
from shared.store.port import Contended, Txn, put, update
from tests.bookings_contract import check_booking_repository_contract
from tests.integration.conftest import PROJECT_ID
from tests.store_contract import check_store_contract


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
