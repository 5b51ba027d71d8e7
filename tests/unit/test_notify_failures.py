"""A message that can never be sent is recorded as failed, acknowledged, and told to the creator; it never
holds back the booking's other messages, nor is it tried again."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from shared.bookings.booking import Booking
from shared.bookings.model import CREATORS
from shared.bookings.notices import Notice
from shared.notify import EMAILS, EmailLedger, Notifier, Outcome
from shared.store.port import put
from tests.unit.test_bookings_harness import at
from tests.unit.test_notify_harness import CREATOR, FAN, MAIL_FROM, NotifyHarness


def poisoned(h: NotifyHarness, booking_id: str, **changes: Any) -> None:
    """Write what the door refuses today but a stored booking may still hold, through the repository."""
    repo = h.runtime.bookings
    seen = repo.get(booking_id)
    assert seen is not None
    fan_changes = {k: changes.pop(k) for k in ("name", "email", "timezone") if k in changes}
    repo.record(booking_id, seen, replace(seen, fan=replace(seen.fan, **fan_changes), **changes))


def notices(h: NotifyHarness) -> list[Notice]:
    return h.runtime.notices.open_for(h.creator_id)


def record(h: NotifyHarness, booking_id: str, kind: str, who: str) -> dict[str, Any]:
    found = h.store.get(EMAILS, f"{booking_id}:{kind}:{h.doc(booking_id)['revision']}:{who}")
    assert found is not None
    return found


def test_a_refused_fan_address_is_recorded_failed_acknowledged_and_the_creator_told() -> None:
    h = NotifyHarness()
    booking_id = h.new_booking()
    h.settle_link(booking_id)
    h.mail.refused.add(FAN)

    response = h.booking_event(booking_id)[0]
    assert response.status_code == 200, "acknowledged: Pub/Sub must not redeliver it forever"
    assert response.get_json()["outcome"] == "settled"
    assert h.kinds() == [("creator_notification", CREATOR)], "the creator still gets theirs"
    failed = record(h, booking_id, "confirmation", "fan")
    assert (failed["state"], failed["failed_in"]) == ("failed", "send")
    assert "550" in failed["reason"]
    assert h.doc(booking_id)["mail_due_at"] is None, "nothing left for the sweep"

    [notice] = notices(h)
    assert (notice.kind, notice.booking_id) == ("email_failed", booking_id)
    assert FAN in notice.message
    assert "confirmation email" in notice.message
    assert "mail server refused it" in notice.message

    h.mail.refused.clear()
    assert h.booking_event(booking_id, times=2)[1].status_code == 200
    assert h.kinds() == [("creator_notification", CREATOR)], "a failed message is never sent later"
    assert len(notices(h)) == 1, "one notice per message however often it is met"


def test_a_refused_creator_address_names_the_creator_and_the_fan_still_gets_theirs() -> None:
    h = NotifyHarness()
    booking_id = h.new_booking()
    h.settle_link(booking_id)
    h.mail.refused.add(CREATOR)
    assert h.notifier.send_owed(booking_id) is Outcome.SETTLED
    assert h.kinds() == [("confirmation", FAN)]
    [notice] = notices(h)
    assert CREATOR in notice.message
    assert "creator notification email" in notice.message


@pytest.mark.parametrize("address", ["no-at-sign", "line\r\nbreak@example.com"])
def test_an_address_that_cannot_be_written_is_a_failed_render_and_the_creator_copy_goes(address: str) -> None:
    h = NotifyHarness()
    booking_id = h.new_booking()
    h.settle_link(booking_id)
    poisoned(h, booking_id, email=address)

    assert h.booking_event(booking_id)[0].status_code == 200
    assert h.kinds() == [("creator_notification", CREATOR)]
    failed = record(h, booking_id, "confirmation", "fan")
    assert (failed["state"], failed["failed_in"]) == ("failed", "render")
    assert "ValueError" in failed["reason"]
    [notice] = notices(h)
    assert address in notice.message
    assert "could not be written from the booking's details" in notice.message


def test_a_manage_token_that_cannot_be_opened_fails_only_the_fans_copy() -> None:
    h = NotifyHarness()
    booking_id = h.new_booking()
    h.settle_link(booking_id)
    poisoned(h, booking_id, manage_token_sealed={"key_version": "gone"})

    assert h.notifier.send_owed(booking_id) is Outcome.SETTLED
    assert h.kinds() == [("creator_notification", CREATOR)]
    assert record(h, booking_id, "confirmation", "fan")["failed_in"] == "render"
    assert [n.kind for n in notices(h)] == ["email_failed"]


def test_a_fan_name_with_a_line_break_and_a_zone_that_is_not_a_zone_still_get_both_emails() -> None:
    h = NotifyHarness()
    booking_id = h.new_booking()
    h.settle_link(booking_id)
    poisoned(h, booking_id, name="Frankie\r\nBcc: everyone@example.com", timezone="Mars/Olympus")

    assert h.booking_event(booking_id)[0].status_code == 200
    assert sorted(h.kinds()) == [("confirmation", FAN), ("creator_notification", CREATOR)]
    [confirmation] = h.sent("confirmation")
    assert confirmation.message["To"].addresses[0].display_name == "Frankie Bcc: everyone@example.com"
    assert "(UTC)" in confirmation.text, "the creator's zone (UTC here) instead of Mars/Olympus"
    assert notices(h) == []


def test_a_poisoned_reminder_is_recorded_failed_and_the_next_reminder_is_still_armed() -> None:
    h = NotifyHarness()
    booking_id = h.new_booking()
    h.settle_link(booking_id)
    h.notifier.send_owed(booking_id)
    poisoned(h, booking_id, email="no-at-sign")
    booking = h.runtime.bookings.get(booking_id)
    assert isinstance(booking, Booking) and booking.next_reminder_at is not None
    h.clock.advance(booking.next_reminder_at - h.clock.now())

    counts = h.tick()
    assert counts["reminders_sent"] == 1 and counts["reminders_failed"] == 0
    assert [k for k in h.kinds() if k[0] == "reminder"] == [("reminder", CREATOR)]
    assert h.doc(booking_id)["reminders_sent"], "the reminder is done with, not retried every tick"
    assert any("reminder email" in n.message for n in notices(h))


def test_a_transient_failure_is_still_retried_not_recorded_as_failed() -> None:
    h = NotifyHarness()
    booking_id = h.new_booking()
    h.settle_link(booking_id)
    h.mail.fail_next(1)
    assert h.booking_event(booking_id)[0].status_code == 503
    assert h.store.get(EMAILS, f"{booking_id}:confirmation:1:fan") is None
    assert notices(h) == []


def test_a_recorded_failure_never_holds_the_fans_manage_token() -> None:
    h = NotifyHarness()
    booking_id, token = h.booked(h.free_offer, at(9))
    h.settle_link(booking_id)
    runtime = h.runtime
    ledger = EmailLedger(h.store, h.clock, h.mail)
    misconfigured = Notifier(
        runtime.bookings, runtime.catalog, ledger, runtime.notices, h.clock, runtime.vault, MAIL_FROM, "flo.test"
    )
    assert misconfigured.send_owed(booking_id) is Outcome.SETTLED
    failed = record(h, booking_id, "confirmation", "fan")
    assert failed["failed_in"] == "render"
    assert token not in failed["reason"]
    assert all(token not in n.message for n in notices(h))


def test_both_copies_refused_give_the_creator_one_notice_each() -> None:
    h = NotifyHarness()
    booking_id = h.new_booking()
    h.settle_link(booking_id)
    h.mail.refused.update({FAN, CREATOR})
    assert h.notifier.send_owed(booking_id) is Outcome.SETTLED
    assert sorted(n.message.rsplit(" to ", 1)[1] for n in notices(h)) == [f"{CREATOR}.", f"{FAN}."]


def test_a_creator_copy_that_cannot_go_for_want_of_an_address_tells_the_creator_it_was_theirs() -> None:
    """A creator record with no email: their copy cannot be written, and the notice says it was for "you"."""
    h = NotifyHarness()
    booking_id = h.new_booking()
    h.settle_link(booking_id)
    creator = h.store.get(CREATORS, h.creator_id)
    assert creator is not None
    h.store.commit([put(CREATORS, h.creator_id, {k: v for k, v in creator.items() if k != "email"})])

    assert h.notifier.send_owed(booking_id) is Outcome.SETTLED
    assert h.kinds() == [], "the fan's copy names the creator's address too (the invitation's organiser)"
    creator_notice = next(n for n in notices(h) if "creator notification" in n.message)
    assert creator_notice.message == (
        "We could not send the creator notification email for '30 min' "
        "(it could not be written from the booking's details) to you."
    )


def test_a_failed_record_that_does_not_say_where_it_failed_still_tells_the_creator() -> None:
    """A failure recorded without its stage (as an older release wrote them) is told in general words."""
    h = NotifyHarness()
    booking_id = h.new_booking()
    h.settle_link(booking_id)
    key = f"{booking_id}:confirmation:{h.doc(booking_id)['revision']}:fan"
    h.store.commit([put(EMAILS, key, {"state": "failed", "reason": "unknown"})])

    assert h.notifier.send_owed(booking_id) is Outcome.SETTLED
    assert h.kinds() == [("creator_notification", CREATOR)]
    [notice] = notices(h)
    assert notice.message == f"We could not send the confirmation email for '30 min' (it could not be sent) to {FAN}."
