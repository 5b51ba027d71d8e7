"""What a booking is owed, sent once however often and in whatever order its events arrive."""

from __future__ import annotations

from datetime import datetime, timedelta
from email.message import EmailMessage

from shared.bookings.model import CREATORS
from shared.mail import ics_uid
from shared.notify import EMAILS, Outcome
from shared.store.port import delete
from tests.fakes.mail import FakeMailSender
from tests.fakes.pubsub import encode_push
from tests.fakes.store import FakeDocStore, RecordingStore
from tests.unit.test_bookings_harness import at
from tests.unit.test_notify_harness import CREATOR, FAN, MAIL_FROM, ZOOM_URL, NotifyHarness

GRACE = timedelta(seconds=8)


def test_duplicate_booking_events_and_link_events_send_each_email_once() -> None:
    h = NotifyHarness()
    booking_id = h.new_booking()
    h.settle_link(booking_id)
    h.link_event(booking_id)  # the link event may overtake the booking event
    responses = h.booking_event(booking_id, times=3)
    h.link_event(booking_id)

    assert all(r.status_code == 200 for r in responses)
    assert sorted(h.kinds()) == [("confirmation", FAN), ("creator_notification", CREATOR)]
    confirmation = h.sent("confirmation")[0]
    assert ZOOM_URL in confirmation.html
    assert "Join with Zoom" in confirmation.text
    assert ZOOM_URL in str(confirmation.event["DESCRIPTION"])
    assert confirmation.message["X-Flo-Booking-Id"] == booking_id
    assert h.doc(booking_id)["mail_due_at"] is None


def test_within_the_grace_the_confirmation_waits_for_the_link_and_carries_it() -> None:
    h = NotifyHarness()
    booking_id = h.new_booking()

    waiting = h.booking_event(booking_id)[0]
    assert waiting.get_json()["outcome"] == "waiting"
    assert h.mail.sent == []
    assert h.doc(booking_id)["mail_due_at"] is not None

    h.clock.advance(GRACE / 2)
    h.settle_link(booking_id)
    h.link_event(booking_id)
    h.booking_event(booking_id)

    assert sorted(h.kinds()) == [("confirmation", FAN), ("creator_notification", CREATOR)]
    assert ZOOM_URL in h.sent("confirmation")[0].text
    assert h.sent("link_ready") == []


def test_after_the_grace_the_confirmation_says_the_link_will_follow_then_link_ready_goes_once() -> None:
    h = NotifyHarness()
    booking_id = h.new_booking()
    h.clock.advance(GRACE)

    h.booking_event(booking_id)
    confirmation = h.sent("confirmation")[0]
    assert "will follow" in confirmation.text
    assert "will follow" in str(confirmation.event["DESCRIPTION"])
    assert ZOOM_URL not in confirmation.html
    assert h.doc(booking_id)["mail_due_at"] is None

    h.settle_link(booking_id)
    for _ in range(3):
        h.link_event(booking_id)
    h.booking_event(booking_id, times=2)

    link_ready = h.sent("link_ready")
    assert sorted((s.kind, s.to) for s in link_ready) == [("link_ready", CREATOR), ("link_ready", FAN)]
    assert all(ZOOM_URL in s.html for s in link_ready)
    assert len(h.mail.sent) == 4


def test_forced_settle_does_not_wait_for_the_link() -> None:
    h = NotifyHarness()
    booking_id = h.new_booking()
    assert h.notifier.send_owed(booking_id) is Outcome.WAITING
    assert h.notifier.send_owed(booking_id, force=True) is Outcome.SETTLED
    assert sorted(h.kinds()) == [("confirmation", FAN), ("creator_notification", CREATOR)]


def test_no_link_at_all_sends_no_link_ready_and_no_will_follow_copy() -> None:
    h = NotifyHarness()
    booking_id = h.new_booking()
    h.settle_link(booking_id, url=None)
    h.push("link-events", booking_id, "link.unavailable")

    confirmation = h.sent("confirmation")[0]
    assert "will follow" not in confirmation.text
    assert "No video link" in confirmation.text
    h.booking_event(booking_id)
    assert h.sent("link_ready") == []


def test_reschedule_goes_to_both_with_the_same_uid_and_a_higher_sequence() -> None:
    h = NotifyHarness()
    booking_id = h.new_booking(at(10))
    h.settle_link(booking_id)
    h.booking_event(booking_id)
    first = h.sent("confirmation")[0].event

    h.service.reschedule(booking_id, h.doc(booking_id)["start"] + timedelta(hours=1))
    h.booking_event(booking_id)
    assert h.sent("rescheduled") == []  # the new link is on its way and fits in the grace
    h.settle_link(booking_id, "https://zoom.us/j/987654321")
    h.link_event(booking_id)
    h.booking_event(booking_id, times=2)

    rescheduled = h.sent("rescheduled")
    assert sorted(s.to for s in rescheduled) == [CREATOR, FAN]
    for copy in rescheduled:
        assert str(copy.event["UID"]) == str(first["UID"]) == ics_uid(booking_id)
        assert int(copy.event["SEQUENCE"]) == h.doc(booking_id)["revision"] > int(first["SEQUENCE"])
        assert copy.event.decoded("DTSTART") == h.doc(booking_id)["start"]
        assert "987654321" in str(copy.event["DESCRIPTION"])
        assert copy.ics["METHOD"] == "REQUEST"


def test_cancel_sends_method_cancel_to_both_once() -> None:
    h = NotifyHarness()
    booking_id = h.new_booking()
    h.settle_link(booking_id)
    h.booking_event(booking_id)

    h.service.cancel(booking_id, by="fan")
    h.booking_event(booking_id, times=3)
    h.link_event(booking_id)  # a late link event of the old revision changes nothing

    cancelled = h.sent("cancelled")
    assert sorted(s.to for s in cancelled) == [CREATOR, FAN]
    for copy in cancelled:
        assert copy.ics["METHOD"] == "CANCEL"
        assert copy.event["STATUS"] == "CANCELLED"
        assert str(copy.event["UID"]) == ics_uid(booking_id)
        assert ZOOM_URL not in copy.html
    assert len(h.mail.sent) == 4
    assert h.doc(booking_id)["mail_due_at"] is None


def test_pending_payment_sends_nothing_until_paid_then_confirms() -> None:
    h = NotifyHarness()
    booking_id = h.new_booking(offer_id=h.paid_offer)
    h.settle_link(booking_id, url=None)  # even a settled link must not make it look confirmed
    h.booking_event(booking_id, times=2)
    h.clock.advance(GRACE)
    assert h.notifier.send_owed(booking_id, force=True) is Outcome.SETTLED
    assert h.mail.sent == []

    h.service.confirm_payment(booking_id)
    h.clock.advance(GRACE)
    h.booking_event(booking_id)
    assert sorted(h.kinds()) == [("confirmation", FAN), ("creator_notification", CREATOR)]


def test_an_unpaid_hold_that_expires_gets_no_cancellation_email() -> None:
    h = NotifyHarness()
    booking_id = h.new_booking(offer_id=h.paid_offer)
    h.service.cancel(booking_id, by="system", reason="payment_timeout")
    h.booking_event(booking_id)
    assert h.doc(booking_id)["status"] == "cancelled"
    assert h.mail.sent == []


def test_a_transient_smtp_failure_is_not_marked_sent_and_the_redelivery_sends_it() -> None:
    h = NotifyHarness()
    booking_id = h.new_booking()
    h.settle_link(booking_id)
    h.mail.fail_next(1)

    failed = h.booking_event(booking_id)[0]
    assert failed.status_code == 503
    assert failed.get_json()["error"]["code"] == "mail_unavailable"
    assert h.kinds() == [("creator_notification", CREATOR)]  # the other copy still went
    assert h.store.get(EMAILS, f"{booking_id}:confirmation:1:fan") is None
    assert h.doc(booking_id)["mail_due_at"] is not None  # the sweep would find it too

    retried = h.booking_event(booking_id)[0]
    assert retried.status_code == 200
    assert sorted(h.kinds()) == [("confirmation", FAN), ("creator_notification", CREATOR)]
    assert h.store.get(EMAILS, f"{booking_id}:confirmation:1:fan")["state"] == "sent"  # type: ignore[index]


def test_malformed_push_is_400_one_not_for_us_is_204_and_an_unknown_booking_is_acknowledged() -> None:
    h = NotifyHarness()
    assert h.notify.post("/pubsub/booking-events", json={"nope": 1}).status_code == 400
    no_id = h.notify.post("/pubsub/link-events", json=encode_push({"type": "link.ready"}, "1"))
    assert no_id.status_code == 204
    assert h.mail.sent == []
    gone = h.notify.post("/pubsub/booking-events", json=encode_push({"booking_id": "gone", "revision": 1}, "2"))
    assert gone.status_code == 200
    assert gone.get_json()["outcome"] == "unknown"


def test_a_link_landing_while_the_confirmation_is_being_sent_still_gets_its_link_ready() -> None:
    """The link event's worker finds the confirmation in flight and stands back; the sender must notice."""
    outcomes: list[Outcome] = []

    class LinkLandsMidSend:
        def __init__(self) -> None:
            self.inner = FakeMailSender()
            self.landed = False

        def send(self, msg: EmailMessage) -> None:
            if not self.landed:
                self.landed = True
                h.settle_link(booking_id)
                outcomes.append(h.notifier.send_owed(booking_id))  # the link event, delivered meanwhile
            self.inner.send(msg)

    sender = LinkLandsMidSend()
    h = NotifyHarness(sender=sender)
    h.mail = sender.inner
    booking_id = h.new_booking()
    h.clock.advance(GRACE)

    assert h.notifier.send_owed(booking_id) is Outcome.SETTLED
    assert outcomes == [Outcome.IN_FLIGHT]
    assert [(s.kind, s.to) for s in h.sent()][-1] == ("link_ready", FAN)
    assert "will follow" in h.sent("confirmation")[0].text
    assert len(h.sent("link_ready")) == 1


def test_each_copy_comes_from_the_sender_and_shows_the_booking_in_its_readers_zone() -> None:
    h = NotifyHarness()
    paris = h.creator(timezone="Europe/Paris")
    offer_id = h.offer(paris, duration=45)
    fan = {"name": "Fan", "email": FAN, "timezone": "America/New_York"}
    response = h.client.post("/api/public/bookings", json={"offer_id": offer_id, "start": at(8, day=3), "fan": fan})
    assert response.status_code == 201, response.get_data(as_text=True)
    booking_id = response.get_json()["booking_id"]
    h.settle_link(booking_id)
    assert h.notifier.send_owed(booking_id, force=True) is Outcome.SETTLED

    [to_fan] = h.sent("confirmation")
    [to_creator] = h.sent("creator_notification")
    assert to_fan.message["From"] == to_creator.message["From"] == MAIL_FROM
    assert to_fan.message["Subject"] == "Confirmed: 45 min with Cee, Tue 3 Mar 2026, 03:00 (America/New_York)"
    assert to_creator.message["Subject"] == "New booking: 45 min with Fan, Tue 3 Mar 2026, 09:00 (Europe/Paris)"
    assert "Length:  45 minutes" in to_fan.text
    assert "Hi Cee," in to_creator.text
    assert f"Manage your booking: {response.get_json()['manage_url']}" in to_fan.text
    assert "All your bookings: http://flo.test/dashboard/bookings" in to_creator.text


def test_an_unpaid_hold_that_ran_out_emails_nobody() -> None:
    h = NotifyHarness()
    booking_id = h.new_booking(offer_id=h.paid_offer)
    h.clock.advance(timedelta(minutes=16))
    assert h.service.release_expired_holds() == 1
    assert h.doc(booking_id)["change"] == "cancelled"

    assert h.booking_event(booking_id)[0].status_code == 200
    assert h.sent() == []


def test_a_reminder_for_a_creator_who_is_gone_is_passed_over_not_retried() -> None:
    h = NotifyHarness()
    booking_id = h.new_booking(at(9, day=3))
    assert h.notifier.send_owed(booking_id, force=True) is Outcome.SETTLED
    h.mail.sent.clear()
    h.store.commit([delete(CREATORS, h.creator_id)])
    h.clock.advance(timedelta(hours=1))

    h.tick()
    assert h.sent() == []
    assert h.doc(booking_id)["next_reminder_at"] == datetime.fromisoformat(at(8, day=3)), "on to the 1 h reminder"


def test_a_repeat_delivery_for_a_sent_revision_reads_each_claim_once_and_commits_nothing() -> None:
    store = RecordingStore(FakeDocStore())
    h = NotifyHarness(store=store)
    booking_id = h.new_booking()
    h.settle_link(booking_id)
    h.booking_event(booking_id)
    store.calls.clear()

    h.link_event(booking_id)
    h.booking_event(booking_id)

    assert len(h.mail.sent) == 2
    assert store.commits(EMAILS) == [], "no claim is created (nor fails to be) for a message that went"
    claims = [f"{booking_id}:confirmation:1:fan", f"{booking_id}:creator_notification:1:creator"]
    assert sorted(store.reads(EMAILS)) == sorted(claims * 2), "each delivery reads each claim once"


def test_link_ready_goes_only_to_the_recipient_whose_copy_went_without_the_link() -> None:
    h = NotifyHarness()
    booking_id = h.new_booking()
    h.clock.advance(GRACE)
    h.mail.fail_next(1)  # the fan's confirmation does not go yet; the creator's goes without the link
    assert h.booking_event(booking_id)[0].status_code == 503
    assert "will follow" in h.sent("creator_notification")[0].text

    h.settle_link(booking_id)
    h.link_event(booking_id)
    h.booking_event(booking_id)

    assert ZOOM_URL in h.sent("confirmation")[0].text
    assert [s.to for s in h.sent("link_ready")] == [CREATOR]
    assert len(h.mail.sent) == 3
