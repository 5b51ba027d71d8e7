"""The scheduler's booking sweeps: a link still pending past its deadline gets its event published again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.bookings.model import BOOKINGS
from shared.bookings.sweeps import nudge_stuck_links
from shared.bus.fake import FakePublisher
from shared.store.fake import FakeDocStore
from shared.store.port import put

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def _booking(status: str, link_status: str, nudge_at: datetime) -> dict[str, object]:
    return {"status": status, "link_status": link_status, "revision": 3, "link_nudge_at": nudge_at}


def test_only_confirmed_pending_links_past_their_time_are_republished() -> None:
    store, publisher = FakeDocStore(), FakePublisher()
    store.commit(
        [
            put(BOOKINGS, "stuck", _booking("confirmed", "pending", NOW - timedelta(seconds=1))),
            put(BOOKINGS, "early", _booking("confirmed", "pending", NOW + timedelta(minutes=5))),
            put(BOOKINGS, "settled", _booking("confirmed", "ready", NOW - timedelta(seconds=1))),
            put(BOOKINGS, "gone", _booking("cancelled", "pending", NOW - timedelta(seconds=1))),
        ]
    )
    assert nudge_stuck_links(store, publisher, NOW) == 1
    assert publisher.on("booking-events") == [{"type": "booking.changed", "booking_id": "stuck", "revision": 3}]
    stuck = store.get(BOOKINGS, "stuck")
    assert stuck is not None and stuck["link_nudge_at"] > NOW, "the next nudge waits an interval"
    assert (store.get(BOOKINGS, "settled") or {})["link_nudge_at"] is None
    assert (store.get(BOOKINGS, "gone") or {})["link_nudge_at"] is None
    assert nudge_stuck_links(store, publisher, NOW) == 0, "no second nudge within the interval"
