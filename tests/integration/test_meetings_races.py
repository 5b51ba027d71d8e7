"""Two meetings workers on real Firestore (the emulator): one frozen past its lease while the other takes over."""

from __future__ import annotations

from shared.store.firestore import FirestoreDocStore
from tests.unit.test_meetings_races import check_a_worker_past_its_lease_is_fenced


def test_a_worker_past_its_lease_writes_nothing_on_firestore(firestore_store: FirestoreDocStore) -> None:
    check_a_worker_past_its_lease_is_fenced(firestore_store)
