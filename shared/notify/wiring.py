"""Builds the Notifier from a service's runtime; called inside build_app, so importing opens no connection."""

from __future__ import annotations

from shared.bootstrap import Runtime
from shared.config import ConfigError
from shared.mail import SmtpSender
from shared.notify.settle import Notifier

SMTP_TIMEOUT_SECONDS = 20.0
"""Well inside the ledger's 60 s lease, so a slow send is never taken over by a second sender."""


def smtp_sender(runtime: Runtime) -> SmtpSender:
    """SMTP host and TLS mode from the environment; the password is the SMTP_PASSWORD secret, read like every
    other secret (Secret Manager in production, the environment locally) and only when a username is set."""
    settings = runtime.settings
    if not settings.smtp_host:
        raise ConfigError("SMTP_HOST must be set for services that send email")
    username = settings.smtp_username
    password = runtime.secret("SMTP_PASSWORD") if username else None
    return SmtpSender(
        settings.smtp_host,
        settings.smtp_port,
        username=username,
        password=password,
        tls=settings.smtp_tls,
        timeout=SMTP_TIMEOUT_SECONDS,
    )


def notifier_for(runtime: Runtime) -> Notifier:
    settings = runtime.settings
    return Notifier(
        runtime.store, runtime.clock, smtp_sender(runtime), runtime.manage_vault, settings.mail_from, settings.base_url
    )
