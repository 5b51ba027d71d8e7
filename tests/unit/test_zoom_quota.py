"""Zoom's 100 meeting creates per host and UTC day, counted per creator: once spent, a booking falls back at
once (Meet when Google is connected) without calling Zoom, the creator gets one notice a day, and the budget is
back at 00:00 UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.bookings.notices import ZOOM_QUOTA_SPENT
from shared.meetings.quota import ZOOM_DAILY_WRITES, ZOOM_QUOTA, ZoomQuota
from shared.store.port import put
from tests.fakes.store import FakeDocStore
from tests.unit.test_meetings_harness import MeetingsHarness, local


def test_each_create_counts_and_the_budget_ends_at_the_limit_and_returns_at_midnight_utc() -> None:
    quota = ZoomQuota(FakeDocStore(), limit=3)
    late = datetime(2026, 3, 2, 23, 59, tzinfo=UTC)
    assert [quota.take("c", late) for _ in range(4)] == [True, True, True, False]
    assert quota.take("other", late) is True  # per creator
    assert quota.take("c", late + timedelta(minutes=1)) is True  # 00:00 UTC: a new day


def test_a_spent_budget_falls_back_to_meet_at_once_and_tells_the_creator_once() -> None:
    h = MeetingsHarness()
    h.connect("zoom", "google")
    today = h.clock.now().date().isoformat()
    h.store.commit([put(ZOOM_QUOTA, f"{h.creator_id}_{today}", {"count": ZOOM_DAILY_WRITES})])

    first = h.settle(h.book(local(3, 10)))
    second = h.settle(h.book(local(3, 11)))

    assert (first["video_provider"], second["video_provider"]) == ("google_meet", "google_meet")
    assert first["meeting_url"].startswith("https://meet.google.com/")
    assert "create_meeting" not in h.zoom.calls  # no call that Zoom would answer with a 429
    [notice] = h.notices()
    assert (notice["kind"], notice["message"]) == ("zoom_quota_spent", ZOOM_QUOTA_SPENT)

    h.clock.advance(timedelta(days=1))
    assert h.settle(h.book(local(4, 10)))["video_provider"] == "zoom"


def test_creates_are_counted_per_creator() -> None:
    h = MeetingsHarness()
    h.connect("zoom")
    h.settle(h.book(local(3, 10)))
    h.settle(h.book(local(3, 11)))
    today = h.clock.now().date().isoformat()
    assert (h.store.get(ZOOM_QUOTA, f"{h.creator_id}_{today}") or {})["count"] == 2
