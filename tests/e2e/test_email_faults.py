"""Issue 11 behind the door, through the whole local stack: nothing a fan typed or a mail server answers
stops anyone's emails, and a payment that cannot be honoured is refunded, not forgotten.

The mail sink's policy (PUT /policy) stands in for a stricter server: it refuses chosen mailboxes or stops
offering SMTPUTF8. It is global, so a test that sets it puts it back in a `finally`. What the door refuses
today but older bookings may hold is written straight into the stack's Firestore.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest

from shared.bookings.model import BOOKINGS
from shared.store.port import update
from tests.e2e.flo import Creator, Flo, TopicReader, eventually, stack_store

ON_TIME_SECONDS = 30.0
"""The 6 s confirmation grace, then a loaded machine's worth of Pub/Sub and SMTP."""


@pytest.fixture
def strict_mail(flo: Flo) -> Iterator[Flo]:
    try:
        yield flo
    finally:
        flo.mail_policy()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def mails(flo: Flo, booking_id: str, kind: str, count: int = 1, timeout: float = 40) -> list[EmailMessage]:
    return eventually(
        lambda: found if len(found := flo.emails(booking_id, kind)) >= count else None,
        timeout=timeout,
        what=f"{count} {kind} email(s) for booking {booking_id}",
    )


def to(message: EmailMessage) -> str:
    [address] = message["To"].addresses
    return str(address.addr_spec)


def notice(flo: Flo, creator: Creator, kind: str, booking_id: str) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        return next((n for n in flo.notices(creator) if (n["kind"], n["booking_id"]) == (kind, booking_id)), None)

    return eventually(found, what=f"a {kind} notice for booking {booking_id}")


def free_session(flo: Flo) -> tuple[Creator, str]:
    creator = flo.creator()
    return creator, flo.offer(creator)


# ---- internationalized addresses --------------------------------------------------------------------------


def test_a_fan_with_a_non_ascii_address_gets_the_confirmation(flo: Flo) -> None:
    creator, offer = free_session(flo)
    address = f"{unique('zoë')}@example.com"
    booking = flo.book(offer, flo.first_slot(creator, offer), fan_email=address)
    [confirmation] = mails(flo, booking["booking_id"], "confirmation")
    assert to(confirmation) == address
    assert to(mails(flo, booking["booking_id"], "creator_notification")[0]) == creator.email
    assert [n for n in flo.notices(creator) if n["kind"] == "email_failed"] == []


def test_without_smtputf8_the_creator_still_gets_theirs_and_is_told_who_did_not(strict_mail: Flo) -> None:
    flo = strict_mail
    flo.mail_policy(smtputf8=False)
    creator, offer = free_session(flo)
    address = f"{unique('zoë')}@example.com"
    booking_id = flo.book(offer, flo.first_slot(creator, offer), fan_email=address)["booking_id"]

    [notification] = mails(flo, booking_id, "creator_notification")
    assert to(notification) == creator.email
    failed = notice(flo, creator, "email_failed", booking_id)
    assert address in failed["message"]
    assert "confirmation email" in failed["message"]
    assert flo.emails(booking_id, "confirmation") == []


# ---- a mailbox refused for good ---------------------------------------------------------------------------


def test_a_refused_fan_mailbox_is_told_to_the_creator_and_never_holds_back_their_email(strict_mail: Flo) -> None:
    flo = strict_mail
    refused = f"{unique('refused')}@example.com"
    flo.mail_policy(refuse=f"^{refused}$")
    creator, offer = free_session(flo)
    booking_id = flo.book(offer, flo.first_slot(creator, offer), fan_email=refused)["booking_id"]

    [notification] = mails(flo, booking_id, "creator_notification")
    assert to(notification) == creator.email
    failed = notice(flo, creator, "email_failed", booking_id)
    assert refused in failed["message"]
    assert "refused" in failed["message"]

    # Recorded as failed and acknowledged: letting the mailbox in later sends nothing more.
    flo.mail_policy()
    assert flo.http.post("/tasks/reminders").status_code == 200
    time.sleep(3)
    assert flo.emails(booking_id, "confirmation") == []
    assert len([n for n in flo.notices(creator) if n["booking_id"] == booking_id]) == 1


# ---- a poisoned booking next to a good one ----------------------------------------------------------------


def _paid_hold(flo: Flo, creator: Creator, offer: str, index: int, name_marker: str) -> tuple[str, str]:
    address = f"{unique(name_marker)}@example.com"
    booking = flo.book(offer, flo.first_slot(creator, offer, index=index), fan_email=address)
    assert booking["status"] == "pending_payment"
    return booking["booking_id"], address


def test_poisoned_bookings_next_to_a_good_one_never_delay_its_emails(flo: Flo) -> None:
    creator = flo.creator()
    paid = flo.offer(creator, price_cents=2500)
    free = flo.offer(creator)
    store = stack_store(flo.stack)
    # Held, so nothing is owed yet, then given what the door refuses today, then paid for.
    odd, _ = _paid_hold(flo, creator, paid, 0, "odd")
    store.commit(
        [update(BOOKINGS, odd, {"fan.name": "Frankie\r\nBcc: everyone@example.com", "fan.timezone": "Mars/Olympus"})]
    )
    sealed, sealed_fan = _paid_hold(flo, creator, paid, 1, "sealed")
    store.commit([update(BOOKINGS, sealed, {"manage_token_sealed": {"key_version": "gone"}})])
    for booking_id in (odd, sealed):
        assert flo.pay(booking_id).status_code == 202

    started = time.monotonic()
    good = flo.book(free, flo.first_slot(creator, free, index=2))
    [confirmation] = mails(flo, good["booking_id"], "confirmation", timeout=ON_TIME_SECONDS)
    assert time.monotonic() - started < ON_TIME_SECONDS
    assert to(confirmation) == good["fan"]["email"]
    mails(flo, good["booking_id"], "creator_notification", timeout=ON_TIME_SECONDS)

    # The odd name and zone only make the email plainer: on one line, in the creator's zone.
    [odd_confirmation] = mails(flo, odd, "confirmation")
    assert odd_confirmation["To"].addresses[0].display_name == "Frankie Bcc: everyone@example.com"
    assert odd_confirmation.get_all("Bcc") is None
    assert f"({creator.timezone})" in str(odd_confirmation["Subject"])
    mails(flo, odd, "creator_notification")

    # The one whose manage link cannot be opened: the creator gets theirs and is told the fan did not.
    mails(flo, sealed, "creator_notification")
    assert sealed_fan in notice(flo, creator, "email_failed", sealed)["message"]
    assert flo.emails(sealed, "confirmation") == []


# ---- a late payment for a slot taken meanwhile ------------------------------------------------------------


def test_a_late_payment_for_a_taken_slot_is_refunded_and_both_are_told(flo: Flo) -> None:
    creator = flo.creator()
    offer = flo.offer(creator, price_cents=2500)
    start = flo.first_slot(creator, offer)
    late = flo.book(offer, start)
    late_id = late["booking_id"]
    # Its hold runs out (15 minutes on this stack: moved into the past), and another fan takes the slot.
    store = stack_store(flo.stack)
    store.commit([update(BOOKINGS, late_id, {"hold_expires_at": datetime.now(UTC) - timedelta(minutes=1)})])
    other = flo.book(offer, start)
    assert other["status"] == "pending_payment"

    refunds = TopicReader(flo.stack, "refund-requests")
    try:
        assert flo.pay(late_id).status_code == 202
        requested = eventually(refunds.messages, what="a refund.requested message")
    finally:
        refunds.close()
    assert requested == [{"type": "refund.requested", "booking_id": late_id, "reason": "slot_taken"}]

    told = notice(flo, creator, "payment_needs_refund", late_id)
    assert late["fan"]["email"] in told["message"]
    [lost] = mails(flo, late_id, "slot_lost")
    assert to(lost) == late["fan"]["email"]
    text = lost.get_body(("plain",))
    assert text is not None
    assert "your payment will be refunded" in str(text.get_content())
    assert flo.any_booking(creator, late_id)["status"] == "cancelled"
    assert flo.booking(creator, other["booking_id"])["status"] == "pending_payment", "the other fan keeps the slot"
