"""Booking emails: rendering (HTML, text, ICS) and delivery over SMTP."""

from shared.mail.ics import build_ics, ics_uid
from shared.mail.model import EmailBooking
from shared.mail.port import MailSender
from shared.mail.render import RECIPIENTS, EmailKind, Recipient, render
from shared.mail.smtp import MailSendError, SmtpSender

__all__ = [
    "RECIPIENTS",
    "EmailBooking",
    "EmailKind",
    "MailSendError",
    "MailSender",
    "Recipient",
    "SmtpSender",
    "build_ics",
    "ics_uid",
    "render",
]
