"""What the mail tests share: one sample booking to vary per test, and reading a message's HTML links."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from email.message import EmailMessage
from html.parser import HTMLParser
from typing import Any

from shared.mail import EmailBooking

ZOOM_URL = "https://us02web.zoom.us/j/81234567890?pwd=abc"
SAMPLE = EmailBooking(
    booking_id="bk_123",
    revision=2,
    status="confirmed",
    offer_title="Portfolio review",
    duration_minutes=30,
    creator_name="Ana Creator",
    creator_email="ana@creator.test",
    creator_timezone="Europe/London",
    fan_name="Bob Fan",
    fan_email="bob@fan.test",
    fan_timezone="America/New_York",
    start=datetime(2026, 12, 1, 10, 0, tzinfo=UTC),
    end=datetime(2026, 12, 1, 10, 30, tzinfo=UTC),
    meeting_url=ZOOM_URL,
    video_provider="zoom",
    manage_url="https://flo.test/manage/tok_abc",
    link_pending=False,
)


def sample_booking(**changes: Any) -> EmailBooking:
    return dataclasses.replace(SAMPLE, **changes)


def wire_parts(message: EmailMessage) -> list[tuple[list[str], str, str | None]]:
    """Each part's header names, Content-Type and transfer encoding as written on the wire, case and all: the
    local mail sink and logs show the raw text, which quoted-printable keeps readable."""
    return [
        (part.keys(), str(part["Content-Type"]).split(";")[0], part["Content-Transfer-Encoding"])
        for part in message.walk()
    ]


def html_of(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None, "no HTML part"
    return str(part.get_content())


class _Anchors(HTMLParser):
    """Every <a href> with the text inside it, whitespace folded."""

    def __init__(self) -> None:
        super().__init__()
        self.anchors: list[tuple[str, str]] = []
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href") or ""
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.anchors.append((self._href, " ".join("".join(self._text).split())))
            self._href = None


def links(message: EmailMessage) -> list[tuple[str, str]]:
    """(href, text) of every link in the HTML part, in order."""
    parser = _Anchors()
    parser.feed(html_of(message))
    parser.close()
    return parser.anchors
