"""The booking repository's contract, on its fake and on its DocStore adapter over the fake store."""

from __future__ import annotations

from shared.bookings.model import OUTBOX
from shared.bookings.repository import DocStoreBookingRepository
from tests.bookings_contract import check_booking_repository_contract
from tests.fakes.bookings import FakeBookingRepository
from tests.fakes.store import FakeDocStore


def test_the_fake_honours_the_booking_repository_contract() -> None:
    repo = FakeBookingRepository()
    check_booking_repository_contract(repo, repo.leases)
    assert ("b1", 1) in repo.outbox and ("b1", 3) in repo.outbox


def test_the_docstore_adapter_honours_the_booking_repository_contract() -> None:
    store = FakeDocStore()
    check_booking_repository_contract(DocStoreBookingRepository(store), store)
    entries = {(e["booking_id"], e["revision"]) for _, e in store.query(OUTBOX)}
    assert {("b1", 1), ("b1", 2), ("b1", 3), ("b2", 1)} <= entries, "every new revision gets its outbox entry"
