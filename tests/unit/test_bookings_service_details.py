"""What the booking use cases write and answer, field by field: the timers a change sets or clears, the
words and codes of every refusal, the dashboard's week and pages, and a booking read back as stored."""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from shared.bookings.booking import Booking, Fan, GoogleEventRef, ZoomMeetingRef
from shared.bookings.model import BOOKINGS, CELLS, CREATORS, HOLD_RELEASES
from shared.bookings.notices import (
    GOOGLE_WRITES_PAUSED,
    ZOOM_DELETE_FAILED,
    ZOOM_DELETE_RETRIED,
    ZOOM_OTHER_ACCOUNT,
    ZOOM_QUOTA_SPENT,
)
from shared.bookings.service import LINK_NUDGE_INTERVAL, BookingChangedError, SlotTakenError
from shared.bookings.sweeps import run_booking_sweeps
from shared.errors import ConflictError, InvalidInputError, NotFoundError, NotPermittedError
from shared.store.port import Cursor, Doc, DocStore, Where, create, delete, update
from tests.fakes.store import DelegatingStore, FakeDocStore
from tests.unit.test_bookings_harness import POLICY, Harness, at

FAN = Fan(name="Fan", email="fan@example.com")


def moment(hour: int, minute: int = 0, day: int = 2) -> datetime:
    return datetime.fromisoformat(at(hour, minute, day))


@pytest.fixture
def h() -> Harness:
    return Harness()


def offers(h: Harness) -> tuple[str, str, str]:
    """(creator id, a free 30-minute offer, a paid one)."""
    creator = h.creator()
    return creator.creator_id, h.offer(creator), h.offer(creator, price_cents=2500)


def stored(h: Harness, booking_id: str) -> Booking:
    booking = h.runtime.bookings.get(booking_id)
    assert booking is not None
    return booking


# ---- what a change writes ------------------------------------------------------------------------------------


def test_a_paid_booking_is_created_held_at_its_price_and_a_one_cent_offer_is_paid_too(h: Harness) -> None:
    creator = h.creator()
    cent = h.offer(creator, price_cents=1)
    held = stored(h, h.service.book(cent, moment(9), FAN).booking_id)
    assert (held.status, held.change, held.price_cents) == ("pending_payment", "created", 1)
    assert held.hold_expires_at == h.clock.now() + POLICY.payment_hold


def test_a_confirmation_owes_the_link_by_its_deadline_and_the_nudge_a_minute_later(h: Harness) -> None:
    _, free, _ = offers(h)
    booking = stored(h, h.service.book(free, moment(9), FAN).booking_id)
    now = h.clock.now()
    assert booking.link_deadline_at == now + POLICY.link_deadline
    assert booking.link_nudge_at == now + POLICY.link_deadline + LINK_NUDGE_INTERVAL
    assert booking.mail_due_at == now + POLICY.confirmation_grace


def test_a_fan_cancelling_a_confirmed_booking_owes_its_emails_and_cleanup_now_and_no_reminder(h: Harness) -> None:
    _, free, _ = offers(h)
    booking_id = h.service.book(free, moment(9, day=4), FAN).booking_id
    assert stored(h, booking_id).next_reminder_at is not None
    h.clock.advance(timedelta(minutes=5))
    cancelled = h.service.cancel(booking_id, by="fan")
    now = h.clock.now()
    assert (cancelled.cancelled_by, cancelled.cancel_reason, cancelled.updated_at) == ("fan", "cancelled", now)
    assert (cancelled.mail_due_at, cancelled.link_nudge_at) == (now, now + LINK_NUDGE_INTERVAL)
    assert cancelled.next_reminder_at is None


def test_a_hold_cancelled_before_payment_sets_no_timer(h: Harness) -> None:
    """Nobody was told it was booked and nothing was made for it: no email, no cleanup, no hold left to expire."""
    _, _, paid = offers(h)
    booking_id = h.service.book(paid, moment(9), FAN).booking_id
    cancelled = h.service.cancel(booking_id, by="fan")
    assert (cancelled.hold_expires_at, cancelled.mail_due_at, cancelled.link_nudge_at) == (None, None, None)


def test_each_change_is_stamped_with_its_time(h: Harness) -> None:
    _, _, paid = offers(h)
    released = h.service.book(paid, moment(9), FAN).booking_id
    paid_in_time = h.service.book(paid, moment(10), FAN).booking_id
    h.clock.advance(timedelta(minutes=1))
    assert h.service.confirm_payment(paid_in_time).updated_at == h.clock.now()
    h.clock.advance(timedelta(minutes=15))
    assert h.service.release_expired_holds() == 1
    assert stored(h, released).updated_at == h.clock.now()


def test_a_late_payment_for_a_lost_slot_is_stamped_with_its_time(h: Harness) -> None:
    _, free, paid = offers(h)
    late = h.service.book(paid, moment(9), FAN).booking_id
    h.clock.advance(timedelta(minutes=16))
    h.service.book(free, moment(9), FAN)
    h.clock.advance(timedelta(minutes=1))
    lost = h.service.confirm_payment(late)
    assert (lost.change, lost.updated_at, lost.mail_due_at) == ("slot_lost", h.clock.now(), h.clock.now())


def test_a_late_payment_after_the_session_started_confirms_it_with_no_reminder_owed(h: Harness) -> None:
    _, _, paid = offers(h)
    late = h.service.book(paid, moment(9), FAN).booking_id
    h.clock.advance(timedelta(hours=1, minutes=5))
    confirmed = h.service.confirm_payment(late)
    assert (confirmed.status, confirmed.next_reminder_at) == ("confirmed", None)


def test_a_rescheduled_booking_drops_its_old_link_and_its_new_cells_name_it(h: Harness) -> None:
    _, free, _ = offers(h)
    booking_id = h.service.book(free, moment(9), FAN).booking_id
    settled = {"meeting_url": "https://zoom.us/j/1", "video_provider": "zoom", "link_status": "ready"}
    h.store.commit([update(BOOKINGS, booking_id, settled)])
    moved = h.service.reschedule(booking_id, moment(10))
    assert (moved.meeting_url, moved.video_provider, moved.link_status) == (None, None, "pending")
    assert {doc["booking_id"] for _, doc in h.store.query(CELLS)} == {booking_id}


def test_a_link_set_by_hand_owes_link_ready_now_and_no_nudge_until_the_session_ends(h: Harness) -> None:
    creator_id, free, _ = offers(h)
    booking_id = h.service.book(free, moment(9), FAN).booking_id
    h.clock.advance(timedelta(minutes=5))
    linked = h.service.set_link(creator_id, booking_id, "https://example.com/room")
    assert (linked.change, linked.link_manual, linked.link_status) == ("link_set", True, "ready")
    assert (linked.mail_due_at, linked.link_nudge_at) == (h.clock.now(), None)
    moved = h.service.reschedule(booking_id, moment(10))
    assert (moved.meeting_url, moved.link_revision, moved.link_nudge_at) == (linked.meeting_url, moved.revision, None)
    h.clock.advance(moved.end - h.clock.now())
    with pytest.raises(ConflictError) as refused:
        h.service.set_link(creator_id, booking_id, "https://example.com/another-room")
    assert refused.value.code == "not_linkable"


def unlinked(h: Harness, booking_id: str) -> Booking:
    """The booking as the meetings worker leaves it when no link could be made for its revision."""
    revision = h.doc(booking_id)["revision"]
    h.store.commit([update(BOOKINGS, booking_id, {"link_status": "unavailable", "link_revision": revision})])
    return stored(h, booking_id)


def test_a_link_retry_owes_the_link_afresh_from_now_in_a_new_revision(h: Harness) -> None:
    _, free, _ = offers(h)
    booking_id = h.service.book(free, moment(9), FAN).booking_id
    seen = unlinked(h, booking_id)
    h.clock.advance(timedelta(minutes=5))
    now = h.clock.now()

    assert h.service.retry_link(booking_id, seen) is True

    reopened = stored(h, booking_id)
    assert (reopened.change, reopened.link_status, reopened.revision) == ("link_retry", "pending", seen.revision + 1)
    assert reopened.link_deadline_at == reopened.mail_due_at == now + POLICY.link_deadline
    assert reopened.link_nudge_at == now + POLICY.link_deadline + LINK_NUDGE_INTERVAL
    assert reopened.updated_at == now
    assert h.events()[-1]["revision"] == reopened.revision


@pytest.mark.parametrize(
    "case",
    ["has a link", "ends right now", "a test booking", "changed since it was read"],
)
def test_a_link_retry_leaves_alone_what_is_not_an_upcoming_booking_left_without_a_link(h: Harness, case: str) -> None:
    creator_id, free, _ = offers(h)
    booking_id = h.service.book(free, moment(9), FAN).booking_id
    seen = unlinked(h, booking_id)
    if case == "has a link":
        seen = replace(seen, link_status="ready", meeting_url="https://zoom.us/j/1")
    elif case == "ends right now":
        h.clock.advance(seen.end - h.clock.now())
    elif case == "a test booking":
        seen = replace(seen, test_booking=True)
    else:
        h.service.cancel_by_creator(creator_id, booking_id)
    before, published = stored(h, booking_id), len(h.events())

    assert h.service.retry_link(booking_id, seen) is False

    assert stored(h, booking_id) == before
    assert len(h.events()) == published


def test_a_booking_exactly_at_the_horizon_is_taken_and_one_slot_beyond_is_refused() -> None:
    h = Harness(now=datetime(2026, 3, 2, 9, tzinfo=UTC))
    _, free, _ = offers(h)
    edge = h.clock.now() + POLICY.booking_horizon
    assert edge.weekday() < 5 and edge.hour == 9, "a slot of the default hours"
    assert h.service.book(free, edge, FAN).status == "confirmed"
    with pytest.raises(InvalidInputError) as refused:
        h.service.book(free, edge + timedelta(minutes=30), FAN)
    assert (refused.value.code, refused.value.message) == (
        "beyond_horizon",
        "start: bookings open at most 365 days ahead.",
    )


# ---- hold releases at the door -------------------------------------------------------------------------------


def test_two_expired_holds_are_each_released_by_the_fan_who_wants_their_slot(h: Harness) -> None:
    _, free, paid = offers(h)
    nine = h.service.book(paid, moment(9), FAN).booking_id
    ten = h.service.book(paid, moment(10), FAN).booking_id
    h.clock.advance(timedelta(minutes=16))
    h.service.book(free, moment(9), FAN)
    h.service.book(free, moment(10), FAN)
    assert {stored(h, nine).cancel_reason, stored(h, ten).cancel_reason} == {"payment_timeout"}
    assert sorted(doc["booking_id"] for _, doc in h.store.query(HOLD_RELEASES)) == sorted([nine, ten])


def test_a_fan_refused_for_a_live_booking_claims_no_hold_release(h: Harness) -> None:
    _, free, _ = offers(h)
    h.service.book(free, moment(9), FAN)
    with pytest.raises(SlotTakenError):
        h.service.book(free, moment(9), FAN)
    assert h.store.query(HOLD_RELEASES) == []


# ---- refusals: their codes and words ---------------------------------------------------------------------------


def test_every_refusal_answers_its_code_and_its_words(h: Harness) -> None:
    creator_id, free, paid = offers(h)
    confirmed = h.service.book(free, moment(9), FAN).booking_id
    held = h.service.book(paid, moment(10), FAN).booking_id

    def refusal(call: Callable[[], object]) -> tuple[str, str]:
        with pytest.raises((ConflictError, NotFoundError, InvalidInputError)) as caught:
            call()
        return caught.value.code, caught.value.message

    assert refusal(lambda: h.service.get("nope")) == ("booking_not_found", "No booking 'nope'.")
    assert refusal(lambda: h.service.cancel_by_creator("someone-else", confirmed)) == (
        "booking_not_found",
        f"No booking {confirmed!r}.",
    )
    assert refusal(lambda: h.service.by_manage_token("nope")) == ("booking_not_found", "This manage link is not valid.")
    assert refusal(lambda: h.service.book_test("nobody", moment(9))) == ("creator_not_found", "No such creator.")
    assert refusal(lambda: h.service.set_link("someone-else", confirmed, "https://example.com/room")) == (
        "booking_not_found",
        f"No booking {confirmed!r}.",
    )
    assert refusal(lambda: h.service.set_link(creator_id, held, "https://example.com/room")) == (
        "not_linkable",
        "Only an upcoming confirmed booking can be given a link.",
    )
    assert refusal(lambda: h.service.reschedule(held, moment(11))) == (
        "not_reschedulable",
        "A pending payment booking cannot be moved.",
    )
    assert refusal(lambda: h.service.book(free, moment(9, 10), FAN)) == (
        "slot_unavailable",
        "That time is not an available slot any more.",
    )
    assert refusal(lambda: h.service.book(free, moment(9), FAN)) == ("slot_taken", "That time is no longer free.")
    assert (BookingChangedError().code, BookingChangedError().message) == (
        "booking_changed",
        "The booking changed meanwhile; reload and try again.",
    )
    too_few = refusal(lambda: h.service.listing(creator_id, upcoming=True, size=0))
    too_many = refusal(lambda: h.service.listing(creator_id, upcoming=True, size=201))
    assert too_few == too_many == ("invalid_limit", "limit must be from 1 to 200.")
    h.clock.advance(timedelta(hours=1, minutes=1))
    assert refusal(lambda: h.service.cancel(confirmed, by="fan")) == (
        "session_started",
        "The session has started; ask the creator to cancel it.",
    )
    assert refusal(lambda: h.service.reschedule(confirmed, moment(11))) == (
        "session_started",
        "The session has started; it can no longer be moved.",
    )


def test_a_creator_whose_stored_hours_cannot_be_read_cannot_be_booked(h: Harness) -> None:
    creator = h.creator()
    offer_id = h.offer(creator)
    h.store.commit([update(CREATORS, creator.creator_id, {"timezone": "Mars/Olympus"})])
    with pytest.raises(ConflictError) as refused:
        h.service.book(offer_id, moment(9), FAN)
    assert (refused.value.code, refused.value.message) == ("slot_unavailable", "The creator has no bookable hours set.")


# ---- the dashboard's week and pages ----------------------------------------------------------------------------


def copies(h: Harness, booking_id: str, starts: dict[str, datetime]) -> None:
    """Store copies of a booking under the given ids and starts, without cells (ids sort unlike starts)."""
    booking = stored(h, booking_id)
    for copy_id, start in starts.items():
        h.runtime.bookings.add(copy_id, replace(booking, start=start, end=start + timedelta(minutes=30), cells=()))


def test_the_week_lists_the_creators_bookings_by_start_not_by_id(h: Harness) -> None:
    creator_id, free, _ = offers(h)
    first = h.service.book(free, moment(9), FAN).booking_id
    h.store.commit([update(BOOKINGS, first, {"start": moment(12, day=9), "end": moment(12, 30, day=9)})])
    copies(h, first, {"b": moment(9, day=9), "a": moment(10, day=9)})
    week = h.service.in_window(creator_id, moment(0, day=9), moment(0, day=16))
    assert [booking_id for booking_id, _ in week] == ["b", "a", first]


@pytest.mark.parametrize("size", [1, 2, 200])
def test_pages_of_any_size_hold_every_readable_booking_once_whatever_the_length_of_its_id(
    h: Harness, size: int
) -> None:
    """Ids of every length give cursors of every length, so each padding case is read back; a stored booking
    that cannot be read is passed over without making a page longer or ending the list early."""
    creator_id, free, _ = offers(h)
    first = h.service.book(free, moment(9), FAN).booking_id
    ids = {"x" * n: moment(10) + timedelta(minutes=45 * n) for n in range(1, 9)}
    copies(h, first, ids)
    broken = {"creator_id": creator_id, "start": moment(9, 15), "end": moment(9, 45)}
    h.store.commit([create(BOOKINGS, "broken", broken)])
    seen: list[str] = []
    cursor = None
    for _ in range(20):
        page = h.service.listing(creator_id, upcoming=True, size=size, after=cursor)
        assert 0 < len(page.rows) <= size, "never an empty page after a cursor, never a longer one"
        seen.extend(booking_id for booking_id, _ in page.rows)
        cursor = page.next_cursor
        if cursor is None:
            break
        assert "=" not in cursor, "no padding: the cursor goes in a query string as it is"
    assert seen == [first, *sorted(ids, key=lambda booking_id: ids[booking_id])]
    rows = h.runtime.bookings.page_of_creator(creator_id, upcoming=True, now=h.clock.now(), size=size)
    assert [booking_id for booking_id, _ in rows] == seen[:size], "up to `size`, the unreadable one read past"


class CountingStore(DelegatingStore):
    """Counts the documents its queries return: what Firestore bills a list for."""

    def __init__(self, inner: DocStore) -> None:
        super().__init__(inner)
        self.returned: Counter[str] = Counter()

    def query(
        self,
        collection: str,
        where: Sequence[Where] = (),
        order_by: str | None = None,
        limit: int | None = None,
        start_after: Cursor | None = None,
        *,
        descending: bool = False,
    ) -> list[tuple[str, Doc]]:
        rows = super().query(collection, where, order_by, limit, start_after, descending=descending)
        self.returned[collection] += len(rows)
        return rows


def test_a_page_of_the_list_reads_one_booking_more_than_it_shows() -> None:
    """The one more tells whether a next page follows; the creator's other bookings are not read."""
    store = CountingStore(FakeDocStore())
    h = Harness(store=store)
    creator_id, free, _ = offers(h)
    first = h.service.book(free, moment(9), FAN).booking_id
    copies(h, first, {f"later-{n}": moment(10) + timedelta(hours=n) for n in range(5)})
    store.returned.clear()

    page = h.service.listing(creator_id, upcoming=True, size=2)

    assert (len(page.rows), page.next_cursor is not None) == (2, True)
    assert store.returned[BOOKINGS] == 3


def test_a_cursor_naming_its_booking_by_anything_but_a_string_or_with_no_zone_is_refused(h: Harness) -> None:
    creator_id, _, _ = offers(h)

    def cursor(fields: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(fields).encode()).decode()

    unreadable: list[dict[str, object]] = [
        {"end": "2026-03-02T09:30:00+00:00", "id": 7},
        {"end": "2026-03-02T09:30:00", "id": "b"},
    ]
    with pytest.raises(InvalidInputError) as garbled:
        h.service.listing(creator_id, upcoming=True, after="not a cursor")
    assert (garbled.value.code, garbled.value.message) == ("invalid_cursor", "cursor is not one this list gave out.")
    for fields in unreadable:
        with pytest.raises(InvalidInputError) as refused:
            h.service.listing(creator_id, upcoming=True, after=cursor(fields))
        assert (refused.value.code, refused.value.message) == (
            "invalid_cursor",
            "cursor is not one this list gave out.",
        )


# ---- the stored shape ----------------------------------------------------------------------------------------


def test_a_booking_reads_back_as_it_was_stored_with_its_fan_zone_and_provider_refs(h: Harness) -> None:
    _, free, _ = offers(h)
    booking = stored(h, h.service.book(free, moment(9), FAN).booking_id)
    full = replace(
        booking,
        cells=(),
        fan=Fan(name="Fan", email="fan@example.com", timezone="America/New_York"),
        zoom=ZoomMeetingRef(meeting_id=2**40, join_url="https://zoom.us/j/1", start=moment(9)),
        google_event=GoogleEventRef(
            event_id="evt0123", start=moment(9), zoom_url="https://zoom.us/j/1", meet_url="https://meet.google.com/a"
        ),
    )
    h.runtime.bookings.add("copy", full)
    assert h.runtime.bookings.get("copy") == full


def test_the_re_seal_sweep_reads_at_most_its_batch(h: Harness) -> None:
    _, free, _ = offers(h)
    for hour in (9, 10, 11):
        h.service.book(free, moment(hour), FAN)
    version = stored(h, h.store.query(BOOKINGS)[0][0]).manage_token_sealed["key_version"]
    assert len(h.runtime.bookings.manage_tokens_sealed_under([version], 2)) == 2
    assert len(h.runtime.bookings.manage_tokens_sealed_under([version], 5)) == 3


# ---- the local stack's stand-in for Flo Payments ---------------------------------------------------------------


def test_the_local_payment_stand_in_says_a_bookings_payment_succeeded_as_payments_would(h: Harness) -> None:
    _, _, paid = offers(h)
    booking_id = h.service.book(paid, moment(9), FAN).booking_id
    response = h.client.post(f"/api/dev/payments/{booking_id}/succeed")
    assert response.status_code == 202
    assert response.get_json() == {"published": True, "booking_id": booking_id}
    assert h.publisher.on("payment-events") == [{"type": "payment.succeeded", "booking_id": booking_id}]

    missing = h.client.post("/api/dev/payments/nope/succeed")
    assert missing.status_code == 404
    assert missing.get_json()["error"] == {"code": "booking_not_found", "message": "No booking 'nope'."}
    assert len(h.publisher.on("payment-events")) == 1


# ---- reminders and slots at their edges ------------------------------------------------------------------------


def test_a_booking_made_exactly_a_day_ahead_arms_its_24_hour_reminder_now() -> None:
    h = Harness(now=moment(9))
    _, free, _ = offers(h)
    booking = stored(h, h.service.book(free, moment(9, day=3), FAN).booking_id)
    assert booking.next_reminder_at == h.clock.now()


def test_the_slot_exactly_at_the_horizon_is_listed_and_the_next_is_not() -> None:
    h = Harness(now=moment(9))
    creator = h.creator()
    offer_id = h.offer(creator)
    edge = h.clock.now() + POLICY.booking_horizon
    day = edge.date().isoformat()
    assert h.slot_starts(creator.creator_id, offer_id, day, day) == [edge.isoformat()]


# ---- Google busy times on the slots route ----------------------------------------------------------------------


def test_slots_from_a_readable_calendar_say_nothing_about_it_fresh_or_cached(h: Harness) -> None:
    creator = h.creator()
    offer_id = h.offer(creator)
    h.connections.connect(creator.creator_id, "google")
    for _ in range(2):  # the second view is served from the cache
        body = h.slots_response(creator.creator_id, offer_id).get_json()
        assert "calendar_checked" not in body
        assert "notice" not in body


def test_a_window_longer_than_one_free_busy_query_keeps_the_busy_times_of_every_piece(h: Harness) -> None:
    """90 days of Sydney dates end an hour more than 90 days of UTC later (daylight saving ends in April), so
    Google is asked twice; the first answer's busy time still blocks its slot."""
    creator = h.creator(timezone="Australia/Sydney")
    offer_id = h.offer(creator)
    h.connections.connect(creator.creator_id, "google")
    nine_in_sydney = datetime(2026, 3, 2, 22, tzinfo=UTC)  # Tuesday 3 March, 09:00 in Sydney
    h.calendar.busy = [(nine_in_sydney, nine_in_sydney + timedelta(minutes=30))]
    starts = [
        datetime.fromisoformat(s) for s in h.slot_starts(creator.creator_id, offer_id, "2026-03-02", "2026-05-30")
    ]
    assert nine_in_sydney not in starts
    assert nine_in_sydney + timedelta(minutes=30) in starts
    assert h.calendar.calls.count("free_busy") == 2


def test_the_slots_of_an_offer_that_is_not_the_creators_are_404_offer_not_found(h: Harness) -> None:
    creator = h.creator()
    others = h.offer(h.creator())
    for offer_id, message in (
        ("nope", "No offer 'nope'."),
        (others, f"No offer {others!r} for creator {creator.creator_id!r}."),
    ):
        response = h.slots_response(creator.creator_id, offer_id)
        assert response.status_code == 404
        assert response.get_json()["error"] == {"code": "offer_not_found", "message": message}


# ---- notices ------------------------------------------------------------------------------------------------------


def test_each_left_behind_meeting_and_each_refund_gets_its_own_notice_in_its_words(h: Harness) -> None:
    notices = h.runtime.notices
    notices.zoom_delete_failed("c1", "b1", 111)
    notices.zoom_delete_failed("c1", "b2", 222)
    notices.payment_needs_refund("c1", "b3", "one@example.com")
    notices.payment_needs_refund("c1", "b4", "two@example.com")
    found = notices.open_for("c1")
    assert sorted((n.kind, n.booking_id, n.meeting_id) for n in found) == [
        ("payment_needs_refund", "b3", None),
        ("payment_needs_refund", "b4", None),
        ("zoom_delete_failed", "b1", "111"),
        ("zoom_delete_failed", "b2", "222"),
    ]
    refund = next(n for n in found if n.booking_id == "b3")
    assert refund.message == (
        "A payment from one@example.com arrived after their hold ran out and the slot was booked by someone else: "
        "the session was not booked and the payment will be refunded."
    )


def test_account_notices_show_once_per_trouble_and_a_kept_meeting_once_per_meeting(h: Harness) -> None:
    notices = h.runtime.notices
    morning = datetime(2026, 3, 2, 8, tzinfo=UTC)
    for now in (morning, morning + timedelta(hours=12), morning + timedelta(days=1)):
        notices.zoom_quota_spent("c1", now)  # one a UTC day
    notices.zoom_quota_spent("c2", morning)
    until = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
    notices.google_writes_paused("c1", until, morning)
    notices.google_writes_paused("c1", until, morning + timedelta(minutes=5))  # the same pause
    notices.zoom_meeting_kept("c1", "b1", 111, ZOOM_OTHER_ACCOUNT)
    notices.zoom_meeting_kept("c1", "b1", 111, ZOOM_OTHER_ACCOUNT)

    shown = [(n.kind, n.booking_id, n.meeting_id, n.message) for n in notices.open_for("c1")]

    paused = GOOGLE_WRITES_PAUSED.format(until="14:30 UTC on 02 Mar")
    assert sorted(shown) == [
        ("google_writes_paused", None, None, paused),
        ("zoom_meeting_kept", "b1", "111", ZOOM_OTHER_ACCOUNT),
        ("zoom_quota_spent", None, None, ZOOM_QUOTA_SPENT),
        ("zoom_quota_spent", None, None, ZOOM_QUOTA_SPENT),
    ]
    assert [n.kind for n in notices.open_for("c2")] == ["zoom_quota_spent"]


def test_a_notice_flo_resolved_says_so_until_it_is_dismissed(h: Harness) -> None:
    notices = h.runtime.notices
    notices.zoom_delete_failed("c1", "b1", 111)
    notices.zoom_delete_failed("c1", "b2", 222)
    notices.resolve("zoom-delete-111", ZOOM_DELETE_RETRIED)
    shown = {n.meeting_id: (n.resolved, n.message) for n in notices.open_for("c1")}
    assert shown == {"111": (True, ZOOM_DELETE_RETRIED), "222": (False, ZOOM_DELETE_FAILED)}


def test_a_notice_stored_before_kinds_and_messages_were_recorded_reads_as_a_left_behind_meeting(h: Harness) -> None:
    old = {"creator_id": "c1", "booking_id": "b1", "meeting_id": "111", "created_at": h.clock.now(), "dismissed": False}
    h.store.commit([create("notices", "zoom-delete-111", old)])
    [notice] = h.runtime.notices.open_for("c1")
    assert (notice.kind, notice.message) == ("zoom_delete_failed", "")


def test_dismissing_a_notice_that_is_not_the_creators_is_404(h: Harness) -> None:
    h.runtime.notices.zoom_delete_failed("c1", "b1", 111)
    [notice] = h.runtime.notices.open_for("c1")
    with pytest.raises(NotFoundError) as missing:
        h.runtime.notices.dismiss("c2", notice.notice_id)
    assert (missing.value.code, missing.value.message) == ("notice_not_found", f"No notice {notice.notice_id!r}.")
    assert len(h.runtime.notices.open_for("c1")) == 1


# ---- the scheduler's sweeps ----------------------------------------------------------------------------------------


def test_the_sweeps_count_a_stuck_link_they_nudged(h: Harness) -> None:
    _, free, _ = offers(h)
    booking_id = h.service.book(free, moment(9), FAN).booking_id
    h.clock.advance(POLICY.link_deadline + LINK_NUDGE_INTERVAL)
    published = len(h.events())
    counts = run_booking_sweeps(h.runtime.bookings, h.runtime.outbox, h.service, h.clock.now())
    assert counts["links_nudged"] == 1
    assert h.events()[published:] == [{"type": "booking.changed", "booking_id": booking_id, "revision": 1}]


# ---- the catalog -------------------------------------------------------------------------------------------------


def test_an_offer_whose_creator_is_gone_cannot_be_booked(h: Harness) -> None:
    creator_id, free, _ = offers(h)
    h.store.commit([delete(CREATORS, creator_id)])
    with pytest.raises(NotFoundError) as missing:
        h.service.book(free, moment(9), FAN)
    assert (missing.value.code, missing.value.message) == ("offer_not_found", f"No offer {free!r}.")


def test_hours_for_an_account_without_a_creator_profile_are_404(h: Harness) -> None:
    with pytest.raises(NotFoundError) as missing:
        h.uses.catalog.set_hours("nobody", "UTC", {"mon": [["09:00", "12:00"]]})
    assert (missing.value.code, missing.value.message) == (
        "creator_not_found",
        "There is no creator profile for this account.",
    )


def test_a_creator_without_the_plan_is_told_which_plans_have_bookings(h: Harness) -> None:
    creator_id, free, _ = offers(h)
    h.store.commit([update(CREATORS, creator_id, {"plan": "free"})])
    with pytest.raises(NotPermittedError) as refused:
        h.service.book(free, moment(9), FAN)
    assert (refused.value.code, refused.value.message) == (
        "plan_required",
        "Book a Session needs the Creator, Pro or Studio plan.",
    )


def test_hours_stored_as_pairs_by_an_older_release_still_give_slots(h: Harness) -> None:
    creator = h.creator()
    offer_id = h.offer(creator)
    h.store.commit([update(CREATORS, creator.creator_id, {"weekly_hours": {"mon": [["09:00", "10:00"]]}})])
    assert h.slot_starts(creator.creator_id, offer_id) == [at(9), at(9, 30)]


def test_hours_stored_in_a_shape_that_is_not_hours_refuse_bookings_as_unset(h: Harness) -> None:
    creator = h.creator()
    offer_id = h.offer(creator)
    h.store.commit([update(CREATORS, creator.creator_id, {"weekly_hours": {"mon": "09:00-12:00"}})])
    with pytest.raises(ConflictError) as refused:
        h.service.book(offer_id, moment(9), FAN)
    assert (refused.value.code, refused.value.message) == ("slot_unavailable", "The creator has no bookable hours set.")
