"""The sending seam services depend on: SmtpSender in production, a recording fake in unit tests."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Protocol

SMTP_TIMEOUT_SECONDS = 20.0
"""The SMTP socket timeout, applied to each step of an exchange (every connect, read and write)."""
SMTP_EXCHANGE_STEPS = 12
"""The steps of the longest exchange: connect and greeting, EHLO, STARTTLS and its handshake, EHLO again,
AUTH (up to two round trips), MAIL FROM, RCPT TO, DATA, the message body, QUIT."""


class MailSender(Protocol):
    """Anything that delivers a message or raises MailSendError."""

    def send(self, message: EmailMessage) -> None: ...
