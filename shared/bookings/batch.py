"""Sweeps go booking by booking: one that fails (bad data, a store hiccup) is logged and left for the next
tick, and never stops the ones after it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from shared.store.port import Contended

log = logging.getLogger(__name__)
T = TypeVar("T")


def guarded(booking_id: str, step: Callable[[], T], what: str) -> T | None:
    """The step's result, or None (logged with the booking and the step) if it raised."""
    try:
        return step()
    except Contended:
        log.warning("%s contended for a booking; the next tick tries again", what, extra={"booking_id": booking_id})
        return None
    except Exception:
        log.exception("%s failed for a booking; the next tick tries again", what, extra={"booking_id": booking_id})
        return None
