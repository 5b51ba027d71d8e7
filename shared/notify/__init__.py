"""Booking emails owed and sent exactly once: the notify worker, the reminder sweep and their ledger."""

from shared.notify.ledger import EMAILS, Delivery, EmailKey, EmailLedger
from shared.notify.reminders import tick
from shared.notify.settle import Notifier, Outcome
from shared.notify.wiring import notifier_for, smtp_sender

__all__ = [
    "EMAILS",
    "Delivery",
    "EmailKey",
    "EmailLedger",
    "Notifier",
    "Outcome",
    "notifier_for",
    "smtp_sender",
    "tick",
]
