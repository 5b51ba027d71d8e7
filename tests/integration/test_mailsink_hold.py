"""The mail sink's hold: mail to a held address is refused with a 4xx (a transient failure) until released."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import pytest

from devstack.mailsink import MailSink, start_mailsink
from shared.mail import MailSendError
from tests.integration.test_mail_smtp import confirmation, http, sender


@pytest.fixture
def sink() -> Iterator[MailSink]:
    with start_mailsink() as running:
        yield running


def test_a_held_recipient_is_refused_as_transient_until_released(sink: MailSink) -> None:
    assert http("PUT", f"{sink.http_url}/held/Bob@Fan.test")[0] == 204
    with pytest.raises(MailSendError) as refused:
        sender(sink.smtp_port).send(confirmation())
    assert refused.value.transient
    assert json.loads(http("GET", f"{sink.http_url}/messages")[1]) == []

    assert http("DELETE", f"{sink.http_url}/held/bob@fan.test")[0] == 204
    sender(sink.smtp_port).send(confirmation())
    [received] = json.loads(http("GET", f"{sink.http_url}/messages")[1])
    assert received["rcpt_tos"] == ["bob@fan.test"]


def test_the_hold_and_the_refusal_policy_work_side_by_side(sink: MailSink) -> None:
    """One RCPT check serves both switches: a refused mailbox is a permanent 550 even while held, and a
    policy refusing other addresses neither releases a held mailbox nor holds an open one."""
    policy = urllib.request.Request(  # noqa: S310 (loopback http only)
        f"{sink.http_url}/policy",
        data=json.dumps({"refuse": "^bob@"}).encode(),
        headers={"Content-Type": "application/json"},
        method="PUT",
    )
    with urllib.request.urlopen(policy, timeout=5) as answer:  # noqa: S310
        assert answer.status == 200
    assert http("PUT", f"{sink.http_url}/held/bob@fan.test")[0] == 204
    with pytest.raises(MailSendError) as refused:
        sender(sink.smtp_port).send(confirmation())
    assert not refused.value.transient and "550" in str(refused.value)

    assert http("DELETE", f"{sink.http_url}/policy")[0] == 200
    with pytest.raises(MailSendError) as held:
        sender(sink.smtp_port).send(confirmation())
    assert held.value.transient
    assert json.loads(http("GET", f"{sink.http_url}/messages")[1]) == []
