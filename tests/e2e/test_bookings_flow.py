"""Issue 5 through the whole local stack: every row of the Zoom product tables, as a fan and a creator
see it, with the provider sandbox as Zoom and Google.

Each test has its own creator (and so its own Zoom and Google users in the sandbox). Sandbox faults and
settings are global, so the tests that set them undo them in a `finally`.
"""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.flo import Creator, Flo, event_start, eventually, parse_time

ZOOM_DELETE_FAILED = "We could not remove a Zoom meeting for a cancelled session"


# ---- helpers ---------------------------------------------------------------------------------------------


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def _setup(flo: Flo, *providers: str, price_cents: int = 0, timezone: str = "Europe/London") -> tuple[Creator, str]:
    creator = flo.creator(timezone=timezone)
    flo.connected(creator, *providers)
    return creator, flo.offer(creator, price_cents=price_cents)


def _book(flo: Flo, creator: Creator, offer: str, index: int = 0) -> dict[str, Any]:
    return flo.book(offer, flo.first_slot(creator, offer, index=index))


def _is_zoom(url: str | None) -> bool:
    return bool(url) and re.match(r"^https://([a-z0-9-]+\.)?zoom\.us/", str(url)) is not None


def _assert_one_live_meeting_per_confirmed_zoom_booking(flo: Flo, creator: Creator) -> None:
    """Exactly one live Zoom meeting per confirmed booking that shows a Zoom link, and no other."""

    def matches() -> tuple[list[str], list[str]] | None:
        bookings = flo.bookings(creator).values()
        wanted = sorted(b["meeting_url"] for b in bookings if b["status"] == "confirmed" and b["zoom_chip"])
        live = sorted(str(m["join_url"]) for m in flo.zoom_meetings(creator))
        return (wanted, live) if wanted == live else None

    try:
        eventually(matches, timeout=30, what="one live Zoom meeting per confirmed Zoom booking")
    except AssertionError:
        bookings = flo.bookings(creator).values()
        wanted = sorted(b["meeting_url"] for b in bookings if b["status"] == "confirmed" and b["zoom_chip"])
        assert sorted(str(m["join_url"]) for m in flo.zoom_meetings(creator)) == wanted
        raise


@pytest.fixture
def restore_sandbox(flo: Flo) -> Iterator[None]:
    """Faults and settings are global in the sandbox: put them back for the next test."""
    settings = flo.sandbox.settings()
    try:
        yield
    finally:
        flo.sandbox.clear_faults()
        kept = ("zoom_daily_write_limit", "google_meet_pending_seconds")
        flo.sandbox.settings(**{name: settings[name] for name in kept})


# ---- Zoom vs Google Meet ---------------------------------------------------------------------------------


def test_zoom_only_gives_a_zoom_link_in_the_creator_timezone_and_no_google_event(flo: Flo) -> None:
    """Rows: A fan confirms a session (scheduled Zoom meeting for that date, time and duration); creator
    timezone used in Zoom; Zoom only -> Zoom link, no Google event; Dashboard Zoom chip."""
    creator, offer = _setup(flo, "zoom", timezone="America/New_York")
    made = _book(flo, creator, offer)
    assert made["status"] == "confirmed"

    booking = flo.settled(creator, made["booking_id"])

    assert booking["status"] == "confirmed"
    assert booking["link_status"] == "ready"
    assert _is_zoom(booking["meeting_url"]), booking
    assert booking["video_provider"] == "zoom"
    assert booking["zoom_chip"] is True
    assert booking["join_available"] is True
    [meeting] = flo.zoom_meetings(creator)
    assert meeting["join_url"] == booking["meeting_url"]
    assert _instant(meeting["start_time"]) == parse_time(booking["start"]).astimezone(UTC)
    assert meeting["duration"] == 30
    assert meeting["timezone"] == "America/New_York"
    assert meeting["type"] == 2  # a scheduled meeting, not a webinar or recurring one
    assert flo.google_events(creator) == []
    assert not [c for c in flo.sandbox.calls("google") if c.get("user") == creator.email.lower()]


def test_google_only_gives_a_meet_link_and_a_calendar_event(flo: Flo) -> None:
    """Rows: Google Calendar only -> Google Meet, calendar event yes; Only Google connected -> no Zoom."""
    creator, offer = _setup(flo, "google")
    made = _book(flo, creator, offer)

    booking = flo.settled(creator, made["booking_id"])

    assert booking["status"] == "confirmed"
    assert booking["link_status"] == "ready"
    assert str(booking["meeting_url"]).startswith("https://meet.google.com/")
    assert booking["video_provider"] == "google_meet"
    assert booking["zoom_chip"] is False
    assert booking["join_available"] is True
    [event] = flo.google_events(creator)
    assert event["hangoutLink"] == booking["meeting_url"]
    assert event_start(event) == parse_time(booking["start"]).astimezone(UTC)
    assert flo.zoom_meetings(creator) == []


def test_zoom_and_google_give_a_zoom_link_inside_the_google_event_and_no_meet(flo: Flo) -> None:
    """Row: Zoom + Google Calendar -> Zoom takes priority; the Google event uses the Zoom link, not Meet."""
    creator, offer = _setup(flo, "zoom", "google")
    made = _book(flo, creator, offer)

    booking = flo.settled(creator, made["booking_id"])

    assert booking["video_provider"] == "zoom"
    assert _is_zoom(booking["meeting_url"])
    assert booking["zoom_chip"] is True
    url = booking["meeting_url"]
    [event] = eventually(lambda: flo.google_events(creator), what="the Google event")
    event = eventually(
        lambda: e if (e := flo.google_events(creator)[0]).get("location") == url else None,
        what="the Google event carrying the Zoom link",
    )
    assert url in event.get("description", "")
    assert "hangoutLink" not in event
    assert "conferenceData" not in event
    assert event_start(event) == parse_time(booking["start"]).astimezone(UTC)
    [meeting] = flo.zoom_meetings(creator)
    assert meeting["join_url"] == url


def test_neither_connected_confirms_with_no_link(flo: Flo) -> None:
    """Rows: Zoom not connected -> booking confirms, no auto Zoom link; No video link at all."""
    creator, offer = _setup(flo)
    made = _book(flo, creator, offer)
    assert made["status"] == "confirmed"

    booking = flo.settled(creator, made["booking_id"])

    assert booking["status"] == "confirmed"
    assert booking["link_status"] == "unavailable"
    assert booking["meeting_url"] is None
    assert booking["video_provider"] is None
    assert booking["zoom_chip"] is False
    assert booking["join_available"] is False


def test_a_booking_request_sent_again_with_its_key_gets_one_booking_one_meeting_and_one_confirmation(
    flo: Flo,
) -> None:
    """The fan's answer was lost and the app sends the request again: the same booking comes back, not a 409."""
    creator, offer = _setup(flo, "zoom")
    start = flo.first_slot(creator, offer)
    request = {"offer_id": offer, "start": start, "fan": {"name": "Rae Retry", "email": "rae@example.com"}}
    headers = {"Idempotency-Key": uuid.uuid4().hex}

    first = flo.http.post("/api/public/bookings", json=request, headers=headers)
    again = flo.http.post("/api/public/bookings", json=request, headers=headers)

    assert first.status_code == again.status_code == 201, again.text
    assert again.json() == first.json()
    booking = flo.settled(creator, first.json()["booking_id"])
    assert list(flo.bookings(creator)) == [booking["id"]]
    assert len(flo.zoom_meetings(creator)) == 1
    eventually(lambda: len(flo.emails(booking["id"], "confirmation")) == 1 or None, timeout=30, what="the confirmation")
    reused = flo.http.post(
        "/api/public/bookings", json={**request, "start": flo.first_slot(creator, offer, index=1)}, headers=headers
    )
    assert reused.status_code == 409 and reused.json()["error"]["code"] == "idempotency_key_reused"


# ---- paid and free ---------------------------------------------------------------------------------------


def test_paid_booking_gets_its_zoom_meeting_only_once_payment_succeeds(flo: Flo) -> None:
    """Row: Paid and free sessions -> Zoom runs as soon as the booking is confirmed, including after payment."""
    creator, paid_offer = _setup(flo, "zoom", price_cents=5000)
    free_offer = flo.offer(creator, price_cents=0)
    paid = _book(flo, creator, paid_offer, index=0)
    assert paid["status"] == "pending_payment"
    # a free booking made after it settles: by then the paid booking's event has been handled too
    free = _book(flo, creator, free_offer, index=4)
    assert free["status"] == "confirmed"
    settled_free = flo.settled(creator, free["booking_id"])
    assert _is_zoom(settled_free["meeting_url"])

    waiting = flo.booking(creator, paid["booking_id"])
    assert waiting["status"] == "pending_payment"
    assert waiting["meeting_url"] is None
    assert waiting["join_available"] is False
    assert [m["join_url"] for m in flo.zoom_meetings(creator)] == [settled_free["meeting_url"]]

    r = flo.pay(paid["booking_id"])
    assert r.status_code == 202, r.text

    confirmed = eventually(
        lambda: b if (b := flo.booking(creator, paid["booking_id"]))["status"] == "confirmed" else None,
        what="the paid booking confirmed",
    )
    assert confirmed["status"] == "confirmed"
    booking = flo.settled(creator, paid["booking_id"])
    assert booking["link_status"] == "ready"
    assert _is_zoom(booking["meeting_url"])
    assert booking["meeting_url"] != settled_free["meeting_url"]
    _assert_one_live_meeting_per_confirmed_zoom_booking(flo, creator)
    assert len(flo.zoom_meetings(creator)) == 2


def test_a_repeated_payment_confirmation_makes_no_second_meeting(flo: Flo) -> None:
    creator, offer = _setup(flo, "zoom", price_cents=1500)
    paid = _book(flo, creator, offer)

    assert flo.pay(paid["booking_id"]).status_code == 202
    first = flo.settled(creator, paid["booking_id"])
    assert flo.pay(paid["booking_id"]).status_code == 202
    # a later booking settles after the repeated confirmation was delivered
    flo.settled(creator, _book(flo, creator, flo.offer(creator), index=3)["booking_id"])

    assert flo.booking(creator, paid["booking_id"])["meeting_url"] == first["meeting_url"]
    _assert_one_live_meeting_per_confirmed_zoom_booking(flo, creator)
    assert len(flo.zoom_meetings(creator)) == 2


# ---- reschedule and cancel -------------------------------------------------------------------------------


def test_fan_reschedule_replaces_the_zoom_meeting_and_moves_the_google_event(flo: Flo) -> None:
    """Row: Fan reschedules -> Flo removes the old Zoom meeting and creates a new one for the new time."""
    creator, offer = _setup(flo, "zoom", "google")
    made = _book(flo, creator, offer, index=0)
    before = flo.settled(creator, made["booking_id"])
    [old_meeting] = flo.zoom_meetings(creator)
    new_start = flo.first_slot(creator, offer, index=5)
    assert parse_time(new_start) != parse_time(before["start"])

    r = flo.reschedule(made, new_start)

    assert r.status_code == 200, r.text
    assert parse_time(r.json()["start"]) == parse_time(new_start)
    after = flo.settled(creator, made["booking_id"])
    assert after["status"] == "confirmed"
    assert after["link_status"] == "ready"
    assert _is_zoom(after["meeting_url"])
    assert after["meeting_url"] != before["meeting_url"]
    meetings = eventually(
        lambda: m if len(m := flo.zoom_meetings(creator)) == 1 and m[0]["id"] != old_meeting["id"] else None,
        what="only the new Zoom meeting live",
    )
    assert meetings[0]["join_url"] == after["meeting_url"]
    assert _instant(meetings[0]["start_time"]) == parse_time(new_start).astimezone(UTC)
    event = eventually(
        lambda: e if (e := flo.google_events(creator)) and e[0].get("location") == after["meeting_url"] else None,
        what="the Google event moved and carrying the new link",
    )
    assert len(event) == 1
    assert event_start(event[0]) == parse_time(new_start).astimezone(UTC)
    slot_starts = {parse_time(s) for s in flo.slot_starts(creator, offer, 16)}
    assert parse_time(before["start"]) in slot_starts  # the old time is free again
    assert parse_time(new_start) not in slot_starts


def test_fan_cancel_deletes_the_zoom_meeting_and_the_google_event_and_clears_the_link(flo: Flo) -> None:
    """Row: You or the fan cancels -> Flo deletes the Zoom meeting; the stored link is cleared."""
    creator, offer = _setup(flo, "zoom", "google")
    made = _book(flo, creator, offer)
    flo.settled(creator, made["booking_id"])
    eventually(lambda: flo.google_events(creator), what="the Google event")

    r = flo.fan_cancel(made)

    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled"
    assert r.json()["meeting_url"] is None
    eventually(lambda: flo.zoom_meetings(creator) == [], what="the Zoom meeting deleted")
    eventually(lambda: flo.google_events(creator) == [], what="the Google event deleted")
    booking = flo.booking(creator, made["booking_id"])
    assert booking["status"] == "cancelled"
    assert booking["meeting_url"] is None
    assert booking["join_available"] is False
    assert booking["zoom_chip"] is False
    assert flo.notices(creator) == []


def test_creator_cancel_deletes_the_zoom_meeting_and_the_google_event(flo: Flo) -> None:
    creator, offer = _setup(flo, "zoom", "google")
    made = _book(flo, creator, offer)
    flo.settled(creator, made["booking_id"])
    eventually(lambda: flo.google_events(creator), what="the Google event")
    stranger = flo.creator()
    assert flo.creator_cancel(stranger, made["booking_id"]).status_code == 404

    r = flo.creator_cancel(creator, made["booking_id"])

    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled"
    assert r.json()["meeting_url"] is None
    eventually(lambda: flo.zoom_meetings(creator) == [], what="the Zoom meeting deleted")
    eventually(lambda: flo.google_events(creator) == [], what="the Google event deleted")
    assert flo.booking(creator, made["booking_id"])["meeting_url"] is None
    assert flo.notices(creator) == []


def test_cancel_with_zoom_access_revoked_leaves_a_notice_naming_the_meeting(flo: Flo) -> None:
    """Row: Extra meeting in Zoom after cancel -> the dashboard notice with the meeting ID; the cancel holds."""
    creator, offer = _setup(flo, "zoom")
    made = _book(flo, creator, offer)
    flo.settled(creator, made["booking_id"])
    [meeting] = flo.zoom_meetings(creator)
    flo.sandbox.revoke("zoom", creator.email)
    flo.sandbox.expire_access_tokens("zoom")

    r = flo.creator_cancel(creator, made["booking_id"])

    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled"
    [notice] = eventually(lambda: flo.notices(creator), what="the zoom_delete_failed notice")
    assert notice["kind"] == "zoom_delete_failed"
    assert notice["booking_id"] == made["booking_id"]
    assert notice["meeting_id"] == str(meeting["id"])
    assert notice["message"] == ZOOM_DELETE_FAILED
    assert parse_time(notice["created_at"]).tzinfo is not None
    booking = flo.booking(creator, made["booking_id"])
    assert booking["status"] == "cancelled"
    assert booking["meeting_url"] is None
    assert [m["id"] for m in flo.zoom_meetings(creator)] == [meeting["id"]]  # left behind, as the notice says
    assert flo.tile(creator, "zoom")["status"] == "reconnect_required"

    r = flo.dismiss(creator, notice["id"])

    assert r.status_code == 200, r.text
    assert flo.notices(creator) == []
    assert flo.dismiss(flo.creator(), notice["id"]).status_code == 404


# ---- when Zoom does not run ------------------------------------------------------------------------------


@pytest.mark.usefixtures("restore_sandbox")
def test_zoom_over_its_daily_limit_falls_back_to_meet_when_google_is_connected(flo: Flo) -> None:
    """Rows: Zoom connected but create failed -> booking confirms, falls back to Meet if Google connected;
    Your Zoom plan limits (host limits still apply)."""
    creator, offer = _setup(flo, "zoom", "google")
    flo.sandbox.settings(zoom_daily_write_limit=0)

    made = _book(flo, creator, offer)
    booking = flo.settled(creator, made["booking_id"])

    assert booking["status"] == "confirmed"
    assert booking["link_status"] == "ready"
    assert booking["video_provider"] == "google_meet"
    assert str(booking["meeting_url"]).startswith("https://meet.google.com/")
    assert booking["zoom_chip"] is False
    assert flo.zoom_meetings(creator) == []
    [event] = flo.google_events(creator)
    assert event["hangoutLink"] == booking["meeting_url"]
    assert flo.tile(creator, "zoom")["status"] == "connected"  # a limit is not a broken connection
    calls = flo.sandbox.calls("zoom")
    limited = [c for c in calls if c["method"] == "POST" and c["status"] == 429 and c["user"] == creator.email]
    assert limited


@pytest.mark.usefixtures("restore_sandbox")
def test_zoom_over_its_daily_limit_without_google_confirms_with_no_link(flo: Flo) -> None:
    creator, offer = _setup(flo, "zoom")
    flo.sandbox.settings(zoom_daily_write_limit=0)

    made = _book(flo, creator, offer)
    booking = flo.settled(creator, made["booking_id"])

    assert booking["status"] == "confirmed"
    assert booking["link_status"] == "unavailable"
    assert booking["meeting_url"] is None
    assert flo.zoom_meetings(creator) == []


@pytest.mark.usefixtures("restore_sandbox")
def test_a_meet_google_is_still_making_is_waited_for_and_then_given(flo: Flo) -> None:
    """Google answers a new Meet as `pending` for a few seconds: the booking waits for the link (looking at the
    event again) instead of confirming with none."""
    creator, offer = _setup(flo, "google")
    flo.sandbox.settings(google_meet_pending_seconds=3)

    made = _book(flo, creator, offer)
    booking = flo.settled(creator, made["booking_id"])

    [event] = flo.google_events(creator)
    assert (booking["link_status"], booking["video_provider"]) == ("ready", "google_meet")
    assert booking["meeting_url"] == event["hangoutLink"]
    mine = [c for c in flo.sandbox.calls("google") if c["user"] == creator.email and "/events" in c["path"]]
    assert [c["method"] for c in mine].count("POST") == 1  # one insert, then reads of the event until the link
    assert [c["method"] for c in mine].count("GET") >= 1


USAGE_LIMITS = {
    "error": {
        "code": 403,
        "message": "Calendar usage limits exceeded.",
        "errors": [{"domain": "usageLimits", "reason": "quotaExceeded", "message": "Calendar usage limits exceeded."}],
    }
}


@pytest.mark.usefixtures("restore_sandbox")
def test_calendar_usage_limits_pause_the_creators_google_writes_and_the_creator_is_told(flo: Flo) -> None:
    creator, offer = _setup(flo, "google")
    flo.sandbox.add_fault("google", r"/events$", method="POST", status=403, body=USAGE_LIMITS, times=1)

    first = flo.settled(creator, _book(flo, creator, offer)["booking_id"])
    tried = [c for c in flo.sandbox.calls("google") if c["user"] == creator.email and "/events" in c["path"]]
    second = flo.settled(creator, _book(flo, creator, offer, index=1)["booking_id"])
    after = [c for c in flo.sandbox.calls("google") if c["user"] == creator.email and "/events" in c["path"]]

    assert (first["status"], first["link_status"]) == ("confirmed", "unavailable")
    assert (second["status"], second["link_status"]) == ("confirmed", "unavailable")
    assert after == tried  # paused: the second booking asked Google for nothing
    assert flo.google_events(creator) == []
    [notice] = [n for n in flo.notices(creator) if n["kind"] == "google_writes_paused"]
    assert "usage limits" in notice["message"]
    assert flo.tile(creator, "google")["status"] == "connected"  # a limit is not a broken connection


@pytest.mark.usefixtures("restore_sandbox")
def test_zoom_down_then_back_still_gets_the_zoom_link(flo: Flo) -> None:
    creator, offer = _setup(flo, "zoom")
    fault = flo.sandbox.add_fault("zoom", r"/users/me/meetings$", method="POST", status=503, times=2)

    made = _book(flo, creator, offer)
    booking = flo.settled(creator, made["booking_id"])

    assert booking["status"] == "confirmed"
    assert booking["link_status"] == "ready"
    assert booking["video_provider"] == "zoom"
    failed = [c for c in flo.sandbox.calls("zoom") if c.get("fault_id") == fault["id"]]
    assert len(failed) == 2, failed
    _assert_one_live_meeting_per_confirmed_zoom_booking(flo, creator)
    assert len(flo.zoom_meetings(creator)) == 1


@pytest.mark.usefixtures("restore_sandbox")
def test_a_provider_failure_never_loses_the_booking_and_the_slot_stays_safe(flo: Flo) -> None:
    """Row: Integration error during booking -> the fan's slot is safe; Flo does not undo the booking."""
    creator, offer = _setup(flo, "zoom", "google")
    flo.sandbox.add_fault("zoom", r"/meetings", status=500)
    flo.sandbox.add_fault("google", r"/calendars/.*/events", status=500)
    start = flo.first_slot(creator, offer)

    made = flo.book(offer, start)

    assert made["status"] == "confirmed"
    booking = flo.settled(creator, made["booking_id"], timeout=60)
    assert booking["status"] == "confirmed"
    assert booking["link_status"] == "unavailable"
    assert flo.zoom_meetings(creator) == []
    starts = {parse_time(s) for s in flo.slot_starts(creator, offer, 8)}
    assert parse_time(start) not in starts
    again = flo.http.post(
        "/api/public/bookings",
        json={"offer_id": offer, "start": start, "fan": {"name": "Second Fan", "email": "second@example.com"}},
    )
    assert again.status_code == 409, again.text
    r = flo.http.get(f"/api/manage/{flo.manage_token(made)}")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "confirmed"


def test_deauthorized_zoom_keeps_existing_links_and_new_bookings_get_none(flo: Flo) -> None:
    """Row: Reconnect required -> Flo cannot create meetings until fixed; existing bookings keep their links."""
    creator, offer = _setup(flo, "zoom")
    first = flo.settled(creator, _book(flo, creator, offer, index=0)["booking_id"])
    flo.sandbox.send_zoom_deauthorization(
        url=flo.stack.base_url + "/webhooks/zoom", secret=flo.stack.zoom_webhook_secret, user=creator.email
    )
    assert flo.tile(creator, "zoom")["status"] == "reconnect_required"

    second = flo.settled(creator, _book(flo, creator, offer, index=3)["booking_id"])

    assert second["status"] == "confirmed"
    assert second["link_status"] == "unavailable"
    kept = flo.booking(creator, first["id"])
    assert kept["meeting_url"] == first["meeting_url"]
    assert kept["zoom_chip"] is True


def test_many_bookings_changes_keep_exactly_one_live_meeting_per_confirmed_booking(flo: Flo) -> None:
    creator, offer = _setup(flo, "zoom")
    starts = flo.slot_starts(creator, offer, 8)
    made = [flo.book(offer, start) for start in starts[:4]]
    for booking in made:
        flo.settled(creator, booking["booking_id"])

    assert flo.fan_cancel(made[0]).status_code == 200
    assert flo.creator_cancel(creator, made[1]["booking_id"]).status_code == 200
    assert flo.reschedule(made[2], starts[6]).status_code == 200
    flo.settled(creator, made[2]["booking_id"])

    _assert_one_live_meeting_per_confirmed_zoom_booking(flo, creator)
    assert len(flo.zoom_meetings(creator)) == 2


# ---- what fans and the creator receive -------------------------------------------------------------------


def _join_links(message: EmailMessage) -> list[tuple[str, str]]:
    body = message.get_body(("html",))
    assert body is not None
    content = body.get_content()
    return [
        (html.unescape(href), re.sub(r"<[^>]+>", "", text).strip())
        for href, text in re.findall(r'<a[^>]*href="([^"]+)"[^>]*>(.*?)</a>', content, re.S)
    ]


def _ics(message: EmailMessage) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/calendar":
            content = part.get_content()
            text = content.decode() if isinstance(content, bytes) else str(content)
            return re.sub(r"\r?\n[ \t]", "", text)  # unfold folded lines
    raise AssertionError("no text/calendar part")


def test_fan_emails_carry_the_zoom_join_button_and_the_ics_description(flo: Flo) -> None:
    """Rows: Emails & reminders (Join with your Zoom link); Confirmation email (fan); Calendar file (ICS)."""
    creator, offer = _setup(flo, "zoom")
    made = _book(flo, creator, offer)
    booking = flo.settled(creator, made["booking_id"])
    url = booking["meeting_url"]
    fan = made["fan"]["email"]

    def fan_mail_with_link() -> EmailMessage | None:
        for message in flo.emails(made["booking_id"]):
            wanted_kind = message["X-Flo-Email-Kind"] in ("confirmation", "link_ready")
            if fan in str(message["To"]) and wanted_kind and any(href == url for href, _ in _join_links(message)):
                return message
        return None

    message = eventually(fan_mail_with_link, timeout=40, what="a fan email with the Zoom link")
    [(_, text)] = [(href, text) for href, text in _join_links(message) if href == url]
    assert "zoom" in text.lower()
    ics = _ics(message)
    description = next(line for line in ics.splitlines() if line.startswith("DESCRIPTION"))
    assert url.replace(",", "\\,").replace(";", "\\;") in description or url in description
    creator_mail = eventually(
        lambda: [m for m in flo.emails(made["booking_id"], "creator_notification")],
        timeout=40,
        what="the creator's booking notification",
    )
    assert creator.email in str(creator_mail[0]["To"])


def _fan_emails(flo: Flo, booking_id: str, fan: str, *kinds: str) -> list[EmailMessage]:
    return [m for m in flo.emails(booking_id) if fan in str(m["To"]) and m["X-Flo-Email-Kind"] in kinds]


def test_reschedule_and_cancel_emails_carry_the_new_link_then_a_cancellation(flo: Flo) -> None:
    """Rows: Reschedules (updated emails with the new time and link); Cancellations (ICS METHOD:CANCEL)."""
    creator, offer = _setup(flo, "zoom")
    made = _book(flo, creator, offer, index=0)
    fan = made["fan"]["email"]
    flo.settled(creator, made["booking_id"])
    assert flo.reschedule(made, flo.first_slot(creator, offer, index=2)).status_code == 200
    after = flo.settled(creator, made["booking_id"])
    new_url = after["meeting_url"]

    updated = eventually(
        lambda: [
            m
            for m in _fan_emails(flo, made["booking_id"], fan, "rescheduled", "link_ready")
            if any(href == new_url for href, _ in _join_links(m))
        ],
        timeout=40,
        what="a fan email with the new time's Zoom link",
    )
    assert new_url in _ics(updated[0])
    assert flo.fan_cancel(made).status_code == 200

    [cancelled] = eventually(
        lambda: _fan_emails(flo, made["booking_id"], fan, "cancelled"), timeout=40, what="the fan's cancellation"
    )
    assert "METHOD:CANCEL" in _ics(cancelled)
    assert not [href for href, _ in _join_links(cancelled) if _is_zoom(href)]
    uids = {line for m in flo.emails(made["booking_id"]) for line in _ics(m).splitlines() if line.startswith("UID")}
    assert len(uids) == 1  # one calendar entry for the booking's whole life


def _zone_before_22h() -> str:
    """A timezone where it is not late evening now, so a slot in the next hour exists today."""
    for zone in ("UTC", "Asia/Tokyo", "America/New_York", "Pacific/Auckland"):
        if datetime.now(ZoneInfo(zone)).hour < 22:
            return zone
    raise AssertionError("no timezone before 22:00")


def test_a_reminder_inside_the_last_hour_repeats_the_zoom_link(flo: Flo) -> None:
    """Rows: Reminders (booking reminders repeat the link when it exists before the reminder sends)."""
    zone = _zone_before_22h()
    creator = flo.creator(
        timezone=zone, hours={d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    )
    flo.connected(creator, "zoom")
    offer = flo.offer(creator)
    today = datetime.now(ZoneInfo(zone)).date()
    # the second slot today starts 30-60 minutes from now: its 1-hour reminder is due at once
    start = str(flo.slots(creator, offer, today, today)["slots"][1]["start"])
    fan_email = f"fan-{uuid.uuid4().hex[:8]}@example.com"
    # The fan's mailbox refuses mail until the link exists: the reminder, which never overtakes the
    # confirmation, then cannot go out before the link, however slow the meetings worker is.
    flo.hold_mail(fan_email)
    try:
        made = flo.book(offer, start, fan_email=fan_email)
        booking = flo.settled(creator, made["booking_id"])
    finally:
        flo.release_mail(fan_email)

    reminders = eventually(
        lambda: _fan_emails(flo, made["booking_id"], fan_email, "reminder"),
        timeout=40,
        what="the fan's 1-hour reminder",
    )

    assert len(reminders) == 1
    links = [href for href, _ in _join_links(reminders[0]) if href.startswith("https://") and "manage" not in href]
    assert links == [booking["meeting_url"]]
    assert booking["meeting_url"] in _ics(reminders[0])
