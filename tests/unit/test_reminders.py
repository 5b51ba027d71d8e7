"""The scheduler tick: reminders 24 h and 1 h before, each once, and owed confirmations never lost."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

from shared.bookings.model import BOOKINGS
from shared.notify import tick
from shared.store.port import update
from tests.fakes.mail import FakeMailSender
from tests.unit.test_bookings_harness import at
from tests.unit.test_notify_harness import CREATOR, FAN, ZOOM_URL, NotifyHarness

TUESDAY_9 = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)


def confirmed_for_tuesday(h: NotifyHarness) -> str:
    """Booked Monday 08:00 for Tuesday 09:00, its confirmation already sent."""
    booking_id = h.new_booking(at(9, day=3))
    assert h.notifier.send_owed(booking_id, force=True).value == "settled"
    h.mail.sent.clear()
    return booking_id


def move_to(h: NotifyHarness, moment: datetime) -> None:
    h.clock.advance(moment - h.clock.now())


def test_reminders_go_24h_and_1h_before_each_once_with_the_link_as_it_is_then() -> None:
    h = NotifyHarness()
    booking_id = confirmed_for_tuesday(h)
    assert h.doc(booking_id)["next_reminder_at"] == TUESDAY_9 - timedelta(hours=24)

    assert h.tick()["reminders_sent"] == 0
    move_to(h, TUESDAY_9 - timedelta(hours=24))
    assert h.tick()["reminders_sent"] == 1
    assert h.tick()["reminders_sent"] == 0
    day_before = h.sent("reminder")
    assert sorted(s.to for s in day_before) == [CREATOR, FAN]
    assert all(ZOOM_URL not in s.text for s in day_before)
    assert h.doc(booking_id)["reminders_sent"] == ["reminder_24h"]
    assert h.doc(booking_id)["next_reminder_at"] == TUESDAY_9 - timedelta(hours=1)

    h.settle_link(booking_id)
    move_to(h, TUESDAY_9 - timedelta(minutes=59))
    h.tick()
    h.tick()
    hour_before = h.sent("reminder")[2:]
    assert sorted(s.to for s in hour_before) == [CREATOR, FAN]
    assert all(ZOOM_URL in s.text for s in hour_before)
    assert h.doc(booking_id)["reminders_sent"] == ["reminder_24h", "reminder_1h"]
    assert h.doc(booking_id)["next_reminder_at"] is None

    move_to(h, TUESDAY_9 + timedelta(hours=1))
    h.tick()
    assert len(h.sent("reminder")) == 4


def test_a_reschedule_re_arms_the_reminders_for_the_new_time() -> None:
    h = NotifyHarness()
    booking_id = confirmed_for_tuesday(h)
    move_to(h, TUESDAY_9 - timedelta(hours=24))
    h.tick()
    assert len(h.sent("reminder")) == 2

    new_start = TUESDAY_9 + timedelta(days=1)
    h.service.reschedule(booking_id, new_start)
    assert h.doc(booking_id)["reminders_sent"] == []
    move_to(h, new_start - timedelta(hours=24))
    counts = h.tick()  # the rescheduled emails (owed, grace over) go first, then the new 24h reminder
    assert counts["owed_settled"] == 1
    assert counts["reminders_sent"] == 1
    assert [s.kind for s in h.sent()] == ["reminder", "reminder", "rescheduled", "rescheduled", "reminder", "reminder"]
    assert h.store.get("emails", f"{booking_id}:reminder_24h:{h.doc(booking_id)['revision']}:fan") is not None


def test_no_reminder_for_a_cancelled_booking_and_a_stale_alarm_is_cleared() -> None:
    h = NotifyHarness()
    booking_id = confirmed_for_tuesday(h)
    h.service.cancel(booking_id, by="creator")
    h.tick()  # its cancellation emails
    h.mail.sent.clear()
    stale = TUESDAY_9 - timedelta(hours=24)
    h.store.commit([update(BOOKINGS, booking_id, {"next_reminder_at": stale})])

    move_to(h, stale)
    counts = h.tick()
    assert counts["reminders_cleared"] == 1
    assert h.mail.sent == []
    assert h.doc(booking_id)["next_reminder_at"] is None


def test_after_an_outage_only_the_latest_reminder_goes() -> None:
    h = NotifyHarness()
    booking_id = confirmed_for_tuesday(h)
    move_to(h, TUESDAY_9 - timedelta(minutes=30))
    h.tick()
    assert sorted(h.kinds()) == [("reminder", CREATOR), ("reminder", FAN)]
    assert h.store.get("emails", f"{booking_id}:reminder_1h:1:fan") is not None
    assert h.doc(booking_id)["reminders_sent"] == ["reminder_24h", "reminder_1h"]


def test_the_tick_sends_an_owed_confirmation_when_the_meetings_worker_is_down_before_its_reminder() -> None:
    h = NotifyHarness()
    booking_id = h.new_booking(at(9))  # in an hour: the 1h reminder is due at once
    first = h.tick()
    assert (first["owed_settled"], first["reminders_deferred"]) == (0, 1)  # grace not over: nothing yet
    assert h.mail.sent == []

    h.clock.advance(timedelta(seconds=8))
    counts = h.tick()
    assert (counts["owed_settled"], counts["reminders_sent"]) == (1, 1)
    assert [s.kind for s in h.sent()] == ["confirmation", "creator_notification", "reminder", "reminder"]
    assert "will follow" in h.sent("confirmation")[0].text
    assert h.doc(booking_id)["mail_due_at"] is None


def test_an_smtp_failure_leaves_the_reminder_armed_for_the_next_tick() -> None:
    h = NotifyHarness()
    booking_id = confirmed_for_tuesday(h)
    move_to(h, TUESDAY_9 - timedelta(hours=24))
    h.mail.fail_next(2)
    assert h.tick()["reminders_failed"] == 1
    assert h.doc(booking_id)["reminders_sent"] == []
    assert h.tick()["reminders_sent"] == 1
    assert sorted(h.kinds()) == [("reminder", CREATOR), ("reminder", FAN)]


def test_two_overlapping_runs_send_each_reminder_once() -> None:
    entered, release = threading.Event(), threading.Event()
    sink = FakeMailSender()

    class BlockFirstSend:
        """The first run stalls inside its first SMTP send while the second run goes through."""

        armed = False

        def send(self, msg: EmailMessage) -> None:
            if self.armed:
                self.armed = False
                entered.set()
                release.wait(10)
            sink.send(msg)

    sender = BlockFirstSend()
    h = NotifyHarness(sender=sender)
    h.mail = sink
    booking_id = confirmed_for_tuesday(h)
    sender.armed = True
    move_to(h, TUESDAY_9 - timedelta(hours=24))
    runs: list[dict[str, int]] = []
    first = threading.Thread(target=lambda: runs.append(tick(h.runtime.bookings, h.notifier, h.clock.now())))
    first.start()
    assert entered.wait(10)
    second = tick(h.runtime.bookings, h.notifier, h.clock.now())
    release.set()
    first.join(10)

    assert second["reminders_deferred"] == 1  # the other run holds the fan's copy
    assert runs[0]["reminders_sent"] == 1
    assert sorted(h.kinds()) == [("reminder", CREATOR), ("reminder", FAN)]
    assert h.doc(booking_id)["reminders_sent"] == ["reminder_24h"]
    assert h.tick()["reminders_sent"] == 0
    assert len(sink.sent) == 2


def test_the_route_answers_with_counts() -> None:
    h = NotifyHarness()
    assert h.tick() == {
        "outbox_published": 0,
        "holds_released": 0,
        "links_nudged": 0,
        "owed_settled": 0,
        "owed_pending": 0,
        "owed_failed": 0,
        "reminders_sent": 0,
        "reminders_cleared": 0,
        "reminders_deferred": 0,
        "reminders_failed": 0,
        "tokens_refreshed": 0,
        "tokens_refused": 0,
        "tokens_failed": 0,
        "broken_mail_sent": 0,
        "broken_mail_failed": 0,
        "google_pauses_caught_up": 0,
        "google_events_republished": 0,
        "google_links_reopened": 0,
    }


def test_the_tick_counts_every_reminder_it_sends_fails_and_clears() -> None:
    h = NotifyHarness()
    first, second = confirmed_for_tuesday(h), h.new_booking(at(10, day=3))
    h.notifier.send_owed(second, force=True)
    move_to(h, TUESDAY_9 - timedelta(hours=23))  # both are within a day
    h.mail.fail_next(4)  # enough refusals for each booking's reminder to fail this tick
    assert h.tick()["reminders_failed"] == 2
    assert h.tick()["reminders_sent"] == 2

    for booking_id in (first, second):
        h.service.cancel(booking_id, by="creator")
        h.store.commit([update(BOOKINGS, booking_id, {"next_reminder_at": h.clock.now()})])
    assert h.tick()["reminders_cleared"] == 2
