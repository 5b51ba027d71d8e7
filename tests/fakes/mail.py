"""An in-memory stand-in for the mail sender."""

from __future__ import annotations

from email.message import EmailMessage

from shared.mail.smtp import MailSendError


class FakeMailSender:
    """Records sent messages; ``fail_next`` makes the next sends raise, to test retry paths, and an
    address in ``refused`` is refused for good, as a server answering 550 for one mailbox."""

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []
        self.refused: set[str] = set()
        self._failures = 0
        self._transient = True

    def fail_next(self, count: int = 1, *, transient: bool = True) -> None:
        """Make the next ``count`` sends raise MailSendError(transient) without recording."""
        self._failures = count
        self._transient = transient

    def send(self, message: EmailMessage) -> None:
        if self._failures > 0:
            self._failures -= 1
            raise MailSendError("fake send failure", transient=self._transient)
        refused = {a.addr_spec for a in message["To"].addresses} & self.refused if self.refused else set()
        if refused:
            raise MailSendError(f"fake server refused {sorted(refused)}: 550 no such mailbox", transient=False)
        self.sent.append(message)
