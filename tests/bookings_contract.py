"""One behavioural contract for the booking repository, run against its fake and its DocStore adapter (on the
fake store in unit tests, on the Firestore emulator in integration tests)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from shared.bookings.booking import Booking, Fan
from shared.bookings.model import cell_ids, token_hash
from shared.bookings.repository import BookingRepository, SlotTaken
from shared.store.lease import LeaseLost, take_lease
from shared.store.port import DocStore

NOW = datetime(2026, 3, 2, 8, tzinfo=UTC)


def sample(
    creator_id: str = "c1", hour: int = 9, minutes: int = 30, token: str = "t-1", sealed: dict[str, str] | None = None
) -> Booking:
    start = datetime(2026, 3, 2, hour, tzinfo=UTC)
    end = start + timedelta(minutes=minutes)
    return Booking(
        creator_id=creator_id,
        offer_id="o1",
        offer_title="Coaching",
        duration_minutes=minutes,
        price_cents=0,
        start=start,
        end=end,
        timezone="UTC",
        fan=Fan(name="Ada", email="ada@example.com"),
        status="confirmed",
        revision=1,
        change="confirmed",
        manage_token_hash=token_hash(token),
        manage_token_sealed=sealed or {"v": "sealed"},
        cells=tuple(cell_ids(creator_id, start, end)),
        created_at=NOW,
        updated_at=NOW,
        mail_due_at=NOW + timedelta(seconds=8),
    )


def next_revision(booking: Booking) -> Booking:
    return replace(booking, revision=booking.revision + 1, updated_at=NOW)


def check_booking_repository_contract(repo: BookingRepository, leases: DocStore) -> None:
    """`leases` is the store the repository reads the leases that fence writes from."""
    first = _check_adding(repo)
    _check_conditional_writes(repo, first)
    _check_fenced_writes(repo, leases)
    _check_cells_follow_the_status(repo, first)
    _check_queries(repo)


def _check_adding(repo: BookingRepository) -> Booking:
    first = sample()
    repo.add("b1", first)
    assert repo.get("b1") == first
    assert repo.get("missing") is None
    assert repo.with_manage_token("t-1") == ("b1", first)
    assert repo.with_manage_token("nope") is None

    # An overlapping booking collides on a cell and is not stored at all.
    with pytest.raises(SlotTaken):
        repo.add("b2", sample(hour=9, minutes=60, token="t-2"))
    assert repo.get("b2") is None
    assert repo.cell_holders(first.cells) == {"b1"}
    return first


def _check_conditional_writes(repo: BookingRepository, first: Booking) -> None:
    # A change decided from an older revision (or another status) is refused and writes nothing.
    moved = replace(next_revision(first), change="rescheduled")
    assert repo.update_if("b1", first, moved) is not None
    stale = replace(next_revision(first), change="cancelled", status="cancelled")
    assert repo.update_if("b1", first, stale) is None
    assert repo.get("b1") == moved
    assert repo.update_if("missing", first, moved) is None

    # Only what the change changed is written: a field recorded meanwhile by someone else survives.
    current = repo.get("b1")
    assert current is not None
    recorded = repo.record("b1", current, replace(current, zoom_intent="marker"))
    assert recorded.zoom_intent == "marker"
    written = repo.update_if("b1", current, replace(current, mail_due_at=None))
    assert written is not None
    assert (written.zoom_intent, written.mail_due_at) == ("marker", None)
    assert repo.get("b1") == written

    # The default guard is the revision and the status; a caller may decide from more (the link, for emails).
    linked = replace(written, meeting_url="https://zoom.us/j/1")
    repo.record("b1", written, linked)
    assert repo.update_if("b1", written, replace(written, mail_due_at=NOW), Booking.link_decided_from) is None
    assert repo.update_if("b1", written, replace(written, mail_due_at=NOW)) is not None


def _check_fenced_writes(repo: BookingRepository, leases: DocStore) -> None:
    # A write under a lease goes through while the lease is held, and is refused once another caller took it over.
    held = take_lease(leases, "contract", NOW, timedelta(seconds=30))
    assert held is not None
    current = repo.get("b1")
    assert current is not None
    fenced = repo.update_if("b1", current, replace(current, zoom_intent="fenced"), fence=held)
    assert fenced is not None and fenced.zoom_intent == "fenced"
    assert take_lease(leases, "contract", NOW + timedelta(seconds=31), timedelta(seconds=30)) is not None
    with pytest.raises(LeaseLost):
        repo.update_if("b1", fenced, replace(fenced, zoom_intent="stale"), fence=held)
    assert repo.get("b1") == fenced, "a fenced-out write writes nothing"


def _check_cells_follow_the_status(repo: BookingRepository, first: Booking) -> None:
    # Cancelling gives the cells back, so another booking can take the time; confirming again re-claims them.
    before_cancel = repo.get("b1")
    assert before_cancel is not None
    cancelled = replace(next_revision(before_cancel), status="cancelled", change="cancelled")
    assert repo.update_if("b1", before_cancel, cancelled) is not None
    assert repo.cell_holders(first.cells) == set()
    repo.add("b2", sample(hour=9, minutes=60, token="t-2"))
    after_cancel = repo.get("b1")
    assert after_cancel is not None
    with pytest.raises(SlotTaken):
        repo.update_if("b1", after_cancel, replace(next_revision(after_cancel), status="confirmed", change="confirmed"))
    assert repo.get("b1") == after_cancel, "a refused claim writes nothing"


def _check_queries(repo: BookingRepository) -> None:
    # Queries: the creator's bookings by start, and what is due by a time.
    repo.add("b3", sample(hour=11, token="t-3"))
    repo.add("other", sample(creator_id="c2", hour=9, token="t-4"))
    rows = repo.of_creator("c1")
    assert {i for i, _ in rows} == {"b1", "b2", "b3"}
    assert [b.start for _, b in rows] == sorted(b.start for _, b in rows)
    assert rows[-1][0] == "b3"
    assert {i for i, _ in repo.of_creator("c1", starting_before=datetime(2026, 3, 2, 10, tzinfo=UTC))} == {"b1", "b2"}
    assert {i for i, _ in repo.mail_due_by(NOW + timedelta(seconds=8), 10)} == {"b1", "b2", "b3", "other"}
    assert {i for i, _ in repo.mail_due_by(NOW, 10)} == {"b1"}
    assert list(repo.mail_due_by(NOW - timedelta(seconds=1), 10)) == []
    assert list(repo.reminders_due_by(NOW, 10)) == []
    assert list(repo.holds_expired_by(NOW, 10)) == []
    assert list(repo.link_nudges_due_by(NOW, 10)) == []
    # Small batches still read all that is due, oldest due first, each once.
    due = [(b.mail_due_at, i) for i, b in repo.mail_due_by(NOW + timedelta(days=1), 2)]
    assert [i for _, i in due] == [i for _, i in sorted(due, key=lambda row: (row[0] or NOW, row[1]))]
    assert sorted(i for _, i in due) == ["b1", "b2", "b3", "other"]

    # The re-seal sweep finds manage tokens by the key version that sealed them.
    repo.add("old-key", sample(hour=13, token="t-5", sealed={"key_version": "m1", "nonce": "n", "ciphertext": "c"}))
    assert [i for i, _ in repo.manage_tokens_sealed_under(["m0", "m1"], 10)] == ["old-key"]
    assert repo.manage_tokens_sealed_under(["m2"], 10) == []

    # One caller releases an expired hold (per revision).
    hold = repo.get("b3")
    assert hold is not None
    assert repo.claim_hold_release("b3", hold, NOW) is True
    assert repo.claim_hold_release("b3", hold, NOW) is False
