"""Builds the Notifier from a service's runtime; called inside build_app, so importing opens no connection."""

from __future__ import annotations

from shared.bootstrap import Runtime
from shared.config import ConfigError, Settings
from shared.logs import register_secret
from shared.mail import SmtpSender
from shared.notify.settle import Notifier

SMTP_TIMEOUT_SECONDS = 20.0
"""Well inside the ledger's 60 s lease, so a slow send is never taken over by a second sender."""


def smtp_sender(settings: Settings) -> SmtpSender:
    """SMTP from the environment; STARTTLS with credentials outside local (the mail sink speaks plain SMTP)."""
    if not settings.smtp_host:
        raise ConfigError("SMTP_HOST must be set for services that send email")
    password = settings.environ.get("SMTP_PASSWORD") or None
    if settings.smtp_username and not password:
        raise ConfigError("SMTP_PASSWORD must be set when SMTP_USERNAME is")
    register_secret(password)
    username = settings.smtp_username
    return SmtpSender(
        settings.smtp_host,
        settings.smtp_port,
        username=username,
        password=password if username else None,
        use_starttls=bool(username) and not settings.local,
        timeout=SMTP_TIMEOUT_SECONDS,
    )


def notifier_for(runtime: Runtime) -> Notifier:
    settings = runtime.settings
    return Notifier(
        runtime.store, runtime.clock, smtp_sender(settings), runtime.vault, settings.mail_from, settings.base_url
    )
