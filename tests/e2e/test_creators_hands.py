"""Issue 14 through the whole local stack, over HTTP, the mail sink and the provider sandbox: the link a creator
sets by hand (Flo's own Zoom meeting replaced, one it did not make never deleted, the Google event carrying the
creator's link, a reschedule keeping it) and the creator's test booking (run for real, then cleaned up)."""

from __future__ import annotations

from email import message_from_string, policy
from email.message import EmailMessage

from icalendar import Calendar

from tests.e2e.flo import Flo, eventually

OWN_ZOOM = "https://zoom.us/j/86400000001?pwd=own"


def _mails(flo: Flo, booking_id: str, kind: str) -> list[EmailMessage]:
    return [m for m in _all_mails(flo, booking_id) if m["X-Flo-Email-Kind"] == kind]


def _event(message: EmailMessage) -> Calendar:
    [part] = [p for p in message.iter_attachments() if p.get_content_type() == "text/calendar"]
    return next(c for c in Calendar.from_ical(part.get_content()).walk() if c.name == "VEVENT")


def test_a_link_set_by_hand_reaches_the_fan_replaces_flos_meeting_and_survives_a_reschedule(flo: Flo) -> None:
    creator = flo.creator()
    flo.connected(creator, "zoom", "google")
    offer = flo.offer(creator)
    first, later = flo.slot_starts(creator, offer, 2)
    made = flo.book(offer, first)
    booking_id = made["booking_id"]
    flos_url = flo.settled(creator, booking_id)["meeting_url"]
    assert flo.meeting_for(creator, flos_url) is not None
    [confirmation] = eventually(lambda: _mails(flo, booking_id, "confirmation") or None, what="confirmation")

    r = flo.http.put(f"/api/bookings/{booking_id}/link", json={"url": OWN_ZOOM}, headers=flo.auth(creator))
    assert r.status_code == 200, r.text
    assert (r.json()["meeting_url"], r.json()["zoom_chip"], r.json()["link_status"]) == (OWN_ZOOM, True, "ready")

    # The fan's link_ready carries the new link, in the Join button and in the invite (same UID, newer SEQUENCE).
    [ready] = eventually(lambda: _mails(flo, booking_id, "link_ready") or None, what="link_ready")
    assert ready["To"].addresses[0].addr_spec == made["fan"]["email"]
    assert OWN_ZOOM in str(_event(ready)["DESCRIPTION"])
    assert str(_event(ready)["UID"]) == str(_event(confirmation)["UID"])
    assert int(_event(ready)["SEQUENCE"]) > int(_event(confirmation)["SEQUENCE"])
    # Flo's own meeting is no longer used and goes; the Google event carries the creator's link instead.
    eventually(lambda: flo.meeting_for(creator, flos_url) is None or None, what="Flo's meeting deleted")
    eventually(
        lambda: any(OWN_ZOOM in (e.get("location") or "") for e in flo.google_events(creator)) or None,
        what="the Google event patched with the creator's link",
    )

    # A reschedule keeps the link and makes no meeting; a cancel deletes none Flo did not make.
    flo.sandbox.clear_calls()
    assert flo.reschedule(made, later).status_code == 200
    moved = eventually(lambda: _mails(flo, booking_id, "rescheduled") or None, what="rescheduled emails")
    assert all(OWN_ZOOM in str(_event(m)["DESCRIPTION"]) for m in moved)
    after = flo.booking(creator, booking_id)
    assert (after["meeting_url"], after["link_status"], after["start"]) == (OWN_ZOOM, "ready", later)
    assert flo.creator_cancel(creator, booking_id).status_code == 200
    eventually(lambda: _mails(flo, booking_id, "cancelled") or None, what="cancellation")
    eventually(lambda: not flo.google_events(creator) or None, what="the Google event deleted")
    zoom_calls = [(c["method"], c["path"]) for c in flo.sandbox.calls("zoom")]
    assert not [c for c in zoom_calls if c[0] in ("POST", "DELETE") and "/meetings" in c[1]], zoom_calls
    assert flo.notices(creator) == []


def test_a_test_booking_runs_the_real_path_to_the_creators_own_address_and_leaves_nothing_behind(flo: Flo) -> None:
    creator = flo.creator()
    flo.connected(creator, "zoom", "google")

    r = flo.http.post("/api/integrations/test-booking", headers=flo.auth(creator), timeout=120)

    assert r.status_code == 200, r.text
    report = r.json()
    assert {s["name"]: s["status"] for s in report["steps"]} == {
        "booked": "ok",
        "meeting": "ok",
        "calendar_event": "ok",
        "emails": "ok",
        "cleanup": "ok",
    }, report
    booking_id = report["booking_id"]
    sent = {m["X-Flo-Email-Kind"]: m["To"].addresses[0].addr_spec for m in _all_mails(flo, booking_id)}
    assert sent == {"confirmation": creator.email, "creator_notification": creator.email}
    assert flo.zoom_meetings(creator) == []
    assert flo.google_events(creator) == []
    assert booking_id not in {**flo.bookings(creator), **flo.bookings(creator, "past")}


def _all_mails(flo: Flo, booking_id: str) -> list[EmailMessage]:
    found = []
    for item in flo.mail.get("/messages").json():
        if item["headers"].get("X-Flo-Booking-Id") == booking_id:
            message = message_from_string(item["raw"], policy=policy.default)
            assert isinstance(message, EmailMessage)
            found.append(message)
    return found
