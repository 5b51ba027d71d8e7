"""The chaos run's invariant checks catch each kind of damage they are there for (no I/O: a made-up snapshot)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest

from shared.bookings.model import cell_ids
from shared.providers.google_calendar import event_id_for
from tests.chaos.checks import Figures, Snapshot, check, in_flight
from tests.chaos.stories import ChaosCreator, Story
from tests.e2e.flo import Creator

START = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)
ZOOM_URL = "https://us05web.zoom.us/j/111"


def _owner() -> ChaosCreator:
    creator = Creator("c1", "token", "casey@example.com", "UTC")
    return ChaosCreator(creator, "both", "free", "paid", date(2030, 1, 7))


def _booking(start: datetime = START, status: str = "confirmed", **extra: Any) -> dict[str, Any]:
    end = start + timedelta(minutes=30)
    return {
        "creator_id": "c1",
        "status": status,
        "start": start,
        "end": end,
        "revision": 1,
        "fan": {"email": "fan@example.com"},
        "cells": cell_ids("c1", start, end) if status == "confirmed" else [],
        "meeting_url": ZOOM_URL if status == "confirmed" else None,
        "link_status": "ready",
        **extra,
    }


def _mail(kind: str, to: str, booking_id: str = "b1", sequence: int = 1, link: str = ZOOM_URL) -> EmailMessage:
    message = EmailMessage()
    message["To"] = to
    message["X-Flo-Booking-Id"] = booking_id
    message["X-Flo-Email-Kind"] = kind
    message.set_content(f"Join Zoom meeting: {link}")
    message.add_attachment(f"BEGIN:VCALENDAR\r\nSEQUENCE:{sequence}\r\nEND:VCALENDAR\r\n", subtype="calendar")
    return message


def _sent(kind: str, recipient: str, booking_id: str = "b1", revision: int = 1) -> dict[str, Any]:
    return {
        "booking_id": booking_id,
        "kind": kind,
        "revision": revision,
        "recipient": recipient,
        "state": "sent",
        "link_included": True,
    }


def _healthy() -> tuple[Snapshot, list[Story], list[ChaosCreator]]:
    """One confirmed Zoom + Google booking with its meeting, its event and its two emails."""
    owner = _owner()
    story = Story(0, owner, "free", "keep", False, booking_id="b1", start=START.isoformat())
    story.status, story.last_change = "confirmed", "confirmed"
    booking = _booking()
    snap = Snapshot(
        bookings={"b1": booking},
        cells={cell: {"booking_id": "b1"} for cell in booking["cells"]},
        outbox=0,
        ledger={"1": _sent("confirmation", "fan"), "2": _sent("creator_notification", "creator")},
        notices=[],
        zoom_meetings={"casey@example.com": [{"id": 111, "join_url": ZOOM_URL, "start_time": "2030-01-07T09:00:00Z"}]},
        google_events={"casey@example.com": [{"id": event_id_for("b1")}]},
        mail=[_mail("confirmation", "Frankie <fan@example.com>"), _mail("creator_notification", "casey@example.com")],
        tiles={"c1": {"zoom": {"status": "connected"}, "google": {"status": "connected"}}},
    )
    return snap, [story], [owner]


def _broken(figures: Figures) -> set[str]:
    return {name for name, found in figures.failures.items() if found}


def test_a_healthy_snapshot_breaks_nothing() -> None:
    snap, stories, creators = _healthy()
    assert _broken(check(snap, stories, creators, settled=True)) == set()


def test_not_settling_is_a_failure() -> None:
    snap, stories, creators = _healthy()
    assert _broken(check(snap, stories, creators, settled=False)) == {"settled"}


def test_a_booking_cancelled_against_its_story_is_lost() -> None:
    snap, stories, creators = _healthy()
    snap.bookings["b1"] = _booking(status="cancelled", cancel_reason="payment_timeout")
    snap.cells, snap.zoom_meetings, snap.google_events = {}, {}, {}
    assert "lost_bookings" in _broken(check(snap, stories, creators, settled=True))


def test_overlapping_live_bookings_are_double_booked() -> None:
    snap, stories, creators = _healthy()
    snap.bookings["b2"] = _booking(START + timedelta(minutes=15), meeting_url=None, video_provider=None)
    figures = check(snap, stories, creators, settled=True)
    assert "double_booked_cells" in _broken(figures) and figures.counts["double_booked"] == 1


def test_a_second_meeting_or_one_left_behind_is_caught_unless_a_notice_names_it() -> None:
    snap, stories, creators = _healthy()
    snap.zoom_meetings["casey@example.com"].append({"id": 222, "agenda": "flo-booking b1 x", "join_url": "u2"})
    figures = check(snap, stories, creators, settled=True)
    assert "zoom_meetings" in _broken(figures) and figures.counts["zoom_meetings_extra"] == 1

    snap, stories, creators = _healthy()
    snap.bookings["b0"] = _booking(START - timedelta(hours=2), status="cancelled")
    snap.zoom_meetings["casey@example.com"].append({"id": 333, "agenda": "flo-booking b0 y", "join_url": "u3"})
    assert "zoom_meetings" in _broken(check(snap, stories, creators, settled=True))
    snap.notices.append({"kind": "zoom_delete_failed", "meeting_id": "333"})
    assert "zoom_meetings" not in _broken(check(snap, stories, creators, settled=True))


def test_an_event_of_a_cancelled_booking_is_an_orphan() -> None:
    snap, stories, creators = _healthy()
    snap.google_events["casey@example.com"].append({"id": event_id_for("gone")})
    assert _broken(check(snap, stories, creators, settled=True)) == {"orphan_google_events"}


@pytest.mark.parametrize("damage", ["twice", "missing", "not_in_ledger"])
def test_emails_must_go_exactly_once(damage: str) -> None:
    snap, stories, creators = _healthy()
    if damage == "twice":
        snap.mail.append(_mail("confirmation", "fan@example.com"))
    elif damage == "missing":
        snap.mail.pop(1)
    else:
        del snap.ledger["1"]
    assert _broken(check(snap, stories, creators, settled=True)) == {"emails_exactly_once"}


def test_a_copy_of_an_earlier_revision_whose_sender_was_killed_mid_send_is_not_a_failure() -> None:
    """Its booking moved on (the fan cancelled) while its sender died: it is in the sink once, the ledger says
    sending, and no revision owes it any more; the same in the sink without any ledger record still fails."""
    snap, stories, creators = _healthy()
    snap.mail.append(_mail("confirmation", "fan@example.com", sequence=0))
    snap.ledger["3"] = {**_sent("confirmation", "fan", revision=0), "state": "sending"}
    figures = check(snap, stories, creators, settled=True)
    assert _broken(figures) == set()
    assert figures.counts["emails_whose_sender_was_killed"] == 1
    del snap.ledger["3"]
    assert _broken(check(snap, stories, creators, settled=True)) == {"emails_exactly_once"}


def test_only_a_claim_still_live_keeps_the_run_from_settling() -> None:
    now = datetime.now(UTC)
    live = {**_sent("confirmation", "fan"), "state": "sending", "lease_until": now + timedelta(minutes=1)}
    lapsed = {**live, "lease_until": now - timedelta(minutes=1)}
    assert in_flight(live, now) and not in_flight(lapsed, now)
    assert not in_flight(_sent("confirmation", "fan"), now)


def test_a_link_changed_behind_the_fans_back_is_caught() -> None:
    snap, stories, creators = _healthy()
    snap.mail[0] = _mail("confirmation", "fan@example.com", link="https://meet.google.com/abc-defg-hij")
    assert _broken(check(snap, stories, creators, settled=True)) == {"fan_told_current_link"}


def test_a_connection_marked_reconnect_required_is_caught() -> None:
    snap, stories, creators = _healthy()
    snap.tiles["c1"]["zoom"]["status"] = "reconnect_required"
    assert _broken(check(snap, stories, creators, settled=True)) == {"false_reconnect_required"}
