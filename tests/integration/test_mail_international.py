"""Internationalized addresses go with SMTPUTF8 when the server offers it and are a permanent failure when
it does not; a refused mailbox is a permanent failure. Real SMTP on loopback: the mail sink and its policy."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest

from devstack.mailsink import MailSink, start_mailsink
from shared.mail import EmailKind, MailSendError, SmtpSender, render
from tests.mail_samples import sample_booking

ZOE = "zoë@example.com"


def confirmation(fan_email: str) -> EmailMessage:
    booking = sample_booking(booking_id="bk_intl", fan_email=fan_email, fan_name="Zoë Ünal")
    return render(EmailKind.CONFIRMATION, booking, mail_from="Flo <bookings@flo.test>", base_url="https://flo.test")


def sender(sink: MailSink) -> SmtpSender:
    return SmtpSender("127.0.0.1", sink.smtp_port, username=None, password=None, tls="none", timeout=5)


def call(sink: MailSink, method: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 (loopback http only)
        f"{sink.http_url}{path}", data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        return json.loads(response.read())


@pytest.fixture
def sink() -> Iterator[MailSink]:
    with start_mailsink() as running:
        yield running


def test_a_non_ascii_address_is_sent_with_smtputf8_and_arrives_intact(sink: MailSink) -> None:
    sender(sink).send(confirmation(ZOE))
    [received] = call(sink, "GET", "/messages")
    assert received["rcpt_tos"] == [ZOE]
    [message] = sink.messages()
    [to] = message["To"].addresses
    assert (to.addr_spec, to.display_name) == (ZOE, "Zoë Ünal")
    assert received["headers"]["To"] == "Zoë Ünal <zoë@example.com>"


def test_without_smtputf8_a_non_ascii_address_fails_for_good_and_an_ascii_one_still_goes(sink: MailSink) -> None:
    assert call(sink, "PUT", "/policy", {"smtputf8": False}) == {"refuse": None, "smtputf8": False}
    with pytest.raises(MailSendError) as raised:
        sender(sink).send(confirmation(ZOE))
    assert raised.value.transient is False, "trying again cannot help"
    assert "SMTPUTF8" in str(raised.value)
    sender(sink).send(confirmation("plain@example.com"))
    assert [m["rcpt_tos"] for m in call(sink, "GET", "/messages")] == [["plain@example.com"]]


def test_a_refused_mailbox_is_a_permanent_550_and_others_are_accepted(sink: MailSink) -> None:
    call(sink, "PUT", "/policy", {"refuse": "^refuse-"})
    with pytest.raises(MailSendError) as raised:
        sender(sink).send(confirmation("refuse-me@example.com"))
    assert raised.value.transient is False
    assert "550" in str(raised.value)
    sender(sink).send(confirmation("welcome@example.com"))

    assert call(sink, "DELETE", "/policy") == {"refuse": None, "smtputf8": True}
    sender(sink).send(confirmation("refuse-me@example.com"))
    assert [m["rcpt_tos"] for m in call(sink, "GET", "/messages")] == [
        ["welcome@example.com"],
        ["refuse-me@example.com"],
    ]


@pytest.mark.parametrize("body", [{"refuse": "("}, {"smtputf8": "no"}, {"other": 1}, ["x"]])
def test_a_bad_policy_is_a_400(sink: MailSink, body: Any) -> None:
    with pytest.raises(urllib.error.HTTPError) as raised:
        call(sink, "PUT", "/policy", body)
    assert raised.value.code == 400
    assert call(sink, "GET", "/policy") == {"refuse": None, "smtputf8": True}
