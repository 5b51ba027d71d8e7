"""The booking repository's contract, on its fake and on its DocStore adapter over the fake store."""

from __future__ import annotations

from datetime import timedelta

from shared.bookings.model import BOOKINGS, HOLD_RELEASE_RETENTION, HOLD_RELEASES, OUTBOX
from shared.bookings.repository import DocStoreBookingRepository
from shared.store.port import update
from tests.bookings_contract import NOW, check_booking_repository_contract, sample
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


def test_a_stored_booking_that_cannot_be_read_is_passed_over_not_allowed_to_hide_the_rest() -> None:
    store = FakeDocStore()
    repo = DocStoreBookingRepository(store)
    for booking_id, hour in (("a", 9), ("b", 10), ("c", 11)):
        repo.add(booking_id, sample(hour=hour, token=f"t-{booking_id}"))
    store.commit([update(BOOKINGS, "a", {"fan": None})])
    assert [i for i, _ in repo.mail_due_by(NOW + timedelta(days=1), 1)] == ["b", "c"]
    assert [i for i, _ in repo.of_creator("c1")] == ["b", "c"]


def test_a_hold_release_marker_carries_the_expiry_firestore_s_ttl_deletes_it_by() -> None:
    store = FakeDocStore()
    repo = DocStoreBookingRepository(store)
    repo.add("b1", sample())
    booking = repo.get("b1")
    assert booking is not None and repo.claim_hold_release("b1", booking, NOW)
    [(_, marker)] = store.query(HOLD_RELEASES)
    assert marker["expires_at"] == NOW + HOLD_RELEASE_RETENTION
