"""SmtpSender against real SMTP servers on loopback: the mail sink, and servers that refuse."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from devstack.emulators import free_port
from devstack.mailsink import MailSink, start_mailsink
from shared.mail import EmailKind, MailSendError, SmtpSender, render
from tests.mail_samples import ZOOM_URL, sample_booking

PASSWORD = "s3cret-Pa55word"


def confirmation() -> EmailMessage:
    b = sample_booking(booking_id="bk_int_1", revision=1, fan_timezone=None)
    return render(EmailKind.CONFIRMATION, b, mail_from="Flo <bookings@flo.test>", base_url="https://flo.test")


def sender(port: int, *, username: str | None = None, password: str | None = None, timeout: float = 5) -> SmtpSender:
    return SmtpSender("127.0.0.1", port, username=username, password=password, tls="none", timeout=timeout)


def http(method: str, url: str) -> tuple[int, bytes]:
    request = urllib.request.Request(url, method=method)  # noqa: S310 (loopback http only)
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        status: int = response.status
        return status, response.read()


@pytest.fixture
def sink() -> Iterator[MailSink]:
    with start_mailsink() as running:
        yield running


@pytest.mark.parametrize("credentials", [(None, None), ("flo", PASSWORD)])
def test_sent_message_can_be_read_back_over_http(sink: MailSink, credentials: tuple[str | None, str | None]) -> None:
    username, password = credentials
    sender(sink.smtp_port, username=username, password=password).send(confirmation())

    status, body = http("GET", f"{sink.http_url}/messages")
    assert status == 200
    messages = json.loads(body)
    assert len(messages) == 1
    received = messages[0]
    assert received["mail_from"] == "bookings@flo.test"
    assert received["rcpt_tos"] == ["bob@fan.test"]
    assert received["subject"].startswith("Confirmed: Portfolio review with Ana Creator")
    assert received["headers"]["X-Flo-Booking-Id"] == "bk_int_1"
    assert received["headers"]["X-Flo-Email-Kind"] == "confirmation"
    assert datetime.fromisoformat(received["received_at"]).tzinfo is not None

    status, raw = http("GET", f"{sink.http_url}/messages/{received['id']}/raw")
    assert status == 200
    assert raw.decode() == received["raw"]
    parsed = message_from_bytes(raw, policy=policy.default)
    invites = [part for part in parsed.iter_attachments() if part.get_filename() == "invite.ics"]
    assert len(invites) == 1
    assert invites[0].get_content_type() == "text/calendar"
    assert ZOOM_URL in invites[0].get_content()

    [in_process] = sink.messages()
    assert in_process["X-Flo-Email-Kind"] == "confirmation"
    html_part = in_process.get_body(("html",))
    assert html_part is not None
    assert "Join with Zoom" in html_part.get_content()


def test_sink_pages_and_clear(sink: MailSink) -> None:
    sender(sink.smtp_port).send(confirmation())
    [received] = json.loads(http("GET", f"{sink.http_url}/messages")[1])

    status, page = http("GET", f"{sink.http_url}/")
    assert status == 200
    assert b"Confirmed: Portfolio review" in page
    assert b"confirmation" in page
    assert f"messages/{received['id']}/raw".encode() in page
    status, html_body = http("GET", f"{sink.http_url}/messages/{received['id']}/html")
    assert status == 200
    assert b"Join with Zoom" in html_body
    with pytest.raises(urllib.error.HTTPError) as missing:
        http("GET", f"{sink.http_url}/messages/999/raw")
    assert missing.value.code == 404

    assert http("DELETE", f"{sink.http_url}/messages")[0] == 204
    assert json.loads(http("GET", f"{sink.http_url}/messages")[1]) == []
    assert sink.messages() == []


def test_sink_fault_switch_refuses_a_share_of_sends_for_a_while(sink: MailSink) -> None:
    """Off by default; on, a refused message is a transient failure and is not kept."""
    assert json.loads(http("GET", f"{sink.http_url}/faults")[1])["refuse_fraction"] == 0.0
    sender(sink.smtp_port).send(confirmation())
    switched = httpx.post(f"{sink.http_url}/faults", json={"refuse_fraction": 1.0, "seconds": 60}, timeout=5)
    assert switched.json()["refuse_fraction"] == 1.0
    with pytest.raises(MailSendError) as refused:
        sender(sink.smtp_port).send(confirmation())
    assert refused.value.transient and "451" in str(refused.value)
    assert http("DELETE", f"{sink.http_url}/faults")[0] == 200
    sender(sink.smtp_port).send(confirmation())
    assert len(sink.messages()) == 2
    assert httpx.get(f"{sink.http_url}/messages/count", timeout=5).json() == {"count": 2}
    assert json.loads(http("GET", f"{sink.http_url}/faults")[1])["refused"] == 1


def test_nothing_listening_is_transient_and_hides_the_password() -> None:
    with pytest.raises(MailSendError) as raised:
        sender(free_port(), username="flo", password=PASSWORD).send(confirmation())
    assert raised.value.transient is True
    assert PASSWORD not in str(raised.value)
    assert raised.value.__cause__ is None


def test_silent_server_times_out_as_transient() -> None:
    with socket.socket() as silent:  # accepts connections (backlog) but never greets
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        with pytest.raises(MailSendError) as raised:
            sender(silent.getsockname()[1], timeout=0.5).send(confirmation())
    assert raised.value.transient is True


class _Refusing:
    """A server that answers RCPT or DATA with a fixed reply, and can echo the password back."""

    def __init__(self, rcpt_reply: str | None = None, data_reply: str = "250 OK") -> None:
        self.rcpt_reply = rcpt_reply
        self.data_reply = data_reply
        self.password = ""

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:  # noqa: N802
        if self.rcpt_reply is not None:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        return self.data_reply.replace("{password}", self.password)

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.password = data.password.decode()
        return AuthResult(success=data.password != b"wrong", handled=False)


@pytest.fixture
def refusing() -> Iterator[tuple[_Refusing, int]]:
    handler = _Refusing()
    port = free_port()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        authenticator=handler.authenticate,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


@pytest.mark.parametrize(
    ("rcpt_reply", "data_reply", "transient"),
    [
        ("451 4.3.0 Try again later", "250 OK", True),
        ("550 5.1.1 No such user", "250 OK", False),
        (None, "452 4.3.1 Insufficient storage", True),
        (None, "554 5.7.1 Message rejected", False),
    ],
)
def test_reply_codes_decide_transient(
    refusing: tuple[_Refusing, int], rcpt_reply: str | None, data_reply: str, transient: bool
) -> None:
    handler, port = refusing
    handler.rcpt_reply, handler.data_reply = rcpt_reply, data_reply

    with pytest.raises(MailSendError) as raised:
        sender(port).send(confirmation())

    assert raised.value.transient is transient
    code = (rcpt_reply or data_reply)[:3]
    assert code in str(raised.value)


def test_rejected_login_is_permanent_and_hides_the_password(refusing: tuple[_Refusing, int]) -> None:
    _, port = refusing
    with pytest.raises(MailSendError) as raised:
        sender(port, username="flo", password="wrong").send(confirmation())
    assert raised.value.transient is False
    assert "535" in str(raised.value)
    assert "wrong" not in str(raised.value)


def test_password_echoed_by_the_server_is_redacted(refusing: tuple[_Refusing, int]) -> None:
    handler, port = refusing
    handler.data_reply = "554 5.7.1 rejected for {password}"

    with pytest.raises(MailSendError) as raised:
        sender(port, username="flo", password=PASSWORD).send(confirmation())

    assert handler.password == PASSWORD  # the server really saw it, so the reply really held it
    assert PASSWORD not in str(raised.value)
    assert "rejected for ***" in str(raised.value)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_cli_prints_ports_serves_and_stops_on_signal(signum: int) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack.mailsink", "--smtp-port", "0", "--http-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        found = re.search(r"smtp=127\.0\.0\.1:(\d+) http=(http://127\.0\.0\.1:\d+)", line)
        assert found, line
        sender(int(found.group(1))).send(confirmation())
        [received] = json.loads(http("GET", f"{found.group(2)}/messages")[1])
        assert received["headers"]["X-Flo-Booking-Id"] == "bk_int_1"

        process.send_signal(signum)
        assert process.wait(timeout=10) == 0
        assert "mailsink stopped" in process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
