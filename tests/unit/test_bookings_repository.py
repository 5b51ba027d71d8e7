"""The booking repository's contract, on its fake and on its DocStore adapter over the fake store."""

from __future__ import annotations

from datetime import timedelta

from shared.bookings.model import BOOKINGS, HOLD_RELEASE_RETENTION, HOLD_RELEASES, OUTBOX
from shared.bookings.repository import DocStoreBookingRepository, each_of_creator
from shared.store.port import update
from tests.bookings_contract import NOW, check_booking_repository_contract, next_revision, sample
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
    assert [i for i, _ in repo.overlapping("c1", NOW, NOW + timedelta(days=1))] == ["b", "c"]
    first = repo.page_of_creator("c1", upcoming=True, now=NOW, size=1)
    assert [i for i, _ in first] == ["b"], "the unreadable one's place on the page goes to the next"
    past = repo.page_of_creator("c1", upcoming=False, now=NOW + timedelta(days=1), size=2)
    assert [i for i, _ in past] == ["c", "b"]


def test_a_hold_release_marker_carries_the_expiry_firestore_s_ttl_deletes_it_by() -> None:
    store = FakeDocStore()
    repo = DocStoreBookingRepository(store)
    repo.add("b1", sample())
    booking = repo.get("b1")
    assert booking is not None and repo.claim_hold_release("b1", booking, NOW)
    [(_, marker)] = store.query(HOLD_RELEASES)
    assert marker["expires_at"] == NOW + HOLD_RELEASE_RETENTION


def test_a_write_with_nothing_to_change_answers_whether_the_booking_is_still_as_seen() -> None:
    repo = DocStoreBookingRepository(FakeDocStore())
    repo.add("b1", sample())
    seen = repo.get("b1")
    assert seen is not None
    assert repo.update_if("b1", seen, seen) == seen
    moved = repo.update_if("b1", seen, next_revision(seen))
    assert moved is not None
    assert repo.update_if("b1", seen, seen) is None, "moved on since it was seen"
    assert repo.update_if("b1", moved, moved) == moved
    assert repo.update_if("gone", seen, seen) is None


def test_every_booking_of_a_creator_is_read_once_page_after_page() -> None:
    repo = DocStoreBookingRepository(FakeDocStore())
    ids = [f"b{n}" for n in range(8)]  # ids sort as the ends do: a cursor naming the wrong row repeats one
    for hour, booking_id in enumerate(ids, start=9):
        repo.add(booking_id, sample(hour=hour, token=f"t-{booking_id}"))
    read = each_of_creator(repo, "c1", upcoming=True, now=NOW, batch=3)
    assert [booking_id for booking_id, _ in read] == ids
