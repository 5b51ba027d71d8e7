"""Domain errors: what a use case refuses, in its own words. Only `shared.web` knows which HTTP status each one is."""

from __future__ import annotations


class DomainError(Exception):
    """A request the domain cannot honour; `code` is stable for machines, `message` is written for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class NotFoundError(DomainError):
    """The thing asked for does not exist (or is not the caller's to see)."""


class NotAuthenticatedError(DomainError):
    """The caller could not prove who it is (e.g. a webhook without a valid signature)."""


class NotPermittedError(DomainError):
    """The caller may not do this (e.g. the creator's plan has no bookings)."""


class ConflictError(DomainError):
    """The request clashes with the current state (slot taken, booking changed meanwhile)."""


class InvalidInputError(DomainError):
    """The input itself is wrong; resending it unchanged will fail again."""


class NotForUs(Exception):
    """A pushed message this worker has nothing to do with (no booking_id, another event type): acknowledged
    so Pub/Sub does not redeliver it, and otherwise ignored."""
