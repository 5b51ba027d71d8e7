"""FakeMailSender (used by other services' unit tests) and SmtpSender's argument checks."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from shared.mail import MailSender, MailSendError, SmtpSender
from tests.fakes.mail import FakeMailSender


def message(subject: str) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = subject
    return msg


def test_fake_records_what_it_sends() -> None:
    sender: MailSender = FakeMailSender()
    first, second = message("one"), message("two")
    sender.send(first)
    sender.send(second)
    assert isinstance(sender, FakeMailSender)
    assert sender.sent == [first, second]


@pytest.mark.parametrize("transient", [True, False])
def test_fake_fails_the_next_n_sends_then_recovers(transient: bool) -> None:
    sender = FakeMailSender()
    sender.fail_next(2, transient=transient)

    for _ in range(2):
        with pytest.raises(MailSendError) as raised:
            sender.send(message("retry me"))
        assert raised.value.transient is transient
    sender.send(message("third time"))

    assert [m["Subject"] for m in sender.sent] == ["third time"]


def test_smtp_sender_wants_username_and_password_together() -> None:
    with pytest.raises(ValueError, match="together"):
        SmtpSender("localhost", 25, username="user", password=None, tls="starttls", timeout=5)
