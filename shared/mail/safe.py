"""What stored fan input may hold that a mail header or a zone lookup cannot, made harmless.

The door refuses such input now, but bookings stored before it did (and data fixed by hand) still
reach the emails: none of it may ever make a message impossible to render.
"""

from __future__ import annotations

import unicodedata
from email.headerregistry import Address
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_LINE_BREAKING = frozenset({"Cc", "Zl", "Zp"})
"""Control characters (CR, LF, NUL, ...) and line or paragraph separators."""


def one_line(text: str) -> str:
    """The text on one line: control characters become spaces and runs of whitespace one space."""
    spaced = "".join(" " if unicodedata.category(char) in _LINE_BREAKING else char for char in text)
    return " ".join(spaced.split())


def known_zone(name: str | None) -> ZoneInfo | None:
    """The zone by its IANA name, or None for a name this machine does not know (e.g. Mars/Olympus)."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def mailbox(name: str, addr_spec: str) -> Address:
    """A To address for any stored name and any address SMTP may carry, internationalized ones included.

    Built from its parts, so a non-ASCII local part (zoë@...) is kept for SMTPUTF8 instead of being
    refused; raises ValueError only for an address no server could take (no @, a line break in it).
    """
    username, at, domain = addr_spec.rpartition("@")
    if not at or not username or not domain:
        raise ValueError(f"not an email address: {addr_spec!r}")
    return Address(one_line(name), username=username, domain=domain)
