"""The pages' shared machinery with fakes: times for people, escaping, CSRF, security headers, the session
cookie (dev tokens locally, Identity Platform ID tokens signed by a key made here), and log redaction."""

from __future__ import annotations

import json
import logging
import re
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
from jinja2 import UndefinedError
from werkzeug.test import Client, TestResponse

from services.bookings.pages import page_routes
from shared.auth import CreatorAuth, DevTokenAuth, IdentityPlatformAuth
from shared.bookings.model import BOOKINGS, CREATORS
from shared.logs import JsonFormatter
from shared.pages.kit import CSRF_COOKIE, SESSION_COOKIE, PageError, PageKit, _environment, static_routes
from shared.pages.signin import sign_in_routes
from shared.pages.times import clock, long_day, short_day, span, when, zone_label, zone_or
from shared.store.port import put
from shared.web import WebApp
from tests.oidc_tokens import KEY_ID, key_and_cert, sign
from tests.unit.test_bookings_harness import BASE_URL, Creator, Harness, at

PROJECT = "flo-prod"


def _app(h: Harness, auth: CreatorAuth | None = None, local: bool = True) -> Client:
    kit = PageKit(base_url=BASE_URL, local=local, auth=auth or DevTokenAuth(h.store), clock=h.clock)
    routes = [*page_routes(kit, h.uses), *sign_in_routes(kit, {}), *static_routes(kit)]
    return Client(WebApp("bookings", routes))


def _sign_in(client: Client, creator: Creator) -> TestResponse:
    return client.get("/dev/sign-in?" + urlencode({"token": creator.token, "next": "/dashboard/bookings"}))


def _csrf(client: Client, path: str) -> str:
    """Open a page as a browser would; the CSRF value its forms carry."""
    page = client.get(path)
    assert page.status_code == 200, page.get_data(as_text=True)
    found = re.search(r'name="csrf" value="([^"]+)"', page.get_data(as_text=True))
    assert found
    return found.group(1)


def _booked(h: Harness, fan_name: str = "Frankie") -> tuple[Creator, str, str]:
    """(creator, booking id, manage token) of a confirmed free booking on Monday 09:00 UTC."""
    creator = h.creator()
    offer_id = h.offer(creator)
    made = h.client.post(
        "/api/public/bookings",
        json={"offer_id": offer_id, "start": at(9), "fan": {"name": fan_name, "email": "fan@example.com"}},
    )
    assert made.status_code == 201, made.get_data(as_text=True)
    body = made.get_json()
    return creator, body["booking_id"], body["manage_url"].rsplit("/", 1)[-1]


# ---- times for people ----------------------------------------------------------------------------------------


def test_times_say_their_zone_the_way_people_write_them() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    moment = datetime(2026, 12, 8, 13, 0, tzinfo=UTC)
    assert when(moment, berlin) == "Tue 8 Dec 2026, 14:00 CET (Europe/Berlin)"
    assert span(moment, datetime(2026, 12, 8, 13, 30, tzinfo=UTC), berlin) == (
        "Tue 8 Dec 2026, 14:00\u201314:30 CET (Europe/Berlin)"
    )
    assert when(datetime(2026, 7, 1, 12, 0, tzinfo=UTC), berlin) == "Wed 1 Jul 2026, 14:00 CEST (Europe/Berlin)"
    tokyo_morning, tokyo = datetime(2026, 12, 8, 20, 0, tzinfo=UTC), ZoneInfo("Asia/Tokyo")
    assert when(tokyo_morning, tokyo) == "Wed 9 Dec 2026, 05:00 JST (Asia/Tokyo)"  # the day in its own zone
    assert span(tokyo_morning, tokyo_morning + timedelta(minutes=30), tokyo) == (
        "Wed 9 Dec 2026, 05:00\u201305:30 JST (Asia/Tokyo)"
    )


@pytest.mark.parametrize("name", [None, "", "Mars/Olympus_Mons", "../../etc/passwd", "not a zone"])
def test_an_unknown_zone_from_a_query_falls_back(name: str | None) -> None:
    assert zone_or(name, "Asia/Tokyo").key == "Asia/Tokyo"
    assert zone_or(name, "Mars/Olympus_Mons").key == "UTC"  # and with no usable fallback either, UTC


# ---- what pages show -----------------------------------------------------------------------------------------


def test_the_dashboard_shows_fans_words_escaped_never_as_markup() -> None:
    h = Harness()
    creator, _, _ = _booked(h, fan_name='<script>alert("x")</script>')
    client = _app(h)
    assert _sign_in(client, creator).status_code == 303

    html = client.get("/dashboard/bookings").get_data(as_text=True)

    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "<script>alert" not in html


def test_the_page_templates_escape_markup_refuse_a_missing_name_and_see_the_time_helpers() -> None:
    """On a fresh template environment: the module builds its own once, at import, before any test runs."""
    env = _environment()
    moment = datetime(2026, 12, 8, 13, 0, tzinfo=UTC)
    berlin = ZoneInfo("Europe/Berlin")

    error = env.get_template("error.html.j2").render(
        title="<b>Gone</b>", message="m", csrf="c", csrf_field="csrf", local=True, request_path="/"
    )
    helpers = env.from_string(
        "{% if true %}\n{{ when(at, zone) }}|{{ span(at, at, zone) }}|{{ clock(at, zone) }}|"
        "{{ long_day(at.date()) }}|{{ short_day(at.date()) }}|{{ zone_label(zone, at) }}{% endif %}"
    ).render(at=moment, zone=berlin)

    assert "<h1>&lt;b&gt;Gone&lt;/b&gt;</h1>" in error
    with pytest.raises(UndefinedError):
        env.from_string("{{ nobody_passed_this }}").render()
    assert helpers == "|".join(
        [
            when(moment, berlin),
            span(moment, moment, berlin),
            clock(moment, berlin),
            long_day(moment.date()),
            short_day(moment.date()),
            zone_label(berlin, moment),
        ]
    )


def test_a_page_error_reads_as_its_message_in_a_log_or_trace() -> None:
    assert str(PageError(403, "This form has expired", "Open the page again.")) == "Open the page again."


def test_an_unknown_manage_link_is_a_friendly_html_404() -> None:
    response = _app(Harness()).get("/manage/no-such-token")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "We could not find this booking" in response.get_data(as_text=True)


def test_an_unknown_offer_and_a_creator_without_the_plan_get_pages_not_json() -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    client = _app(h)
    assert client.get(f"/book/{creator.creator_id}/nope").status_code == 404
    assert client.get(f"/book/someone-else/{offer_id}").status_code == 404
    h.store.commit(
        [put(CREATORS, creator.creator_id, {**(h.store.get(CREATORS, creator.creator_id) or {}), "plan": "free"})]
    )

    response = client.get(f"/book/{creator.creator_id}/{offer_id}")

    assert response.status_code == 403
    assert response.mimetype == "text/html"
    assert "not taking bookings" in response.get_data(as_text=True)


def test_a_started_session_is_not_the_fans_to_move_or_cancel_on_the_pages_either() -> None:
    h = Harness()
    _, booking_id, token = _booked(h)
    client = _app(h)
    reschedule_csrf = _csrf(client, f"/manage/{token}/reschedule")
    cancel_csrf = _csrf(client, f"/manage/{token}/cancel")
    h.clock.advance(timedelta(hours=1, minutes=5))  # the 09:00 session has started
    moved = client.post(f"/manage/{token}/reschedule", data={"csrf": reschedule_csrf, "start": at(10, day=3)})
    assert moved.status_code == 409
    assert "The session has started" in moved.get_data(as_text=True)
    cancelled = client.post(f"/manage/{token}/cancel", data={"csrf": cancel_csrf})
    assert cancelled.status_code == 409
    assert "ask the creator to cancel it" in cancelled.get_data(as_text=True)
    assert h.doc(booking_id)["status"] == "confirmed"


def test_every_page_answer_carries_the_security_headers() -> None:
    h = Harness()
    _, _, token = _booked(h)
    response = _app(h).get(f"/manage/{token}")
    assert response.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "style-src 'self';" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert csp == (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "frame-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"
    assert "<script" not in response.get_data(as_text=True).replace(
        '<script src="/assets/pages.js" defer></script>', ""
    )


def test_a_page_may_allow_named_scripts_apis_frames_and_consent_pages_and_nothing_else() -> None:
    h = Harness()
    kit = PageKit(BASE_URL, True, DevTokenAuth(h.store), h.clock, form_origins=("https://zoom.us", "https://g.example"))

    csp = kit.csp(
        scripts=("https://s1", "https://s2"), connect=("https://a1", "https://a2"), frames=("https://f1", "https://f2")
    )

    assert csp == (
        "default-src 'none'; script-src 'self' https://s1 https://s2; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self' https://a1 https://a2; frame-src https://f1 https://f2; "
        "form-action 'self' https://zoom.us https://g.example; frame-ancestors 'none'; base-uri 'none'"
    )


# ---- forms ---------------------------------------------------------------------------------------------------


def test_a_form_without_this_browsers_csrf_value_or_from_another_site_changes_nothing() -> None:
    h = Harness()
    _, booking_id, token = _booked(h)
    client = _app(h)
    value = _csrf(client, f"/manage/{token}/cancel")

    assert client.post(f"/manage/{token}/cancel", data={}).status_code == 403
    assert client.post(f"/manage/{token}/cancel", data={"csrf": "guessed"}).status_code == 403
    elsewhere = client.post(f"/manage/{token}/cancel", data={"csrf": value}, headers={"Origin": "https://evil.example"})
    assert elsewhere.status_code == 403
    assert (h.store.get(BOOKINGS, booking_id) or {})["status"] == "confirmed"

    done = client.post(f"/manage/{token}/cancel", data={"csrf": value}, headers={"Origin": BASE_URL})

    assert done.status_code == 303
    assert done.headers["Location"].startswith(f"/manage/{token}")
    assert (h.store.get(BOOKINGS, booking_id) or {})["status"] == "cancelled"


@pytest.mark.parametrize(
    ("form", "origin", "title"),
    [
        ({"csrf": "guessed"}, None, "This form has expired"),
        ({}, None, "This form has expired"),
        (None, "https://evil.example", "This form came from another site"),
    ],
)
def test_a_refused_form_says_why_and_what_to_do(form: dict[str, str] | None, origin: str | None, title: str) -> None:
    h = Harness()
    _, _, token = _booked(h)
    client = _app(h)
    value = _csrf(client, f"/manage/{token}/cancel")

    refused = client.post(
        f"/manage/{token}/cancel",
        data={"csrf": value} if form is None else form,
        headers={"Origin": origin or BASE_URL},
    )

    assert refused.status_code == 403
    page = refused.get_data(as_text=True)
    assert f"<h1>{title}</h1>" in page and "<p>Open the page again and send the form from it.</p>" in page


@pytest.mark.parametrize("local", [True, False])
def test_the_csrf_cookie_is_http_only_and_same_site_and_secure_outside_local(local: bool) -> None:
    response = _app(Harness(), local=local).get("/sign-in")
    cookie = response.headers["Set-Cookie"]
    attributes = set(cookie.split("; ")[1:])
    assert cookie.startswith(f"{CSRF_COOKIE}=")
    assert {"HttpOnly", "SameSite=Lax", "Path=/"} <= attributes
    assert ("Secure" in attributes) is not local


def test_each_browser_gets_its_own_random_csrf_value_and_keeps_it_from_page_to_page() -> None:
    h = Harness()
    _, _, token = _booked(h)
    browser, other = _app(h), _app(h)

    first = _csrf(browser, f"/manage/{token}/cancel")
    again = browser.get(f"/manage/{token}/cancel")

    assert re.search(f'name="csrf" value="{re.escape(first)}"', again.get_data(as_text=True))
    assert "Set-Cookie" not in again.headers  # the browser's cookie already holds it
    assert len(first) >= 43 and first != _csrf(other, f"/manage/{token}/cancel")


# ---- signing in ----------------------------------------------------------------------------------------------


def test_dev_sign_in_sets_the_session_cookie_and_only_follows_paths_on_this_site() -> None:
    h = Harness()
    creator = h.creator()
    client = _app(h)

    response = _sign_in(client, creator)

    assert response.status_code == 303 and response.headers["Location"] == "/dashboard/bookings"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # local runs on plain http
    assert client.get("/dashboard/bookings").status_code == 200
    elsewhere_here = client.get("/dev/sign-in?" + urlencode({"token": creator.token, "next": "/dashboard/settings/x"}))
    assert elsewhere_here.headers["Location"] == "/dashboard/settings/x"
    for target in ("//evil.example/x", "https://evil.example", "/\\evil.example"):
        away = client.get("/dev/sign-in?" + urlencode({"token": creator.token, "next": target}))
        assert away.headers["Location"] == "/dashboard/bookings", target
    assert client.get("/dev/sign-in?token=wrong").status_code == 401


def test_the_local_sign_in_page_explains_the_local_stack_and_loads_no_identity_script() -> None:
    page = _app(Harness()).get("/sign-in").get_data(as_text=True)
    assert "This is the local stack." in page and "/assets/sign-in.js" not in page


def test_creator_pages_send_a_browser_without_a_session_to_sign_in() -> None:
    response = _app(Harness()).get("/dashboard/bookings?week=2026-03-02")
    assert response.status_code == 303
    assert response.headers["Location"] == "/sign-in?next=/dashboard/bookings%3Fweek%3D2026-03-02"


@pytest.fixture(scope="module")
def identity_key() -> tuple[bytes, str]:
    return key_and_cert()


def _id_token(private_pem: bytes, **overrides: object) -> str:
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": f"https://securetoken.google.com/{PROJECT}",
        "aud": PROJECT,
        "sub": "creator-uid-1",
        "auth_time": now - 60,
        "iat": now - 60,
        "exp": now + 3600,
    }
    claims.update(overrides)
    return sign(private_pem, claims)


def test_production_sign_in_verifies_the_identity_platform_id_token_and_keeps_it_in_a_secure_cookie(
    identity_key: tuple[bytes, str],
) -> None:
    private_pem, cert = identity_key
    h = Harness()
    h.store.commit([put(CREATORS, "creator-uid-1", {"timezone": "Europe/Berlin", "plan": "pro", "name": "Uma"})])
    client = _app(h, IdentityPlatformAuth(PROJECT, certs=lambda: {KEY_ID: cert}), local=False)
    page = client.get("/sign-in?next=/dashboard/bookings")
    assert page.status_code == 200
    csp = page.headers["Content-Security-Policy"]
    assert "https://www.gstatic.com" in csp  # Identity Platform's own script, on this page only
    assert "/assets/sign-in.js" in page.get_data(as_text=True)
    value = _csrf(client, "/sign-in")

    response = client.post(
        "/sign-in", data={"csrf": value, "id_token": _id_token(private_pem), "next": "/dashboard/bookings"}
    )

    assert response.status_code == 303 and response.headers["Location"] == "/dashboard/bookings"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=") and "Secure" in cookie and "HttpOnly" in cookie
    dashboard = client.get("/dashboard/bookings")
    assert dashboard.status_code == 200
    assert "CET (Europe/Berlin)" in dashboard.get_data(as_text=True)
    assert "https://www.gstatic.com" not in dashboard.headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    "overrides",
    [
        {"aud": "another-project"},
        {"iss": "https://securetoken.google.com/another-project"},
        {"iss": "https://accounts.google.com"},
        {"sub": ""},
        {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200},
    ],
)
def test_production_sign_in_refuses_tokens_for_others_or_expired(
    identity_key: tuple[bytes, str], overrides: dict[str, object]
) -> None:
    private_pem, cert = identity_key
    client = _app(Harness(), IdentityPlatformAuth(PROJECT, certs=lambda: {KEY_ID: cert}), local=False)
    value = _csrf(client, "/sign-in")

    response = client.post("/sign-in", data={"csrf": value, "id_token": _id_token(private_pem, **overrides)})

    assert response.status_code == 401
    assert SESSION_COOKIE not in response.headers.get("Set-Cookie", "")


def test_an_expired_session_cookie_goes_back_to_sign_in_and_a_foreign_key_is_refused(
    identity_key: tuple[bytes, str],
) -> None:
    private_pem, cert = identity_key
    other_pem, _ = key_and_cert()
    auth = IdentityPlatformAuth(PROJECT, certs=lambda: {KEY_ID: cert})
    client = _app(Harness(), auth, local=False)
    expired = _id_token(private_pem, exp=int(time.time()) - 60, iat=int(time.time()) - 3660)
    client.set_cookie(SESSION_COOKIE, expired, domain="localhost")
    assert client.get("/dashboard/bookings").headers["Location"].startswith("/sign-in?next=")
    client.set_cookie(SESSION_COOKIE, _id_token(other_pem), domain="localhost")
    assert client.get("/dashboard/bookings").headers["Location"].startswith("/sign-in?next=")
    assert auth.verify(_id_token(private_pem)) == "creator-uid-1"  # the API's Bearer check is the same one


# ---- logs ----------------------------------------------------------------------------------------------------


def test_a_manage_token_in_a_logged_path_is_redacted() -> None:
    token = "Zq9_manage-token-of-a-fan-AbC123"
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "unhandled error", None, None)
    record.path = f"/api/manage/{token}/cancel"
    record.detail = f"GET /manage/{token}?tz=Europe%2FBerlin"

    line = JsonFormatter("bookings").format(record)

    assert token not in line
    entry = json.loads(line)
    assert entry["path"] == "/api/manage/[redacted]/cancel"
    assert entry["detail"] == "GET /manage/[redacted]?tz=Europe%2FBerlin"


def test_sign_out_clears_the_session_and_says_so() -> None:
    h = Harness()
    client = _app(h)
    _sign_in(client, h.creator())
    value = _csrf(client, "/dashboard/bookings")

    response = client.post("/sign-out", data={"csrf": value})

    assert response.status_code == 303
    assert f"{SESSION_COOKIE}=;" in response.headers["Set-Cookie"]
    assert client.get("/dashboard/bookings").status_code == 303
    assert "You are signed out." in client.get(response.headers["Location"]).get_data(as_text=True)


@pytest.mark.parametrize("local", [True, False])
def test_sign_out_clears_the_cookie_sign_in_set_with_the_same_attributes(local: bool) -> None:
    """A browser replaces a cookie only when path and flags match: a clearing cookie of another path or
    without Secure would leave the session in place."""
    client = _app(Harness(), local=local)
    client.get("/sign-in")
    value = client.get_cookie(CSRF_COOKIE)

    assert value is not None
    cleared = client.post("/sign-out", data={"csrf": value.value}).headers["Set-Cookie"]

    attributes = set(cleared.split("; ")[1:])
    assert cleared.startswith(f"{SESSION_COOKIE}=;")
    assert {"Path=/", "HttpOnly", "SameSite=Lax"} <= attributes
    assert ("Secure" in attributes) is not local


@pytest.mark.parametrize("query", ["week=0001-01-01", "week=9999-12-31", "week=garbage", "week="])
def test_any_calendar_week_in_the_query_gives_a_page(query: str) -> None:
    h = Harness()
    client = _app(h)
    _sign_in(client, h.creator())
    assert client.get(f"/dashboard/bookings?{query}").status_code == 200


@pytest.mark.parametrize("first", ["0001-01-01", "9999-12-31", "2026-02-01", "nonsense"])
def test_any_from_date_in_the_query_gives_the_booking_page(first: str) -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    response = _app(h).get(f"/book/{creator.creator_id}/{offer_id}?from={first}")
    assert response.status_code == 200
    assert "Monday 2 March 2026" in response.get_data(as_text=True)  # back to today's first free day


def test_every_template_stylesheet_and_script_ships_in_the_package() -> None:
    """Images install the project with pip: a page file the package data leaves out is a 404 or a 500 in production."""
    import tomllib
    from fnmatch import fnmatch
    from pathlib import Path

    import shared.pages

    root = Path(shared.pages.__file__).parent
    patterns = tomllib.loads((root.parents[1] / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][
        "*"
    ]
    files = [p for p in root.rglob("*") if p.is_file() and p.suffix != ".py" and "__pycache__" not in p.parts]
    assert {p.suffix for p in files} >= {".j2", ".css", ".js"}
    assert [p.name for p in files if not any(fnmatch(p.name, pattern) for pattern in patterns)] == []


def test_the_dashboard_shows_the_newest_past_bookings_first_and_links_to_older_ones() -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    days = (2, 3, 4, 5, 6, 9, 10, 11, 12)
    made = [h.booked(offer_id, at(9 + i // 2, 30 * (i % 2), day=day))[0] for day in days for i in range(6)]
    h.clock.advance(timedelta(days=12))
    client = _app(h)
    _sign_in(client, creator)
    first = client.get("/dashboard/bookings").get_data(as_text=True)
    shown = re.findall(r'<li class="booking confirmed">.*?</li>', first, re.S)
    assert len(shown) == 50
    older = re.search(r'<a href="([^"]+)">Older bookings</a>', first)
    assert older, "a history longer than a page links to the older bookings"
    rest = client.get(older.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert len(re.findall(r'<li class="booking confirmed">', rest)) == len(made) - 50
    assert "Older bookings" not in rest
    past = rest[rest.index('id="past"') :]
    assert re.findall(r'<div class="booking-when"><strong>(.*?)</strong>', past) == [
        f"Mon 2 Mar 2026, {start}\N{EN DASH}{end} UTC (UTC)"
        for start, end in (("10:30", "11:00"), ("10:00", "10:30"), ("09:30", "10:00"), ("09:00", "09:30"))
    ], "the oldest bookings come last, newest first"
