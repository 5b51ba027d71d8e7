"""Sending over SMTP with errors the caller can act on: retry (transient) or give up (permanent)."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from typing import Literal

SmtpTls = Literal["none", "starttls", "implicit"]
"""How the connection is protected: none (local mail sink only), STARTTLS (port 587) or implicit TLS (465)."""


class MailSendError(Exception):
    """The message was not accepted. ``transient`` says whether trying again later may work."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


class SmtpSender:
    """One SMTP connection per message: sends are rare, and it leaves no idle sockets to break."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        username: str | None,
        password: str | None,
        tls: SmtpTls,
        timeout: float,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if (username is None) != (password is None):
            raise ValueError("SMTP username and password must be given together")
        self._host = host
        self._port = port
        self._username = username
        self._password = password
        self._tls = tls
        self._timeout = timeout
        # Verifies the server's certificate and host name against the system's CAs unless a test passes its own.
        self._ssl_context = ssl_context

    def send(self, message: EmailMessage) -> None:
        """Return only once the server accepted the message for every recipient.

        Raises MailSendError: transient for connection failures, timeouts and 4xx replies,
        permanent for 5xx replies and local misconfiguration. The error text never holds the
        password, and the smtplib exception is not chained so it cannot leak through a traceback.
        """
        where = f"SMTP {self._host}:{self._port}"
        try:
            with self._connect() as smtp:
                if self._username is not None and self._password is not None:
                    smtp.login(self._username, self._password)
                refused = smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            text, transient = f"{where} refused every recipient: {exc.recipients}", all(400 <= c < 500 for c in codes)
        except smtplib.SMTPResponseException as exc:
            text, transient = f"{where} replied {exc.smtp_code}: {_text(exc.smtp_error)}", 400 <= exc.smtp_code < 500
        except smtplib.SMTPServerDisconnected as exc:
            text, transient = f"{where} disconnected: {exc}", True
        except ssl.SSLCertVerificationError as exc:
            text, transient = f"{where} TLS certificate rejected: {exc.verify_message}", False
        except smtplib.SMTPException as exc:  # e.g. STARTTLS or AUTH not offered: configuration
            text, transient = f"{where} failed: {exc}", False
        except OSError as exc:  # refused, unreachable, DNS, timeouts (TimeoutError is an OSError)
            text, transient = f"{where} unreachable: {type(exc).__name__}: {exc}", True
        else:
            if not refused:
                return
            # Some recipients got it: retrying would send them a duplicate, so give up.
            text, transient = f"{where} refused {refused}", False
        raise MailSendError(self._redact(text), transient=transient) from None

    def _connect(self) -> smtplib.SMTP:
        """An open session, encrypted before any credential or message is sent unless tls is "none"."""
        context = self._ssl_context or ssl.create_default_context()
        if self._tls == "implicit":
            return smtplib.SMTP_SSL(self._host, self._port, timeout=self._timeout, context=context)
        smtp = smtplib.SMTP(self._host, self._port, timeout=self._timeout)
        if self._tls == "starttls":
            try:
                smtp.starttls(context=context)
            except BaseException:
                smtp.close()
                raise
        return smtp

    def _redact(self, text: str) -> str:
        """Server replies are untrusted text; make sure the password cannot ride along in one."""
        return text.replace(self._password, "***") if self._password else text


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
