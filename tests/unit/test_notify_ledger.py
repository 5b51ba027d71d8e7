"""The claim ledger: one send per key, takeover of dead claims, and nothing unsent marked sent."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest

from shared.mail import MailSendError
from shared.mail.port import SMTP_EXCHANGE_STEPS, SMTP_TIMEOUT_SECONDS
from shared.notify import EMAILS, Delivered, Delivery, EmailKey, EmailLedger
from shared.notify.ledger import LEASE, RECORD_RETENTION
from shared.store.port import create, delete, put
from tests.fakes.clock import FakeClock
from tests.fakes.mail import FakeMailSender
from tests.fakes.store import Call, FakeDocStore, InterleavingStore, RecordingStore

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
KEY = EmailKey("b1", "confirmation", 2, "fan")


def message() -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = "hello"
    return msg


def ledger() -> tuple[EmailLedger, FakeDocStore, FakeClock, FakeMailSender]:
    store, clock, sender = FakeDocStore(), FakeClock(NOW), FakeMailSender()
    return EmailLedger(store, clock, sender), store, clock, sender


def test_the_doc_id_names_booking_kind_revision_and_recipient() -> None:
    assert KEY.doc_id == "b1:confirmation:2:fan"


def test_a_key_is_sent_once_and_recorded_as_sent() -> None:
    led, store, _, sender = ledger()
    assert led.deliver(KEY, message, link_included=True).delivery is Delivery.SENT
    assert led.deliver(KEY, message, link_included=True).delivery is Delivery.ALREADY_SENT
    assert len(sender.sent) == 1
    record = store.get(EMAILS, KEY.doc_id)
    assert record is not None
    assert (record["state"], record["sent_at"], record["link_included"]) == ("sent", NOW, True)


def test_another_revision_or_recipient_is_another_email() -> None:
    led, _, _, sender = ledger()
    for key in (KEY, EmailKey("b1", "confirmation", 3, "fan"), EmailKey("b1", "confirmation", 2, "creator")):
        assert led.deliver(key, message, link_included=False).delivery is Delivery.SENT
    assert len(sender.sent) == 3


def test_a_failed_send_releases_the_claim_and_is_never_marked_sent() -> None:
    led, store, _, sender = ledger()
    sender.fail_next(1)
    with pytest.raises(MailSendError):
        led.deliver(KEY, message, link_included=False)
    assert store.get(EMAILS, KEY.doc_id) is None
    assert led.deliver(KEY, message, link_included=False).delivery is Delivery.SENT
    assert len(sender.sent) == 1


def test_a_render_error_is_recorded_as_failed_with_its_reason_and_never_built_again() -> None:
    led, store, _, sender = ledger()
    built: list[int] = []

    def broken() -> EmailMessage:
        built.append(1)
        raise ValueError("cannot render")

    assert led.deliver(KEY, broken, link_included=False).delivery is Delivery.FAILED
    record = store.get(EMAILS, KEY.doc_id)
    assert record is not None
    assert (record["state"], record["failed_in"], record["reason"]) == ("failed", "render", "ValueError: cannot render")
    assert record["failed_at"] == NOW
    assert led.deliver(KEY, broken, link_included=False).delivery is Delivery.FAILED
    assert led.deliver(KEY, message, link_included=False).delivery is Delivery.FAILED, "a failed message stays failed"
    assert built == [1]
    assert sender.sent == []


def test_a_permanent_smtp_refusal_is_recorded_as_failed_and_not_sent_again() -> None:
    led, store, _, sender = ledger()
    sender.fail_next(1, transient=False)
    assert led.deliver(KEY, message, link_included=False).delivery is Delivery.FAILED
    record = store.get(EMAILS, KEY.doc_id)
    assert record is not None
    assert (record["state"], record["failed_in"], record["reason"]) == ("failed", "send", "fake send failure")
    assert led.deliver(KEY, message, link_included=False).delivery is Delivery.FAILED
    assert sender.sent == []


def test_a_failed_message_is_not_taken_over_after_its_lease() -> None:
    led, _, clock, sender = ledger()
    sender.fail_next(1, transient=False)
    led.deliver(KEY, message, link_included=False)
    clock.advance(LEASE * 3)
    assert led.deliver(KEY, message, link_included=False).delivery is Delivery.FAILED
    assert sender.sent == []


def live_claim(store: FakeDocStore, lease_until: datetime) -> None:
    claim = {"state": "sending", "owner": "someone", "lease_until": lease_until, "created_at": NOW}
    store.commit([create(EMAILS, KEY.doc_id, claim)])


def test_a_live_claim_is_left_alone_and_an_expired_one_is_taken_over() -> None:
    led, store, clock, sender = ledger()
    live_claim(store, NOW + LEASE)
    built: list[int] = []

    def counted() -> EmailMessage:
        built.append(1)
        return message()

    assert led.deliver(KEY, counted, link_included=False).delivery is Delivery.IN_FLIGHT
    assert built == []  # nothing is rendered for a message someone else sends
    clock.advance(LEASE)
    assert led.deliver(KEY, counted, link_included=False).delivery is Delivery.SENT
    assert len(sender.sent) == 1
    assert store.get(EMAILS, KEY.doc_id)["state"] == "sent"  # type: ignore[index]


def test_a_failing_sender_does_not_delete_a_claim_someone_took_over() -> None:
    """A sends slowly past its lease, B takes over and sends; A's late failure must not erase B's record."""
    store, clock = FakeDocStore(), FakeClock(NOW)
    entered, release = threading.Event(), threading.Event()

    class SlowFailing:
        def send(self, msg: EmailMessage) -> None:
            entered.set()
            release.wait(10)
            raise MailSendError("timed out", transient=True)

    slow, fast = EmailLedger(store, clock, SlowFailing()), EmailLedger(store, clock, FakeMailSender())
    errors: list[BaseException] = []

    def run_slow() -> None:
        try:
            slow.deliver(KEY, message, link_included=False)
        except MailSendError as exc:
            errors.append(exc)

    thread = threading.Thread(target=run_slow)
    thread.start()
    assert entered.wait(10)
    clock.advance(LEASE + timedelta(seconds=1))
    assert fast.deliver(KEY, message, link_included=False).delivery is Delivery.SENT
    release.set()
    thread.join(10)
    assert len(errors) == 1
    assert store.get(EMAILS, KEY.doc_id)["state"] == "sent"  # type: ignore[index]


def test_two_concurrent_senders_send_once() -> None:
    store, clock, sink = FakeDocStore(), FakeClock(NOW), FakeMailSender()
    entered, release = threading.Event(), threading.Event()

    class Blocking:
        def send(self, msg: EmailMessage) -> None:
            entered.set()
            release.wait(10)
            sink.send(msg)

    first = EmailLedger(store, clock, Blocking())
    results: list[Delivery] = []
    thread = threading.Thread(target=lambda: results.append(first.deliver(KEY, message, link_included=False).delivery))
    thread.start()
    assert entered.wait(10)
    assert EmailLedger(store, clock, sink).deliver(KEY, message, link_included=False).delivery is Delivery.IN_FLIGHT
    release.set()
    thread.join(10)
    assert results == [Delivery.SENT]
    assert len(sink.sent) == 1


def test_a_send_taking_every_smtp_step_at_its_timeout_is_not_sent_twice() -> None:
    store, clock, sink = FakeDocStore(), FakeClock(NOW), FakeMailSender()
    second = EmailLedger(store, clock, sink)
    overlapping: list[Delivery] = []

    class Slowest:
        def send(self, msg: EmailMessage) -> None:
            clock.advance(timedelta(seconds=SMTP_TIMEOUT_SECONDS * SMTP_EXCHANGE_STEPS))
            overlapping.append(second.deliver(KEY, message, link_included=False).delivery)
            sink.send(msg)

    assert EmailLedger(store, clock, Slowest()).deliver(KEY, message, link_included=False).delivery is Delivery.SENT
    assert overlapping == [Delivery.IN_FLIGHT]
    assert len(sink.sent) == 1


def test_a_sent_or_live_claim_is_answered_without_a_transaction(monkeypatch: pytest.MonkeyPatch) -> None:
    led, store, clock, sender = ledger()
    other = EmailKey("b1", "confirmation", 2, "creator")
    assert led.deliver(KEY, message, link_included=True).delivery is Delivery.SENT
    live = {"state": "sending", "owner": "someone", "lease_until": NOW + LEASE, "created_at": NOW}
    store.commit([create(EMAILS, other.doc_id, live)])

    def no_transaction(fn: object) -> None:
        raise AssertionError("a duplicate delivery needs no transaction")

    monkeypatch.setattr(store, "transaction", no_transaction)
    assert led.deliver(KEY, message, link_included=True).delivery is Delivery.ALREADY_SENT
    assert led.deliver(other, message, link_included=True).delivery is Delivery.IN_FLIGHT
    monkeypatch.undo()
    clock.advance(LEASE + timedelta(seconds=1))
    assert led.deliver(other, message, link_included=True).delivery is Delivery.SENT, "an expired claim is taken over"
    assert len(sender.sent) == 2


def test_a_claim_names_its_message_in_its_fields_and_when_it_may_be_deleted() -> None:
    """The chaos run's exactly-once check reads the sent records by these fields, not by the document id."""
    led, store, _, _ = ledger()
    led.deliver(KEY, message, link_included=False)
    record = store.get(EMAILS, KEY.doc_id)
    assert record is not None
    assert (record["booking_id"], record["kind"], record["revision"], record["recipient"]) == (
        "b1",
        "confirmation",
        2,
        "fan",
    )
    assert record["expires_at"] == NOW + RECORD_RETENTION, "Firestore's TTL deletes it then"


def in_a_transaction(call: Call) -> bool:
    return call.kind == "transaction"


def test_a_dead_claim_released_just_before_the_takeover_is_claimed_afresh_and_held_while_sending() -> None:
    """The dead claim's sender wakes and releases it between our read of it and our takeover: we create the
    claim anew, so while we send, a duplicate delivery sees our live claim and stands back."""
    store, clock, sink = FakeDocStore(), FakeClock(NOW), FakeMailSender()
    live_claim(store, NOW)
    clock.advance(timedelta(seconds=1))
    duplicate = EmailLedger(store, clock, sink)
    seen_while_sending: list[object] = []

    class Watching:
        def send(self, msg: EmailMessage) -> None:
            record = store.get(EMAILS, KEY.doc_id) or {}
            seen_while_sending.append((record.get("state"), record.get("owner") not in (None, "someone")))
            seen_while_sending.append(duplicate.deliver(KEY, message, link_included=False).delivery)
            sink.send(msg)

    released = InterleavingStore(store, in_a_transaction, lambda: store.commit([delete(EMAILS, KEY.doc_id)]))
    assert EmailLedger(released, clock, Watching()).deliver(KEY, message, link_included=True).delivery is Delivery.SENT
    assert seen_while_sending == [("sending", True), Delivery.IN_FLIGHT]
    assert len(sink.sent) == 1
    record = store.get(EMAILS, KEY.doc_id)
    assert record is not None and (record["state"], record["link_included"]) == ("sent", True)


@pytest.mark.parametrize(("state", "answer"), [("sent", Delivery.ALREADY_SENT), ("failed", Delivery.FAILED)])
def test_a_dead_claim_settled_just_before_the_takeover_is_not_sent_again(state: str, answer: Delivery) -> None:
    """The dead claim's sender was only slow: it marks the message settled between our read and our takeover."""
    store, clock, sink = FakeDocStore(), FakeClock(NOW), FakeMailSender()
    live_claim(store, NOW)
    clock.advance(timedelta(seconds=1))
    settled = {"state": state, "owner": "someone", "lease_until": NOW, "created_at": NOW}
    racing = InterleavingStore(store, in_a_transaction, lambda: store.commit([put(EMAILS, KEY.doc_id, settled)]))
    assert EmailLedger(racing, clock, sink).deliver(KEY, message, link_included=False).delivery is answer
    assert sink.sent == []
    assert store.get(EMAILS, KEY.doc_id) == settled


def test_an_unexpected_error_while_sending_releases_the_claim_and_propagates() -> None:
    store, clock, sink = FakeDocStore(), FakeClock(NOW), FakeMailSender()

    class Crashing:
        def send(self, msg: EmailMessage) -> None:
            raise RuntimeError("connection reset")

    with pytest.raises(RuntimeError, match="connection reset"):
        EmailLedger(store, clock, Crashing()).deliver(KEY, message, link_included=False)
    assert store.get(EMAILS, KEY.doc_id) is None, "released, so a retry can send it at once"
    assert EmailLedger(store, clock, sink).deliver(KEY, message, link_included=False).delivery is Delivery.SENT
    assert len(sink.sent) == 1


def test_a_fresh_send_reads_the_claim_once_then_creates_it_and_marks_it_sent() -> None:
    store, clock, sender = RecordingStore(FakeDocStore()), FakeClock(NOW), FakeMailSender()
    assert EmailLedger(store, clock, sender).deliver(KEY, message, link_included=False) == Delivered(Delivery.SENT)
    assert [c.kind for c in store.calls] == ["get", "commit", "commit"]
    assert [[w.kind for w in c.writes] for c in store.commits(EMAILS)] == [["create"], ["set"]]


@pytest.mark.parametrize("link_included", [True, False])
def test_a_repeat_delivery_of_a_sent_message_is_one_read_no_commit_and_says_whether_it_held_the_link(
    link_included: bool,
) -> None:
    store, clock, sender = RecordingStore(FakeDocStore()), FakeClock(NOW), FakeMailSender()
    led = EmailLedger(store, clock, sender)
    led.deliver(KEY, message, link_included=link_included)
    store.calls.clear()

    again = led.deliver(KEY, message, link_included=True)

    assert again == Delivered(Delivery.ALREADY_SENT, link_included)
    assert again.went_without_link is not link_included
    assert store.calls == [Call("get", EMAILS, KEY.doc_id)]
    assert len(sender.sent) == 1


def test_a_failed_or_live_claim_is_answered_by_one_read() -> None:
    store, clock, sender = RecordingStore(FakeDocStore()), FakeClock(NOW), FakeMailSender()
    led = EmailLedger(store, clock, sender)
    sender.fail_next(1, transient=False)
    led.deliver(KEY, message, link_included=False)
    live = EmailKey("b1", "confirmation", 2, "creator")
    store.commit([create(EMAILS, live.doc_id, {"state": "sending", "lease_until": NOW + LEASE, "created_at": NOW})])
    store.calls.clear()

    assert led.deliver(KEY, message, link_included=False) == Delivered(Delivery.FAILED)
    assert led.deliver(live, message, link_included=False) == Delivered(Delivery.IN_FLIGHT)
    assert store.calls == [Call("get", EMAILS, KEY.doc_id), Call("get", EMAILS, live.doc_id)]
    assert sender.sent == []


def test_a_claim_another_sender_creates_between_our_read_and_our_create_is_left_to_it() -> None:
    inner, clock, sink = FakeDocStore(), FakeClock(NOW), FakeMailSender()
    theirs = {"state": "sending", "owner": "someone", "lease_until": NOW + LEASE, "created_at": NOW}

    def creating(call: Call) -> bool:
        return call.kind == "commit" and call.writes[0].kind == "create"

    racing = InterleavingStore(inner, creating, lambda: inner.commit([create(EMAILS, KEY.doc_id, theirs)]))
    built: list[int] = []

    def counted() -> EmailMessage:
        built.append(1)
        return message()

    assert EmailLedger(racing, clock, sink).deliver(KEY, counted, link_included=False).delivery is Delivery.IN_FLIGHT
    assert (built, sink.sent) == ([], [])
    assert inner.get(EMAILS, KEY.doc_id) == theirs
