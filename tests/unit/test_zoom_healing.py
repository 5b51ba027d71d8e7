"""Heal after a Zoom reconnect, with fakes: the same account retries the deletes that failed (their notices say
so), another account deletes nothing and tells the creator which meetings stay there, and upcoming bookings left
without a link get one (meeting made, link_ready to fan and creator) while those with a link keep it."""

from __future__ import annotations

from datetime import timedelta

from shared.bookings.busy import NoCalendar
from shared.bookings.model import BOOKINGS
from shared.bookings.notices import ZOOM_DELETE_FAILED, ZOOM_DELETE_RETRIED, ZOOM_OTHER_ACCOUNT
from shared.bootstrap import booking_service
from shared.connections.heal import ZoomHealing
from shared.meetings.reconcile import zoom_marker
from shared.providers.errors import ErrorKind, ProviderError
from shared.store.port import update
from tests.unit.test_meetings_harness import FAN, local
from tests.unit.test_test_booking import TrialHarness


def _healing(h: TrialHarness) -> ZoomHealing:
    r = h.runtime
    service = booking_service(r, NoCalendar())
    return ZoomHealing(r.bookings, service, r.notices, r.connections, r.zoom, r.clock)


def _break_zoom(h: TrialHarness) -> None:
    h.connections.statuses[(h.creator_id, "zoom")] = "reconnect_required"


def test_the_same_account_retries_failed_deletes_and_gives_unlinked_bookings_a_link() -> None:
    h = TrialHarness()
    h.connect("zoom")
    linked = h.book(local(3, 9))
    cancelled = h.book(local(3, 10))
    kept_link = h.settle(linked)["meeting_url"]
    h.settle(cancelled)
    _break_zoom(h)
    h.bookings.cancel(cancelled, by="fan")
    h.settle(cancelled)
    unlinked = h.book(local(3, 11))
    assert h.settle(unlinked)["link_status"] == "unavailable"
    [left] = h.notices()
    assert left["kind"] == "zoom_delete_failed"
    linked_revision = h.doc(linked)["revision"]

    h.connect("zoom")
    _healing(h).after_connect(h.creator_id, "same_account")

    [resolved] = h.notices()
    assert (resolved["message"], resolved["resolved"]) == (ZOOM_DELETE_RETRIED, True)
    assert int(left["meeting_id"]) not in h.zoom.meetings
    assert (h.doc(linked)["revision"], h.doc(linked)["meeting_url"]) == (linked_revision, kept_link)
    reopened = h.doc(unlinked)
    assert (reopened["change"], reopened["link_status"]) == ("link_retry", "pending")
    healed = h.settle(unlinked)
    assert (healed["link_status"], healed["video_provider"]) == ("ready", "zoom")
    h.notifier.send_owed(unlinked)
    h.notifier.send_owed(unlinked)  # a redelivery sends nothing twice
    sent = sorted(
        (str(m["X-Flo-Email-Kind"]), m["To"].addresses[0].addr_spec)
        for m in h.mail.sent
        if m["X-Flo-Booking-Id"] == unlinked and m["X-Flo-Email-Kind"] == "link_ready"
    )
    assert sent == sorted([("link_ready", "creator@example.com"), ("link_ready", FAN["email"])])


def test_another_account_deletes_nothing_and_names_the_meetings_that_stay_in_the_old_one() -> None:
    h = TrialHarness()
    h.connect("zoom")
    booking_id = h.book(local(3, 9))
    before = h.settle(booking_id)
    meeting_id = before["zoom"]["meeting_id"]
    _break_zoom(h)

    h.connect("zoom")
    _healing(h).after_connect(h.creator_id, "other_account")

    assert "delete_meeting" not in h.zoom.calls
    assert meeting_id in h.zoom.meetings
    [notice] = h.notices()
    assert (notice["kind"], int(notice["meeting_id"]), notice["message"]) == (
        "zoom_meeting_kept",
        meeting_id,
        ZOOM_OTHER_ACCOUNT,
    )
    after = h.doc(booking_id)
    assert after["zoom"] is None
    assert after["meeting_url"] == before["meeting_url"]  # the fan's link stays
    h.bookings.cancel(booking_id, by="creator")
    h.settle(booking_id)
    assert "delete_meeting" not in h.zoom.calls  # not even on cancel: it is in the other account


class _Deletes:
    """A Zoom whose deletes of the meetings named fail with the kind of error named, and of the others succeed (the
    rest of the port is never called here)."""

    def __init__(self, failing: dict[int, ErrorKind]) -> None:
        self.failing = failing
        self.tried: list[int] = []

    def delete_meeting(self, token: str, meeting_id: int) -> None:
        self.tried.append(meeting_id)
        if meeting_id in self.failing:
            raise ProviderError(self.failing[meeting_id], "zoom")


def _left_behind(h: TrialHarness, zoom: _Deletes) -> ZoomHealing:
    h.connect("zoom")
    h.runtime.notices.zoom_delete_failed(h.creator_id, "booking-1", 111)
    r = h.runtime
    return ZoomHealing(r.bookings, booking_service(r, NoCalendar()), r.notices, r.connections, zoom, r.clock)  # type: ignore[arg-type]


def test_a_meeting_already_gone_counts_as_deleted() -> None:
    h = TrialHarness()
    zoom = _Deletes({111: ErrorKind.NOT_FOUND})
    _left_behind(h, zoom).after_connect(h.creator_id, "same_account")
    [notice] = h.notices()
    assert (zoom.tried, notice["message"], notice["resolved"]) == ([111], ZOOM_DELETE_RETRIED, True)


def test_a_delete_that_fails_again_leaves_the_notice_open_and_is_tried_once_per_reconnect() -> None:
    h = TrialHarness()
    zoom = _Deletes({111: ErrorKind.TRANSIENT})
    healing = _left_behind(h, zoom)
    healing.after_connect(h.creator_id, "same_account")
    [notice] = h.notices()
    assert (zoom.tried, notice["kind"], notice.get("resolved", False)) == ([111], "zoom_delete_failed", False)


def test_with_zoom_broken_again_nothing_is_tried_and_the_notice_stays() -> None:
    h = TrialHarness()
    zoom = _Deletes({111: ErrorKind.NOT_FOUND})
    healing = _left_behind(h, zoom)
    _break_zoom(h)
    healing.after_connect(h.creator_id, "same_account")
    [notice] = h.notices()
    assert (zoom.tried, notice.get("resolved", False)) == ([], False)


def test_each_leftover_meeting_is_tried_whatever_the_notices_before_it_were() -> None:
    """One whose delete fails again, and one resolved already (not tried), do not stop the ones after them."""
    h = TrialHarness()
    zoom = _Deletes({111: ErrorKind.TRANSIENT})
    healing = _left_behind(h, zoom)
    h.clock.advance(timedelta(minutes=1))
    h.runtime.notices.zoom_delete_failed(h.creator_id, "booking-2", 222)
    h.runtime.notices.resolve("zoom-delete-222", ZOOM_DELETE_RETRIED)
    h.clock.advance(timedelta(minutes=1))
    h.runtime.notices.zoom_delete_failed(h.creator_id, "booking-3", 333)

    healing.after_connect(h.creator_id, "same_account")

    assert zoom.tried == [111, 333]
    assert {n["meeting_id"]: n.get("resolved", False) for n in h.notices()} == {"111": False, "222": True, "333": True}


def test_another_account_forgets_every_recorded_meeting_and_says_where_the_left_behind_ones_are() -> None:
    h = TrialHarness()
    h.connect("zoom")
    linked = h.book(local(3, 10))
    meeting_id = h.settle(linked)["zoom"]["meeting_id"]
    h.store.commit([update(BOOKINGS, linked, {"zoom_intent": zoom_marker(linked)})])  # an earlier attempt's, too
    _break_zoom(h)
    unlinked = h.book(local(3, 9))  # listed first, with no meeting to forget
    h.settle(unlinked)
    h.runtime.notices.zoom_delete_failed(h.creator_id, "booking-2", 222)
    h.runtime.notices.zoom_delete_failed(h.creator_id, "booking-3", 333)
    h.runtime.notices.resolve("zoom-delete-333", ZOOM_DELETE_RETRIED)

    h.connect("zoom")
    _healing(h).after_connect(h.creator_id, "other_account")

    after = h.doc(linked)
    assert (after["zoom"], after["zoom_intent"]) == (None, None)
    notices = {n.meeting_id: n for n in h.runtime.notices.open_for(h.creator_id)}
    kept = notices[str(meeting_id)]
    assert (kept.kind, kept.booking_id, kept.message) == ("zoom_meeting_kept", linked, ZOOM_OTHER_ACCOUNT)
    assert (notices["222"].message, notices["222"].resolved) == (
        f"{ZOOM_DELETE_FAILED}. It stays in your earlier Zoom account.",
        True,
    )
    assert notices["333"].message == ZOOM_DELETE_RETRIED
