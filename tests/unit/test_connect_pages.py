"""Settings -> Integrations as a browser uses it: the banner after OAuth or a button says only our own words,
and the Disconnect and Remove forms disconnect the creator's own provider, only with this browser's CSRF value."""

from __future__ import annotations

import re

import pytest
from werkzeug.test import TestResponse

from services.connect.app import FAILED, SETTINGS_PATH
from shared.bookings.model import CREATORS
from shared.pages.kit import SESSION_COOKIE
from shared.store.port import put
from tests.unit.test_connect_harness import BASE_URL, CREATOR, Harness, settings_query


@pytest.fixture
def h() -> Harness:
    harness = Harness()
    settings_query(harness.connect("zoom"))
    settings_query(harness.connect("google"))
    harness.client.set_cookie(SESSION_COOKIE, harness.auth.issue(CREATOR))
    return harness


def banner(response: TestResponse) -> tuple[str, str] | None:
    """(kind, text) of the page's message, or None when it shows none."""
    assert response.status_code == 200, response.get_data(as_text=True)
    found = re.search(
        r'<p class="alert ([a-z]*)" role="[a-z]+" id="message">([^<]*)</p>', response.get_data(as_text=True)
    )
    return (found.group(1), found.group(2)) if found else None


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        ("connected=zoom", ("success", "Zoom is connected.")),
        ("connected=google", ("success", "Google Calendar is connected.")),
        ("connected=evil", None),
        (f"error={FAILED} (denied)", ("error", f"{FAILED} (denied)")),
        ("error=Your account is locked, call 555", ("error", FAILED)),
        (f"error={FAILED}{'x' * (299 - len(FAILED))}", ("error", f"{FAILED}{'x' * (299 - len(FAILED))}")),
        (f"error={FAILED}{'x' * (300 - len(FAILED))}", ("error", FAILED)),
        (
            "done=disconnected&provider=google",
            ("success", "Google Calendar is disconnected. New bookings will not use it."),
        ),
        ("done=removed&provider=zoom", ("success", "The broken Zoom connection is removed. You can connect it again.")),
        ("done=disconnected&provider=evil", None),
        ("done=hacked&provider=zoom", None),
        ("", None),
    ],
)
def test_the_banner_says_only_our_own_words_whatever_the_query(
    h: Harness, query: str, shown: tuple[str, str] | None
) -> None:
    assert banner(h.client.get(f"{SETTINGS_PATH}?{query}")) == shown


def test_the_page_shows_the_creators_own_connections_in_their_zone_under_the_dashboard_nav(h: Harness) -> None:
    h.store.commit([put(CREATORS, CREATOR, {"timezone": "Asia/Tokyo", "plan": "pro", "name": "Uma"})])

    page = h.client.get(SETTINGS_PATH).get_data(as_text=True)

    assert '<a href="/dashboard/settings/integrations" aria-current="page">Settings → Integrations</a>' in page
    assert page.count("<strong>Connected</strong>") == 2 and "host@zoom.example" in page
    assert re.search(r"Connected on [^<]+ JST \(Asia/Tokyo\)</p>", page)


def csrf(h: Harness) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', h.client.get(SETTINGS_PATH).get_data(as_text=True))
    assert found
    return found.group(1)


@pytest.mark.parametrize(("button", "done"), [("disconnect", "disconnected"), ("remove", "removed")])
def test_disconnect_and_remove_disconnect_that_provider_and_say_so(h: Harness, button: str, done: str) -> None:
    value = csrf(h)
    pressed = h.client.post(f"{SETTINGS_PATH}/zoom/{button}", data={"csrf": value}, headers={"Origin": BASE_URL})
    assert pressed.status_code == 303
    assert pressed.headers["Location"].endswith(f"{SETTINGS_PATH}?done={done}&provider=zoom")
    tiles = h.tiles()
    assert (tiles["zoom"]["status"], tiles["google"]["status"]) == ("not_connected", "connected")


def test_a_disconnect_without_this_browsers_csrf_value_changes_nothing(h: Harness) -> None:
    assert h.client.post(f"{SETTINGS_PATH}/zoom/disconnect", data={"csrf": "guessed"}).status_code == 403
    assert h.tiles()["zoom"]["status"] == "connected"


def test_a_form_for_an_integration_that_does_not_exist_is_a_page_naming_the_ones_that_do(h: Harness) -> None:
    pressed = h.client.post(f"{SETTINGS_PATH}/teams/disconnect", data={"csrf": csrf(h)}, headers={"Origin": BASE_URL})
    assert pressed.status_code == 404
    assert "There is no integration called &#39;teams&#39;; use zoom or google." in pressed.get_data(as_text=True)
    assert h.tiles()["zoom"]["status"] == "connected"
