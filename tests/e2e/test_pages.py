"""The product page in a real browser (Debian's Chromium), through the whole local stack: the creator's
Settings -> Integrations and Dashboard -> Bookings, the fan's booking page and manage link. Each test
saves screenshots under .run/screenshots/ so a person can look at what a creator or fan sees."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from shared.pages.times import span
from tests.e2e.browser import DESKTOP, PHONE, ROOT, shot, signed_in, visitor
from tests.e2e.flo import Creator, Flo, StackInfo, eventually
from tests.mail_samples import links

FAILED = "Could not complete connection. Try again or reconnect from the provider."
ZOOM_DESCRIPTION = "Optional: use Zoom instead of Meet when both Zoom and Google Calendar are connected."
DELETE_FAILED = "We could not remove a Zoom meeting for a cancelled session"
EXTRA_MEETING = "You may have an extra meeting in Zoom. Check your Zoom app and delete it if needed."
INTEGRATIONS = "/dashboard/settings/integrations"
FANS_ZONE = re.compile(r"Times are in your timezone, E[SD]T \(America/New_York\)")
PEOPLE_TIME = re.compile(
    r"^[A-Z][a-z]{2} \d{1,2} [A-Z][a-z]{2} \d{4}, \d\d:\d\d\u2013\d\d:\d\d \S+ \([A-Za-z_]+/[A-Za-z_]+\)$"
)


@pytest.fixture(autouse=True)
def no_faults(flo: Flo) -> Iterator[None]:
    flo.sandbox.clear_faults()
    yield
    flo.sandbox.clear_faults()


def _creator(flo: Flo, *providers: str, timezone: str = "Europe/Berlin") -> tuple[Creator, str]:
    creator = flo.creator(timezone=timezone)
    flo.connected(creator, *providers)
    return creator, flo.offer(creator, duration=30, title="Coaching call")


def _consent(page: Page, email: str, decision: str = "Allow") -> None:
    """The sandbox's Zoom or Google consent page, as the creator fills it in."""
    expect(page.get_by_role("button", name="Allow")).to_be_visible()
    page.get_by_label("Sign in as").fill(email)
    page.get_by_role("button", name=decision).click()


def _join_href(page: Page | Locator, name: str) -> str:
    link = page.get_by_role("link", name=name).first
    expect(link).to_be_visible(timeout=45_000)
    href = link.get_attribute("href")
    assert href and href.startswith("https://"), href
    return href


def _fan_email_link(flo: Flo, booking_id: str, fan_email: str, text: str) -> str:
    def found() -> str | None:
        for message in flo.emails(booking_id, "confirmation"):
            if fan_email in str(message["To"]):
                return next((href for href, label in links(message) if label == text), None)
        return None

    return eventually(found, timeout=40, what="the fan's confirmation email")


# ---- Settings -> Integrations ------------------------------------------------------------------------------


def test_a_creator_connects_zoom_on_the_consent_page_and_sees_the_tile_change(flo: Flo, browser: Browser) -> None:
    creator = flo.creator(timezone="Europe/Berlin")
    page = signed_in(browser, flo.stack.base_url, creator, INTEGRATIONS)
    zoom, google = page.get_by_role("region", name="Zoom"), page.get_by_role("region", name="Google Calendar")
    expect(zoom).to_contain_text("Category: Video")
    expect(zoom).to_contain_text(ZOOM_DESCRIPTION)
    expect(google).to_contain_text("Category: Calendar")
    expect(google).to_contain_text("busy")
    expect(zoom).to_contain_text("Not connected")
    shot(page, "01-integrations-not-connected")

    for _ in range(12):  # keyboard users see where they are
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "Connect":
            break
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
    shot(page, "09-integrations-keyboard-focus")
    page.keyboard.press("Enter")
    _consent(page, creator.email)

    expect(page).to_have_url(re.compile(r"/dashboard/settings/integrations\?connected=zoom$"))
    expect(page.locator("#message")).to_have_text("Zoom is connected.")
    expect(zoom).to_contain_text("Connected")
    expect(zoom).to_contain_text(creator.email)
    expect(zoom.get_by_text(re.compile(r"^Connected on .+ \d\d:\d\d CES?T \(Europe/Berlin\)$"))).to_be_visible()
    configure = zoom.get_by_role("link", name="Configure")
    expect(configure).to_have_attribute("href", "https://zoom.us/profile")
    expect(configure).to_have_attribute("target", "_blank")
    expect(zoom.get_by_role("button", name="Disconnect")).to_be_visible()
    expect(google.get_by_role("button", name="Connect")).to_be_visible()
    assert flo.tile(creator, "zoom")["status"] == "connected"
    shot(page, "02-integrations-zoom-connected")
    page.set_viewport_size(PHONE)
    shot(page, "03-integrations-zoom-connected-phone")
    page.set_viewport_size(DESKTOP)

    zoom.get_by_role("button", name="Disconnect").click()

    expect(page.locator("#message")).to_have_text("Zoom is disconnected. New bookings will not use it.")
    expect(zoom.get_by_role("button", name="Connect")).to_be_visible()
    assert flo.tile(creator, "zoom")["status"] == "not_connected"


def test_denying_consent_shows_the_error_and_connects_nothing(flo: Flo, browser: Browser) -> None:
    creator = flo.creator()
    page = signed_in(browser, flo.stack.base_url, creator, INTEGRATIONS)

    page.get_by_role("region", name="Google Calendar").get_by_role("button", name="Connect").click()
    _consent(page, creator.email, "Deny")

    expect(page.locator("#message")).to_have_text(FAILED)
    expect(page.get_by_role("region", name="Google Calendar").get_by_role("button", name="Connect")).to_be_visible()
    assert flo.tile(creator, "google")["status"] == "not_connected"
    shot(page, "04-integrations-consent-denied")


def test_a_consent_finished_in_another_browser_is_refused(flo: Flo, browser: Browser) -> None:
    """A creator sends their authorize URL to someone else: that person's account must not be attached."""
    creator = flo.creator()
    page = signed_in(browser, flo.stack.base_url, creator, INTEGRATIONS)
    page.get_by_role("region", name="Zoom").get_by_role("button", name="Connect").click()
    expect(page.get_by_role("button", name="Allow")).to_be_visible()
    authorize_url = page.url

    stranger = visitor(browser, flo.stack.base_url).new_page()
    stranger.goto(authorize_url)
    with stranger.expect_response(lambda r: "/oauth/zoom/callback" in r.url) as callback:
        _consent(stranger, "someone-else@example.com")

    location = callback.value.headers["location"]
    assert parse_qs(urlsplit(location).query) == {"error": [FAILED]}
    assert flo.tile(creator, "zoom")["status"] == "not_connected"
    shot(stranger, "05-callback-in-another-browser-refused")

    _consent(page, creator.email)  # the creator's own browser can still finish
    expect(page.locator("#message")).to_have_text("Zoom is connected.")


def test_reconnect_required_shows_its_buttons_and_remove_connection_clears_it(
    flo: Flo, browser: Browser, stack: StackInfo
) -> None:
    creator = flo.creator()
    flo.connected(creator, "zoom")
    delivery = flo.sandbox.send_zoom_deauthorization(
        url=stack.base_url + "/webhooks/zoom", secret=stack.zoom_webhook_secret, user=creator.email
    )
    assert delivery["status"] == 200, delivery
    page = signed_in(browser, flo.stack.base_url, creator, INTEGRATIONS)
    zoom = page.get_by_role("region", name="Zoom")

    expect(zoom).to_contain_text("Reconnect required")
    expect(zoom).to_contain_text("Flo cannot create or delete meetings until you fix the connection.")
    expect(zoom.get_by_role("button", name="Reconnect")).to_be_visible()
    expect(zoom.get_by_role("link", name="Configure")).to_have_count(0)
    shot(page, "06-integrations-reconnect-required")

    zoom.get_by_role("button", name="Remove connection").click()

    expect(page.locator("#message")).to_have_text("The broken Zoom connection is removed. You can connect it again.")
    expect(zoom).to_contain_text("Not connected")
    expect(zoom.get_by_role("button", name="Connect")).to_be_visible()
    assert flo.tile(creator, "zoom")["status"] == "not_connected"
    shot(page, "07-integrations-connection-removed")


def test_reconnect_runs_the_connect_flow_again(flo: Flo, browser: Browser, stack: StackInfo) -> None:
    creator = flo.creator()
    flo.connected(creator, "zoom")
    flo.sandbox.send_zoom_deauthorization(
        url=stack.base_url + "/webhooks/zoom", secret=stack.zoom_webhook_secret, user=creator.email
    )
    page = signed_in(browser, flo.stack.base_url, creator, INTEGRATIONS)

    page.get_by_role("region", name="Zoom").get_by_role("button", name="Reconnect").click()
    _consent(page, creator.email)

    expect(page.locator("#message")).to_have_text("Zoom is connected.")
    assert flo.tile(creator, "zoom")["status"] == "connected"
    shot(page, "08-integrations-reconnected")


# ---- the fan: booking page and manage link -------------------------------------------------------------------


def _book_on_the_page(fan: Page, flo: Flo, creator: Creator, offer_id: str, fan_email: str) -> tuple[str, str]:
    """The fan picks the first free slot on the public page and confirms: (its start, the manage URL shown)."""
    fan.goto(f"/book/{creator.creator_id}/{offer_id}")

    expect(fan).to_have_url(re.compile(r"tz=America%2FNew_York"))  # the browser's zone, set by the page's script
    expect(fan.get_by_role("heading", name="Coaching call")).to_be_visible()
    expect(fan.locator(".offer-facts")).to_contain_text("30 minutes")
    expect(fan.locator(".offer-facts")).to_contain_text("Free")
    expect(fan.locator("#zone-note")).to_contain_text(FANS_ZONE)
    shot(fan, "10-book-page-phone")
    fan.get_by_role("link", name=re.compile("creator's timezone")).click()
    expect(fan.locator("#zone-note")).to_contain_text(re.compile(r"in the creator's timezone, CES?T \(Europe/Berlin\)"))
    fan.get_by_role("link", name=re.compile("your timezone")).click()
    expect(fan.locator("#zone-note")).to_contain_text(FANS_ZONE)

    first_slot = fan.get_by_role("radio").first
    start = first_slot.get_attribute("value")
    assert start
    first_slot.check()
    fan.get_by_label("Your name").fill("Frankie <b>Fan</b>")
    fan.get_by_label("Your email").fill(fan_email)
    fan.get_by_role("button", name="Confirm booking").click()

    expect(fan.get_by_role("heading", name="You're booked!")).to_be_visible()
    expect(fan.locator("#booked")).to_contain_text("What happens next")
    expect(fan.locator("#booked")).to_contain_text("video link comes by email")
    manage_url = fan.locator("#manage-link").inner_text()
    assert manage_url.startswith(flo.stack.base_url + "/manage/")
    when = fan.locator("#when").inner_text()
    assert PEOPLE_TIME.match(when), when
    begins = datetime.fromisoformat(start)
    assert when == span(begins, begins + timedelta(minutes=30), ZoneInfo("America/New_York"))
    shot(fan, "11-booking-confirmed-phone")
    return start, manage_url


def _reschedule_on_the_manage_page(
    fan: Page, flo: Flo, creator: Creator, booking_id: str, start: str, first_link: str
) -> None:
    """The fan moves the session to another free slot; the page shows the new time, then the new link."""
    fan.get_by_role("link", name="Reschedule").click()
    expect(fan.get_by_role("heading", name="Pick a new time")).to_be_visible()
    new_slot = fan.get_by_role("radio").nth(2)
    new_start = new_slot.get_attribute("value")
    assert new_start and new_start != start
    new_slot.check()
    shot(fan, "13-manage-reschedule-phone")
    fan.get_by_role("button", name="Move my session").click()

    expect(fan.get_by_role("status")).to_contain_text("Your session has moved to the new time.")
    moved = datetime.fromisoformat(new_start)
    expect(fan.locator("#when")).to_have_text(span(moved, moved + timedelta(minutes=30), ZoneInfo("America/New_York")))
    new_link = _join_href(fan, "Join on Zoom")  # appears by itself once the new meeting exists
    assert new_link != first_link
    assert new_link == flo.booking(creator, booking_id)["meeting_url"]
    shot(fan, "14-manage-rescheduled-new-link-phone")


def _cancel_on_the_manage_page(fan: Page, flo: Flo, creator: Creator, booking_id: str) -> None:
    """Cancel asks first; a cancelled booking says so and offers nothing else."""
    fan.get_by_role("link", name="Cancel").click()
    expect(fan.get_by_role("heading", name="Cancel your session?")).to_be_visible()
    shot(fan, "15-manage-cancel-confirm-phone")
    assert flo.booking(creator, booking_id)["status"] == "confirmed"  # nothing happens before the confirmation
    fan.get_by_role("button", name="Yes, cancel my session").click()

    expect(fan.locator("#cancelled-note")).to_have_text("This session was cancelled. Nothing else to do here.")
    expect(fan.get_by_role("link", name="Reschedule")).to_have_count(0)
    expect(fan.get_by_role("link", name="Cancel")).to_have_count(0)
    expect(fan.get_by_role("link", name=re.compile("^Join"))).to_have_count(0)
    assert flo.any_booking(creator, booking_id)["status"] == "cancelled"
    shot(fan, "16-manage-cancelled-phone")


def test_a_fan_books_opens_the_manage_link_from_the_email_joins_reschedules_and_cancels(
    flo: Flo, browser: Browser
) -> None:
    creator, offer_id = _creator(flo, "zoom")
    fan_email = f"fan-{offer_id}@example.com"
    fan = visitor(browser, flo.stack.base_url, "America/New_York").new_page()

    start, manage_url = _book_on_the_page(fan, flo, creator, offer_id, fan_email)

    [booking_id] = [b["id"] for b in flo.bookings(creator).values() if b["fan"]["email"] == fan_email]
    assert flo.booking(creator, booking_id)["fan"]["name"] == "Frankie <b>Fan</b>"  # kept, and shown escaped
    from_email = _fan_email_link(flo, booking_id, fan_email, "Manage your booking")
    assert from_email == manage_url
    fan.goto(from_email)
    first_link = _join_href(fan, "Join on Zoom")
    assert urlsplit(first_link).hostname and urlsplit(first_link).hostname.endswith("zoom.us")  # type: ignore[union-attr]
    assert first_link == flo.booking(creator, booking_id)["meeting_url"]
    shot(fan, "12-manage-join-on-zoom-phone")

    _reschedule_on_the_manage_page(fan, flo, creator, booking_id, start, first_link)
    _cancel_on_the_manage_page(fan, flo, creator, booking_id)

    token = manage_url.rsplit("/", 1)[-1]
    logged = [p.name for p in (ROOT / ".run" / "logs").glob("*.log") if token in p.read_text(errors="replace")]
    assert logged == [], f"the manage token is in {logged}"


def test_the_fan_pages_explain_instead_of_failing(flo: Flo, browser: Browser) -> None:
    creator, offer_id = _creator(flo)
    fan = visitor(browser, flo.stack.base_url).new_page()

    response = fan.goto(f"/book/{creator.creator_id}/no-such-offer")
    assert response is not None and response.status == 404
    expect(fan.get_by_role("heading", name="We could not find this booking page")).to_be_visible()
    shot(fan, "17-book-unknown-offer-phone")

    response = fan.goto("/manage/not-a-real-token")
    assert response is not None and response.status == 404
    expect(fan.get_by_role("heading", name="We could not find this booking")).to_be_visible()
    assert "{" not in fan.locator("main").inner_text()
    shot(fan, "18-manage-unknown-token-phone")

    fan.goto(f"/book/{creator.creator_id}/{offer_id}")
    slot = fan.get_by_role("radio").first
    start = slot.get_attribute("value")
    assert start
    slot.check()
    fan.get_by_label("Your name").fill("Second Fan")
    fan.get_by_label("Your email").fill("second-fan@example.com")
    flo.book(offer_id, start)  # someone else takes that time meanwhile
    fan.get_by_role("button", name="Confirm booking").click()

    expect(fan.locator("#form-error")).to_contain_text("that time is no longer free")
    expect(fan.get_by_label("Your email")).to_have_value("second-fan@example.com")
    expect(fan.locator(f'input[value="{start}"]')).to_have_count(0)
    shot(fan, "19-book-slot-taken-meanwhile-phone")


def test_a_creator_without_book_a_session_gets_a_clear_page(flo: Flo, browser: Browser, stack: StackInfo) -> None:
    creator, offer_id = _creator(flo)
    _set_plan(stack, creator.creator_id, "free")
    fan = visitor(browser, flo.stack.base_url).new_page()

    response = fan.goto(f"/book/{creator.creator_id}/{offer_id}")

    assert response is not None and response.status == 403
    expect(fan.get_by_role("heading", name="Bookings are not open here")).to_be_visible()
    shot(fan, "20-book-creator-without-plan-phone")


def _set_plan(stack: StackInfo, creator_id: str, plan: str) -> None:
    """A creator's plan changes in Flo's own systems, not through this API: written to the emulator directly."""
    from google.cloud import firestore

    host = stack.firestore_emulator
    assert host
    os.environ["FIRESTORE_EMULATOR_HOST"] = host
    try:
        firestore.Client(project="flo-local").collection("creators").document(creator_id).update({"plan": plan})
    finally:
        del os.environ["FIRESTORE_EMULATOR_HOST"]


def test_pages_carry_their_protections(flo: Flo, browser: Browser) -> None:
    creator, offer_id = _creator(flo)
    booking = flo.book(offer_id, flo.first_slot(creator, offer_id))
    manage_path = urlsplit(booking["manage_url"]).path

    page = response_page = visitor(browser, flo.stack.base_url).new_page()
    response = response_page.goto(manage_path)
    assert response is not None
    headers = response.headers
    assert headers["referrer-policy"] == "same-origin"  # no page URL (a manage token) ever goes to another site
    csp = headers["content-security-policy"]
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    [csrf] = [c for c in page.context.cookies() if c["name"] == "flo_csrf"]
    assert csrf["httpOnly"] and csrf["sameSite"] == "Lax"

    forged = httpx.post(flo.stack.base_url + manage_path + "/cancel", data={"csrf": "guess"})
    assert forged.status_code == 403
    from_elsewhere = httpx.post(
        flo.stack.base_url + manage_path + "/cancel",
        data={"csrf": csrf["value"]},
        cookies={"flo_csrf": csrf["value"]},
        headers={"Origin": "https://evil.example"},
    )
    assert from_elsewhere.status_code == 403
    assert flo.booking(creator, booking["booking_id"])["status"] == "confirmed"

    anonymous = visitor(browser, flo.stack.base_url).new_page()
    anonymous.goto("/dashboard/bookings")
    expect(anonymous).to_have_url(re.compile(r"/sign-in\?next=/dashboard/bookings$"))
    shot(anonymous, "30-sign-in-needed-phone")
    creator_page = signed_in(browser, flo.stack.base_url, creator)
    [session] = [c for c in creator_page.context.cookies() if c["name"] == "flo_session"]
    assert session["httpOnly"] and session["sameSite"] == "Lax"
    expect(creator_page.get_by_role("heading", name="Bookings", exact=True)).to_be_visible()


# ---- the creator: Dashboard -> Bookings ----------------------------------------------------------------------


def test_link_being_prepared_turns_into_join_meeting_without_a_reload(flo: Flo, browser: Browser) -> None:
    creator, offer_id = _creator(flo, "zoom")
    flo.sandbox.add_fault("zoom", r"/meetings$", method="POST", latency_seconds=6, times=1)
    made = flo.book(offer_id, flo.first_slot(creator, offer_id))
    page = signed_in(browser, flo.stack.base_url, creator)
    upcoming = page.locator("#upcoming")

    expect(upcoming.get_by_text("Link is being prepared…")).to_be_visible()
    shot(page, "21-dashboard-link-being-prepared")
    page.evaluate("window.flo_same_page = true")

    href = _join_href(upcoming, "Join meeting")

    assert page.evaluate("window.flo_same_page") is True  # no reload happened
    assert href == flo.booking(creator, made["booking_id"])["meeting_url"]
    expect(upcoming.locator(".chip.zoom")).to_have_text("Zoom")
    shot(page, "22-dashboard-link-ready-without-reload")


def test_the_creator_sees_the_zoom_chip_join_meeting_the_calendar_and_a_notice_after_a_failed_delete(
    flo: Flo, browser: Browser
) -> None:
    creator, offer_id = _creator(flo, "zoom")
    made = flo.book(offer_id, flo.first_slot(creator, offer_id))
    settled = flo.settled(creator, made["booking_id"])
    day = datetime.fromisoformat(settled["start"]).astimezone(ZoneInfo(creator.timezone)).date()
    page = signed_in(browser, flo.stack.base_url, creator, f"/dashboard/bookings?week={day.isoformat()}")

    upcoming = page.locator("#upcoming")
    expect(upcoming.locator(".chip.zoom")).to_have_text("Zoom")
    assert _join_href(upcoming, "Join meeting") == settled["meeting_url"]
    begins, ends = datetime.fromisoformat(settled["start"]), datetime.fromisoformat(settled["end"])
    expect(upcoming).to_contain_text(span(begins, ends, ZoneInfo("Europe/Berlin")))
    expect(page.locator(".zone-note")).to_contain_text("(Europe/Berlin)")
    calendar = page.locator(".calendar")
    expect(calendar.get_by_role("heading", name=re.compile("^Calendar: week of"))).to_be_visible()
    assert _join_href(calendar, "Join meeting") == settled["meeting_url"]
    expect(calendar.locator(".chip.zoom")).to_have_text("Zoom")
    shot(page, "23-dashboard-zoom-chip-join-calendar")
    page.set_viewport_size(PHONE)
    shot(page, "24-dashboard-phone")
    page.set_viewport_size(DESKTOP)

    meeting = flo.meeting_for(creator, settled["meeting_url"])
    assert meeting is not None
    flo.sandbox.revoke("zoom", creator.email)
    upcoming.get_by_role("link", name="Cancel").click()
    expect(page.get_by_role("heading", name="Cancel this booking?")).to_be_visible()
    page.get_by_role("button", name="Yes, cancel the booking").click()
    expect(page.get_by_role("status")).to_contain_text("The booking is cancelled.")
    eventually(lambda: flo.notices(creator), what="the zoom_delete_failed notice")
    page.reload()

    notice = page.get_by_role("region", name="Notices")
    expect(notice).to_contain_text(DELETE_FAILED)
    expect(notice).to_contain_text(EXTRA_MEETING)
    expect(notice).to_contain_text(f"Zoom meeting ID: {meeting['id']}")
    shot(page, "25-dashboard-notice-after-failed-delete")

    notice.get_by_role("button", name="Dismiss").click()

    expect(page.get_by_role("status")).to_have_text("Notice dismissed.")
    expect(page.get_by_role("region", name="Notices")).to_have_count(0)
    assert flo.notices(creator) == []
    shot(page, "26-dashboard-notice-dismissed")


def test_a_meet_link_shows_the_google_meet_chip(flo: Flo, browser: Browser) -> None:
    creator, offer_id = _creator(flo, "google")
    made = flo.book(offer_id, flo.first_slot(creator, offer_id))
    settled = flo.settled(creator, made["booking_id"])
    page = signed_in(browser, flo.stack.base_url, creator)

    upcoming = page.locator("#upcoming")
    expect(upcoming.locator(".chip.meet")).to_have_text("Google Meet")
    expect(upcoming.locator(".chip.zoom")).to_have_count(0)
    assert _join_href(upcoming, "Join meeting") == settled["meeting_url"]
    shot(page, "31-dashboard-google-meet-chip")


def test_the_demo_creator_of_make_run_lands_on_its_dashboard(stack: StackInfo, browser: Browser) -> None:
    printed = stack.log.read_text()
    assert f"creator dashboard       {stack.demo['dashboard_url']}" in printed
    assert stack.demo["booking_page_url"] in printed
    page = visitor(browser, stack.base_url, viewport=DESKTOP).new_page()
    page.goto(stack.demo["dashboard_url"])
    expect(page.get_by_role("heading", name="Bookings", exact=True)).to_be_visible()
    expect(page.locator(".zone-note")).to_contain_text("(Europe/Berlin)")
    shot(page, "27-demo-creator-dashboard")

    page.goto(stack.demo["booking_page_url"])
    expect(page.get_by_role("heading", name="Intro call")).to_be_visible()
    assert page.get_by_role("radio").count() > 0
    shot(page, "28-demo-booking-page-desktop")


def test_a_paid_session_is_awaiting_payment_on_the_confirmation_page_then_confirmed(flo: Flo, browser: Browser) -> None:
    creator = flo.creator(timezone="Europe/Berlin")
    flo.connected(creator, "zoom")
    offer_id = flo.offer(creator, duration=60, price_cents=4500, title="Deep dive")
    fan = visitor(browser, flo.stack.base_url).new_page()
    fan.goto(f"/book/{creator.creator_id}/{offer_id}")
    expect(fan.locator(".offer-facts")).to_contain_text("60 minutes")
    expect(fan.locator(".offer-facts")).to_contain_text("$45.00")
    fan.get_by_role("radio").first.check()
    fan.get_by_label("Your name").fill("Paying Fan")
    fan.get_by_label("Your email").fill("paying-fan@example.com")
    fan.get_by_role("button", name="Confirm booking").click()

    expect(fan.get_by_role("heading", name=re.compile("awaiting payment"))).to_be_visible()
    expect(fan.locator("#status")).to_have_text("Awaiting payment")
    expect(fan.get_by_role("link", name="Reschedule")).to_have_count(0)
    shot(fan, "29-paid-booking-awaiting-payment-phone")

    [booking_id] = [b["id"] for b in flo.bookings(creator).values() if b["fan"]["email"] == "paying-fan@example.com"]
    assert flo.pay(booking_id).status_code == 202
    eventually(lambda: flo.booking(creator, booking_id)["status"] == "confirmed", what="the payment confirmation")
    fan.reload()

    expect(fan.locator("#status")).to_have_text("Confirmed")
    _join_href(fan, "Join on Zoom")


def test_without_javascript_a_fan_books_in_the_creators_timezone(flo: Flo, browser: Browser) -> None:
    creator, offer_id = _creator(flo)
    fan = visitor(browser, flo.stack.base_url, java_script_enabled=False).new_page()

    fan.goto(f"/book/{creator.creator_id}/{offer_id}")

    assert "tz=" not in fan.url
    expect(fan.locator("#zone-note")).to_contain_text(re.compile(r"in the creator's timezone, CES?T \(Europe/Berlin\)"))
    slot = fan.get_by_role("radio").first
    start = slot.get_attribute("value")
    assert start
    slot.check()
    fan.get_by_label("Your name").fill("No Script")
    fan.get_by_label("Your email").fill("no-script@example.com")
    fan.get_by_role("button", name="Confirm booking").click()

    expect(fan.get_by_role("heading", name="You're booked!")).to_be_visible()
    begins = datetime.fromisoformat(start)
    expect(fan.locator("#when")).to_have_text(span(begins, begins + timedelta(minutes=30), ZoneInfo("Europe/Berlin")))
    shot(fan, "32-booked-without-javascript-phone")


def test_send_a_test_booking_shows_each_step_and_leaves_nothing_behind(flo: Flo, browser: Browser) -> None:
    creator, _ = _creator(flo, "zoom", "google")
    page = signed_in(browser, flo.stack.base_url, creator, "/dashboard/settings/integrations")

    page.get_by_role("button", name="Send a test booking").click()

    section = page.get_by_role("region", name="Test booking")
    expect(section.get_by_role("status")).to_have_text("The test booking went through.", timeout=60_000)
    steps = section.locator("li.step")
    assert steps.count() >= 3
    expect(section).to_contain_text("Zoom link made")
    shot(page, "33-integrations-test-booking-steps")
    page.set_viewport_size(PHONE)
    shot(page, "34-integrations-test-booking-phone")
    page.set_viewport_size(DESKTOP)
    assert flo.zoom_meetings(creator) == [] and flo.google_events(creator) == []  # cleaned up
    assert flo.bookings(creator) == {}  # a test booking is never listed


def test_a_creator_sets_a_link_by_hand_and_the_dashboard_shows_it(flo: Flo, browser: Browser) -> None:
    creator, offer_id = _creator(flo)  # nothing connected: the booking has no link
    made = flo.book(offer_id, flo.first_slot(creator, offer_id))
    assert flo.settled(creator, made["booking_id"])["link_status"] == "unavailable"
    page = signed_in(browser, flo.stack.base_url, creator)
    upcoming = page.locator("#upcoming")

    upcoming.get_by_label("Add a meeting link").fill("https://us02web.zoom.us/j/81234567890")
    upcoming.get_by_role("button", name="Save link").click()

    expect(page.get_by_role("status")).to_contain_text("The link is saved.")
    assert _join_href(page.locator("#upcoming"), "Join meeting") == "https://us02web.zoom.us/j/81234567890"
    expect(page.locator("#upcoming .chip.zoom")).to_have_text("Zoom")
    assert flo.booking(creator, made["booking_id"])["meeting_url"] == "https://us02web.zoom.us/j/81234567890"
    shot(page, "35-dashboard-link-set-by-hand")
