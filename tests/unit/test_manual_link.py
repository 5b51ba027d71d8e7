"""A link the creator sets by hand ("you would add a link manually in that case"): the route and its refusals,
the fan's link_ready with an updated ICS, Flo's own meeting replaced but never one it did not make, the
Google event carrying the creator's link, a reschedule keeping it, and the dashboard's form."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from werkzeug.test import Client

from services.bookings.pages import page_routes
from shared.auth import DevTokenAuth
from shared.pages.kit import PageKit
from shared.pages.signin import sign_in_routes
from shared.web import WebApp
from tests.unit.test_bookings_harness import BASE_URL, Harness, at, error_of
from tests.unit.test_meetings_harness import MeetingsHarness, local
from tests.unit.test_notify_harness import FAN, NotifyHarness

OWN_ZOOM = "https://zoom.us/j/5550001111?pwd=abc"
OWN_ROOM = "https://whereby.com/cee-room"


# ---- the route ------------------------------------------------------------------------------------------------


def test_the_creator_sets_a_link_and_the_booking_shows_it_with_its_chip() -> None:
    h = Harness()
    creator = h.creator()
    booking_id, _ = h.booked(h.offer(creator), at(9))
    before = h.doc(booking_id)

    response = h.client.put(f"/api/bookings/{booking_id}/link", json={"url": OWN_ZOOM}, headers=creator.headers)

    assert response.status_code == 200, response.get_data(as_text=True)
    view = response.get_json()
    assert (view["meeting_url"], view["video_provider"], view["zoom_chip"]) == (OWN_ZOOM, "zoom", True)
    assert (view["link_status"], view["join_available"]) == ("ready", True)
    doc = h.doc(booking_id)
    assert doc["revision"] == before["revision"] + 1
    assert (doc["change"], doc["link_manual"], doc["link_revision"]) == ("link_set", True, doc["revision"])
    assert h.events()[-1] == {"type": "booking.changed", "booking_id": booking_id, "revision": doc["revision"]}


@pytest.mark.parametrize(
    ("url", "provider"),
    [
        (OWN_ROOM, None),
        ("https://meet.google.com/abc-defg-hij", "google_meet"),
        ("https://meet.google.com.evil.test/", None),
    ],
)
def test_any_https_link_is_taken_without_a_chip_and_a_meet_link_is_named_meet(url: str, provider: str | None) -> None:
    h = Harness()
    creator = h.creator()
    booking_id, _ = h.booked(h.offer(creator), at(9))

    view = h.client.put(f"/api/bookings/{booking_id}/link", json={"url": url}, headers=creator.headers).get_json()

    assert (view["meeting_url"], view["video_provider"], view["zoom_chip"]) == (url, provider, False)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"url": ""},
        {"url": "http://zoom.us/j/1"},
        {"url": "javascript:alert(1)"},
        {"url": "https://user:secret@example.com/room"},
        {"url": "https://" + "a" * 2100 + ".com"},
        {"url": 5},
    ],
)
def test_a_link_that_is_not_a_plain_https_url_is_a_400(body: object) -> None:
    h = Harness()
    creator = h.creator()
    booking_id, _ = h.booked(h.offer(creator), at(9))

    response = h.client.put(f"/api/bookings/{booking_id}/link", json=body, headers=creator.headers)

    assert response.status_code == 400
    assert error_of(response)
    assert h.doc(booking_id).get("link_manual") is not True


def test_only_the_owner_may_set_a_link_and_only_on_an_upcoming_confirmed_booking() -> None:
    h = Harness()
    owner, other = h.creator(), h.creator()
    offer_id = h.offer(owner)
    booking_id, _ = h.booked(offer_id, at(9))
    cancelled_id, _ = h.booked(offer_id, at(10))
    assert h.client.post(f"/api/bookings/{cancelled_id}/cancel", headers=owner.headers).status_code == 200

    someone_else = h.client.put(f"/api/bookings/{booking_id}/link", json={"url": OWN_ROOM}, headers=other.headers)
    on_cancelled = h.client.put(f"/api/bookings/{cancelled_id}/link", json={"url": OWN_ROOM}, headers=owner.headers)
    h.clock.advance(timedelta(hours=3))
    ended = h.client.put(f"/api/bookings/{booking_id}/link", json={"url": OWN_ROOM}, headers=owner.headers)

    assert (someone_else.status_code, error_of(someone_else)["code"]) == (404, "booking_not_found")
    assert (on_cancelled.status_code, error_of(on_cancelled)["code"]) == (409, "not_linkable")
    assert (ended.status_code, error_of(ended)["code"]) == (409, "not_linkable")
    assert h.doc(booking_id).get("meeting_url") is None


# ---- the fan's email ----------------------------------------------------------------------------------------


def test_the_fan_gets_link_ready_with_the_new_link_and_an_updated_calendar_invite() -> None:
    h = NotifyHarness()
    booking_id = h.new_booking()
    h.settle_link(booking_id, "https://zoom.us/j/111")
    h.clock.advance(timedelta(minutes=5))
    h.booking_event(booking_id)
    [confirmation] = h.sent("confirmation")

    h.service.set_link(h.creator_id, booking_id, OWN_ROOM)
    h.booking_event(booking_id, times=2)  # a redelivery sends nothing twice

    [ready] = h.sent("link_ready")
    assert ready.to == FAN
    assert OWN_ROOM in ready.html and OWN_ROOM in ready.text
    assert OWN_ROOM in str(ready.event["DESCRIPTION"])
    assert str(ready.event["UID"]) == str(confirmation.event["UID"])
    assert int(ready.event["SEQUENCE"]) > int(confirmation.event["SEQUENCE"])
    assert [kind for kind, _ in h.kinds()].count("link_ready") == 1
    assert h.doc(booking_id).get("mail_due_at") is None


# ---- the meetings worker ------------------------------------------------------------------------------------


def test_a_link_set_by_hand_replaces_flos_own_meeting_and_goes_into_the_google_event() -> None:
    h = MeetingsHarness()
    h.connect("zoom", "google")
    booking_id = h.book(local(3, 10))
    made = h.settle(booking_id)
    [flos_meeting] = h.live_meetings()
    assert made["meeting_url"] == flos_meeting.join_url

    h.bookings.set_link(h.creator_id, booking_id, OWN_ROOM)
    doc = h.settle(booking_id)

    assert h.live_meetings() == []  # Flo's own meeting is no longer used: deleted
    assert (doc["meeting_url"], doc["video_provider"], doc["link_status"]) == (OWN_ROOM, None, "ready")
    assert doc.get("zoom") is None
    event = h.event_of(booking_id)
    assert event is not None
    assert event.location == OWN_ROOM
    assert OWN_ROOM in event.description
    assert event.hangout_link is None
    assert h.link_events()[-1] == {"type": "link.ready", "booking_id": booking_id, "revision": doc["revision"]}


def test_flo_never_deletes_a_meeting_it_did_not_make_and_a_reschedule_keeps_the_link() -> None:
    h = MeetingsHarness()
    h.connect("zoom")
    booking_id = h.book(local(3, 10))
    h.bookings.set_link(h.creator_id, booking_id, OWN_ZOOM)  # before the worker made one
    h.settle(booking_id)
    assert h.zoom.calls.count("create_meeting") == 0

    h.bookings.reschedule(booking_id, local(3, 14))
    moved = h.settle(booking_id)
    assert (moved["meeting_url"], moved["video_provider"], moved["link_status"]) == (OWN_ZOOM, "zoom", "ready")
    assert moved["link_revision"] == moved["revision"]
    assert h.zoom.calls.count("create_meeting") == 0

    h.bookings.cancel(booking_id, by="creator")
    h.settle(booking_id)
    assert "delete_meeting" not in h.zoom.calls
    assert h.notices() == []


# ---- the dashboard's form -----------------------------------------------------------------------------------


def test_the_dashboard_form_sets_the_link_only_with_this_browsers_csrf_value() -> None:
    h = Harness()
    creator = h.creator()
    booking_id, _ = h.booked(h.offer(creator), at(9))
    kit = PageKit(base_url=BASE_URL, local=True, auth=DevTokenAuth(h.store), clock=h.clock)
    client = Client(WebApp("bookings", [*page_routes(kit, h.uses), *sign_in_routes(kit, {})]))
    client.get("/dev/sign-in?" + urlencode({"token": creator.token, "next": "/dashboard/bookings"}))
    page = client.get("/dashboard/bookings").get_data(as_text=True)
    assert f'action="/dashboard/bookings/{booking_id}/link"' in page
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found

    forged = client.post(f"/dashboard/bookings/{booking_id}/link", data={"csrf": "guessed", "url": OWN_ROOM})
    assert forged.status_code == 403
    assert h.doc(booking_id).get("meeting_url") is None
    bad = client.post(f"/dashboard/bookings/{booking_id}/link", data={"csrf": found.group(1), "url": "http://x.com"})
    assert bad.status_code == 400
    assert "https://" in bad.get_data(as_text=True)

    done = client.post(f"/dashboard/bookings/{booking_id}/link", data={"csrf": found.group(1), "url": OWN_ROOM})

    assert done.status_code in (302, 303)
    assert done.headers["Location"].endswith("/dashboard/bookings?done=link_set")
    assert h.doc(booking_id)["meeting_url"] == OWN_ROOM
    shown = client.get("/dashboard/bookings?done=link_set").get_data(as_text=True)
    assert "The link is saved" in shown
    assert f'href="{OWN_ROOM}"' in shown
