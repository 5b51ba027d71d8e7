"""Booking emails owed and sent exactly once: the notify worker, the reminder sweep and their ledger."""

from shared.notify.ledger import EMAILS, Delivered, Delivery, EmailKey, EmailLedger
from shared.notify.owed import Notifier, Outcome
from shared.notify.reminders import tick

__all__ = ["EMAILS", "Delivered", "Delivery", "EmailKey", "EmailLedger", "Notifier", "Outcome", "tick"]
