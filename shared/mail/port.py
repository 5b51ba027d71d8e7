"""The sending seam services depend on: SmtpSender in production, a recording fake in unit tests."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Protocol


class MailSender(Protocol):
    """Anything that delivers a message or raises MailSendError."""

    def send(self, message: EmailMessage) -> None: ...
