"""Sweeps go booking by booking: one that fails (bad data, a store hiccup) is logged and left for the next
tick, and never stops the ones after it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from shared.store.port import Contended

log = logging.getLogger(__name__)
T = TypeVar("T")


def guarded(key: str, step: Callable[[], T], what: str, *, subject: str = "booking") -> T | None:
    """The step's result, or None (logged with the step and the `subject` it was for, named by `key`) if it
    raised."""
    extra = {f"{subject}_id": key}
    try:
        return step()
    except Contended:
        log.warning("%s contended for a %s; the next tick tries again", what, subject, extra=extra)
        return None
    except Exception:
        log.exception("%s failed for a %s; the next tick tries again", what, subject, extra=extra)
        return None
