"""The bookings pages' handlers that mutation testing found untested in the unit tier (the e2e tier drives them
in a browser): a fan booking through the public page and each refusal it answers, the creator's cancel and
notice dismissal from the dashboard, the dashboard's live list, the manage page's banners, and the fan's
reschedule form's answers."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from werkzeug.test import Client, TestResponse

from shared.bookings.model import CREATORS
from shared.bookings.notices import NOTICES
from shared.providers.errors import ErrorKind, ProviderError
from shared.store.port import put
from tests.unit.test_bookings_harness import BASE_URL, Creator, Harness, at
from tests.unit.test_pages import _app, _booked, _csrf, _sign_in

BERLIN = "Europe/Berlin"


def _page(response: TestResponse) -> str:
    return response.get_data(as_text=True)


def _fan_books(
    h: Harness, client: Client, creator: Creator, offer_id: str, query: str = "", **form: str
) -> TestResponse:
    path = f"/book/{creator.creator_id}/{offer_id}{query}"
    csrf = _csrf(client, path)
    return client.post(path, data={"csrf": csrf, **form})


# ---- a fan books on the public page ---------------------------------------------------------------------------


def test_a_fan_books_on_the_page_and_lands_on_the_manage_page_in_their_own_zone() -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    client = _app(h)

    response = _fan_books(
        h, client, creator, offer_id, f"?tz={quote(BERLIN)}", name=" Ada ", email=" ada@example.com ", start=at(9)
    )

    assert response.status_code == 303
    found = re.fullmatch(r"/manage/([^?]+)\?tz=Europe%2FBerlin&booked=1", response.headers["Location"])
    assert found, response.headers["Location"]
    booking_id, booking = h.uses.bookings.by_manage_token(found.group(1))
    assert (booking.fan.name, booking.fan.email, booking.fan.timezone) == ("Ada", "ada@example.com", BERLIN)
    assert booking.start.isoformat() == at(9) and booking.status == "confirmed"
    assert h.doc(booking_id)["offer_id"] == offer_id

    manage = _page(client.get(response.headers["Location"]))
    assert 'id="booked"' in manage  # the "You're booked!" banner, only right after booking
    assert f'<a href="{BASE_URL}/manage/{found.group(1)}" id="manage-link">' in manage
    assert "10:00" in manage and "CET (Europe/Berlin)" in manage  # 09:00 UTC in the fan's zone
    assert 'id="booked"' not in _page(client.get(f"/manage/{found.group(1)}"))


def test_a_fan_booking_without_a_name_or_a_valid_email_or_a_time_is_told_which_and_keeps_what_they_typed() -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    client = _app(h)

    no_name = _fan_books(h, client, creator, offer_id, name=" ", email="ada@example.com", start=at(9))
    bad_email = _fan_books(h, client, creator, offer_id, name="Ada", email="not-an-email", start=at(9))
    no_time = _fan_books(h, client, creator, offer_id, name="Ada", email="ada@example.com")
    no_offset = _fan_books(h, client, creator, offer_id, name="Ada", email="ada@example.com", start="2026-03-02T09:00")

    assert (
        no_name.status_code == 400
        and '<p class="alert error" role="alert" id="form-error">Please enter your name.</p>' in _page(no_name)
    )
    assert 'value="ada@example.com"' in _page(no_name)
    assert bad_email.status_code == 400 and 'id="form-error">Please enter a valid email address.</p>' in _page(
        bad_email
    )
    assert 'value="Ada"' in _page(bad_email)
    for answer in (no_time, no_offset):
        assert answer.status_code == 400 and 'id="form-error">Please pick a time.</p>' in _page(answer)
        assert 'value="Ada"' in _page(answer) and 'value="ada@example.com"' in _page(answer)
    assert h.events() == []  # nothing was booked


def test_a_time_taken_meanwhile_is_a_409_that_asks_for_another_time() -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    client = _app(h)
    csrf = _csrf(client, f"/book/{creator.creator_id}/{offer_id}")
    h.booked(offer_id, at(9))  # another fan took 09:00 after this page was opened

    taken = client.post(
        f"/book/{creator.creator_id}/{offer_id}",
        data={"csrf": csrf, "name": "Ada", "email": "a@example.com", "start": at(9)},
    )

    assert taken.status_code == 409
    page = _page(taken)
    taken_text = "Sorry, that time is no longer free: someone may have just booked it. Please pick another time."
    assert f'id="form-error">{taken_text}</p>' in page
    assert f'value="{at(9)}" checked' not in page  # the taken time is not picked again
    assert 'value="Ada"' in page


def test_a_creator_who_stopped_taking_bookings_refuses_the_form_too() -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    client = _app(h)
    csrf = _csrf(client, f"/book/{creator.creator_id}/{offer_id}")
    doc = h.store.get(CREATORS, creator.creator_id) or {}
    h.store.commit([put(CREATORS, creator.creator_id, {**doc, "plan": "free"})])

    refused = client.post(
        f"/book/{creator.creator_id}/{offer_id}",
        data={"csrf": csrf, "name": "Ada", "email": "a@example.com", "start": at(9)},
    )

    assert refused.status_code == 403 and "not taking bookings" in _page(refused)
    assert h.events() == []


def test_the_booking_page_shows_the_offer_its_price_and_the_fans_zone() -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator, duration=45, price_cents=123450)
    client = _app(h)

    page = _page(client.get(f"/book/{creator.creator_id}/{offer_id}?tz={quote(BERLIN)}"))

    assert '<span id="price">$1,234.50</span>' in page
    assert "With Cee" in page
    assert f'action="/book/{creator.creator_id}/{offer_id}?tz=Europe%2FBerlin"' in page
    assert "Times are in your timezone" in page
    free = _page(client.get(f"/book/{creator.creator_id}/{h.offer(creator)}"))
    assert '<span id="price">Free</span>' in free
    assert "Times are in the creator&#39;s timezone" in free or "Times are in the creator's timezone" in free


# ---- the creator's dashboard ---------------------------------------------------------------------------------


def test_the_creator_confirms_and_cancels_a_booking_from_the_dashboard() -> None:
    h = Harness()
    creator, booking_id, _ = _booked(h)
    client = _app(h)
    assert _sign_in(client, creator).status_code == 303

    confirm = client.get(f"/dashboard/bookings/{booking_id}/cancel")
    assert confirm.status_code == 200 and "Frankie" in _page(confirm)
    assert f'action="/dashboard/bookings/{booking_id}/cancel"' in _page(confirm)
    assert '<a href="/dashboard/bookings" aria-current="page">' in _page(confirm)
    csrf = re.search(r'name="csrf" value="([^"]+)"', _page(confirm))
    assert csrf

    done = client.post(f"/dashboard/bookings/{booking_id}/cancel", data={"csrf": csrf.group(1)})

    assert (done.status_code, done.headers["Location"]) == (303, "/dashboard/bookings?done=cancelled")
    doc = h.doc(booking_id)
    assert (doc["status"], doc["cancelled_by"]) == ("cancelled", "creator")


def test_the_cancel_page_of_a_booking_not_the_creators_or_over_is_a_404() -> None:
    h = Harness()
    creator, booking_id, _ = _booked(h)
    other = h.creator()
    client = _app(h)

    assert _sign_in(client, other).status_code == 303
    assert client.get(f"/dashboard/bookings/{booking_id}/cancel").status_code == 404  # another creator's
    assert _sign_in(client, creator).status_code == 303
    assert client.get("/dashboard/bookings/no-such-booking/cancel").status_code == 404
    h.clock.advance(timedelta(hours=1, minutes=30))  # 09:30: the 09:00 session has just ended
    ended = client.get(f"/dashboard/bookings/{booking_id}/cancel")
    assert ended.status_code == 404
    assert ">We could not find this booking<" in _page(ended)
    assert ">It may have ended or been cancelled already.<" in _page(ended)


def test_the_creator_dismisses_a_notice_from_the_dashboard() -> None:
    h = Harness()
    creator, booking_id, _ = _booked(h)
    h.uses.notices.zoom_delete_failed(creator.creator_id, booking_id, 81000000001)
    [(notice_id, _)] = h.store.query(NOTICES)
    client = _app(h)
    assert _sign_in(client, creator).status_code == 303
    csrf = _csrf(client, "/dashboard/bookings")

    done = client.post(f"/dashboard/notices/{notice_id}/dismiss", data={"csrf": csrf})

    assert (done.status_code, done.headers["Location"]) == (303, "/dashboard/bookings?done=dismissed")
    assert h.uses.notices.open_for(creator.creator_id) == []


def test_the_dashboards_live_list_is_the_creators_upcoming_bookings() -> None:
    h = Harness()
    creator, booking_id, _ = _booked(h)
    client = _app(h)
    assert client.get("/dashboard/bookings/live").status_code == 401
    assert _sign_in(client, creator).status_code == 303

    live = client.get("/dashboard/bookings/live")

    assert live.status_code == 200
    [booking] = live.get_json()["bookings"]
    assert (booking["id"], booking["fan"]["name"]) == (booking_id, "Frankie")


# ---- the fan's manage and reschedule pages -----------------------------------------------------------------------


def test_the_reschedule_form_answers_a_missing_a_taken_and_a_good_time() -> None:
    h = Harness()
    creator, booking_id, token = _booked(h)
    offer_id = h.doc(booking_id)["offer_id"]
    client = _app(h)
    path = f"/manage/{token}/reschedule?tz={quote(BERLIN)}"
    csrf = _csrf(client, path)

    missing = client.post(path, data={"csrf": csrf})
    h.booked(offer_id, at(10))
    taken = client.post(path, data={"csrf": csrf, "start": at(10)})
    moved = client.post(path, data={"csrf": csrf, "start": at(11)})

    assert missing.status_code == 400 and ">Please pick a new time.<" in _page(missing)
    assert taken.status_code == 409 and ">Sorry, that time is no longer free. Please pick another time.<" in _page(
        taken
    )
    assert (moved.status_code, moved.headers["Location"]) == (
        303,
        f"/manage/{token}?tz=Europe%2FBerlin&done=rescheduled",
    )
    assert h.doc(booking_id)["start"].isoformat() == at(11)
    assert creator.creator_id == h.doc(booking_id)["creator_id"]


def test_a_cancelled_booking_cannot_be_moved_and_its_pages_go_back_to_manage() -> None:
    h = Harness()
    _, booking_id, token = _booked(h)
    client = _app(h)
    csrf = _csrf(client, f"/manage/{token}/reschedule")
    h.uses.bookings.cancel(booking_id, by="fan")

    assert client.get(f"/manage/{token}/reschedule").headers["Location"] == f"/manage/{token}"
    assert client.get(f"/manage/{token}/cancel?tz={quote(BERLIN)}").headers["Location"] == (
        f"/manage/{token}?tz=Europe%2FBerlin"
    )
    refused = client.post(f"/manage/{token}/reschedule", data={"csrf": csrf, "start": at(11)})
    assert (refused.status_code, refused.headers["Location"]) == (303, f"/manage/{token}")
    assert h.doc(booking_id)["start"].isoformat() == at(9)


# ---- which zone the booking page shows, and its pager ----------------------------------------------------------

NEW_YORK = "America/New_York"


def _slot_label(page: str, start: str) -> str:
    found = re.search(rf'value="{re.escape(start)}"[^>]*> (\d\d:\d\d)', page)
    assert found, f"no slot {start} on the page"
    return found.group(1)


def test_the_booking_page_shows_times_in_the_fans_zone_or_the_creators_and_keeps_the_choice() -> None:
    h = Harness()
    creator = h.creator(timezone=BERLIN)  # 09:00-12:00 in Berlin: 08:00-11:00 UTC
    offer_id = h.offer(creator)
    client = _app(h)
    base = f"/book/{creator.creator_id}/{offer_id}"
    slot = "2026-03-03T09:00:00+01:00"  # Tuesday 09:00 in Berlin, 03:00 in New York

    creators = _page(client.get(f"{base}?from=2026-03-03"))
    fans = _page(client.get(f"{base}?from=2026-03-03&tz={quote(NEW_YORK)}"))
    chosen = _page(client.get(f"{base}?from=2026-03-03&tz={quote(NEW_YORK)}&view=creator"))

    assert _slot_label(creators, slot) == "09:00" and "With Cee" in creators
    assert "Times are in the creator" in creators and "CET (Europe/Berlin)" in creators
    assert "Show times in your timezone" not in creators
    assert f'action="{base}"' in creators

    assert _slot_label(fans, slot) == "03:00"
    assert "Times are in your timezone, <strong>EST (America/New_York)</strong>" in fans
    assert f'href="{base}?tz=America%2FNew_York&amp;view=creator"' in fans
    assert f'action="{base}?tz=America%2FNew_York"' in fans
    assert "tz=America%2FNew_York&amp;from=2026-03-10" in fans  # the pager keeps the fan's zone

    assert _slot_label(chosen, slot) == "09:00"
    assert f'href="{base}?tz=America%2FNew_York"' in chosen  # back to the fan's own zone
    assert f'action="{base}?tz=America%2FNew_York&amp;view=creator"' in chosen


def test_the_booking_pages_pager_steps_a_week_and_never_before_today() -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    client = _app(h)
    base = f"/book/{creator.creator_id}/{offer_id}"

    first = _page(client.get(base))
    second = _page(client.get(f"{base}?from=2026-03-09"))

    assert "Earlier dates" not in first
    assert "from=2026-03-09" in first  # the week after Mon 2 - Sun 8 March
    assert "Earlier dates" in second and "from=2026-03-02" in second and "from=2026-03-16" in second
    assert at(9, day=13) in second and at(9, day=16) not in second  # Fri 13 shown, Mon 16 is the next week's
    assert at(9, day=9) in second


def test_hours_the_slot_engine_cannot_read_give_a_page_that_says_so() -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    doc = h.store.get(CREATORS, creator.creator_id) or {}
    h.store.commit([put(CREATORS, creator.creator_id, {**doc, "weekly_hours": {"mon": [["9am", "12:00"]]}})])

    response = _app(h).get(f"/book/{creator.creator_id}/{offer_id}")

    assert response.status_code == 409
    assert _says(response, "No times to book yet", "The creator has not set bookable hours yet.")


# ---- the dashboard's week and notices -----------------------------------------------------------------------------


def _calendar(page: str) -> str:
    return page.split('id="calendar-heading"', 1)[1].split("</section>", 1)[0]


def _book_as(h: Harness, offer_id: str, start: str, name: str) -> str:
    made = h.client.post(
        "/api/public/bookings",
        json={"offer_id": offer_id, "start": start, "fan": {"name": name, "email": "f@example.com"}},
    )
    assert made.status_code == 201, made.get_data(as_text=True)
    booking_id: str = made.get_json()["booking_id"]
    return booking_id


def test_the_dashboards_week_shows_that_weeks_bookings_not_cancelled_and_steps_by_week() -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    _book_as(h, offer_id, at(9, day=3), "Tuesday Tess")
    h.uses.bookings.cancel(_book_as(h, offer_id, at(10, day=4), "Cancelled Cal"), by="fan")
    _book_as(h, offer_id, at(10, day=10), "Next Week Ned")
    client = _app(h)
    assert _sign_in(client, creator).status_code == 303

    this_week = _page(client.get("/dashboard/bookings"))
    next_week = _page(client.get("/dashboard/bookings?week=2026-03-11"))  # a Wednesday: its week starts Monday 9

    assert "Monday 2 March 2026" in _calendar(this_week)
    assert "Tuesday Tess" in _calendar(this_week)
    assert _calendar(this_week).count('<li class="cal-day">') == 7
    assert '<a href="/dashboard/bookings" aria-current="page">' in this_week
    assert "Cancelled Cal" not in _calendar(this_week) and "Next Week Ned" not in _calendar(this_week)
    assert "?week=2026-02-23" in this_week and "?week=2026-03-09" in this_week
    assert "Monday 9 March 2026" in _calendar(next_week)
    assert "Next Week Ned" in _calendar(next_week) and "Tuesday Tess" not in _calendar(next_week)
    assert "?week=2026-03-02" in next_week and "?week=2026-03-16" in next_week


def test_the_dashboard_shows_an_open_delete_failure_notice_with_what_to_do() -> None:
    h = Harness()
    creator, booking_id, _ = _booked(h)
    h.uses.notices.zoom_delete_failed(creator.creator_id, booking_id, 81000000001)
    client = _app(h)
    assert _sign_in(client, creator).status_code == 303

    page = _page(client.get("/dashboard/bookings?done=dismissed"))

    assert "You may have an extra meeting in Zoom." in page
    assert '<strong class="meeting-id">81000000001</strong>' in page
    assert "Notice dismissed." in page


def test_the_manage_page_confirms_a_cancel_it_just_made() -> None:
    h = Harness()
    _, _, token = _booked(h)
    client = _app(h)
    csrf = _csrf(client, f"/manage/{token}/cancel")

    done = client.post(f"/manage/{token}/cancel?tz={quote(BERLIN)}", data={"csrf": csrf})

    assert (done.status_code, done.headers["Location"]) == (303, f"/manage/{token}?tz=Europe%2FBerlin&done=cancelled")
    page = _page(client.get(done.headers["Location"]))
    assert "Your session is cancelled. We email you a confirmation." in page
    assert "CET (Europe/Berlin)" in page


# ---- what the error pages say ------------------------------------------------------------------------------------


def _says(response: TestResponse, title: str, message: str) -> bool:
    page = _page(response)
    return f"<h1>{title}</h1>" in page and f"<p>{message}</p>" in page


def test_each_error_page_says_what_happened_and_what_to_do() -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    client = _app(h)

    assert _says(
        client.get("/manage/no-such-token"),
        "We could not find this booking",
        "The link may be incomplete or mistyped. Open it again from your confirmation email.",
    )
    assert _says(
        client.get(f"/book/{creator.creator_id}/no-such-offer"),
        "We could not find this booking page",
        "The link may be mistyped, or the offer has ended.",
    )
    doc = h.store.get(CREATORS, creator.creator_id) or {}
    h.store.commit([put(CREATORS, creator.creator_id, {**doc, "plan": "free"})])
    assert _says(
        client.get(f"/book/{creator.creator_id}/{offer_id}"),
        "Bookings are not open here",
        "This creator is not taking bookings on Flo right now. Please check back later.",
    )


def test_a_link_the_creator_types_that_is_not_a_full_https_address_is_refused_with_a_hint() -> None:
    h = Harness()
    creator, booking_id, _ = _booked(h)
    client = _app(h)
    assert _sign_in(client, creator).status_code == 303
    csrf = _csrf(client, "/dashboard/bookings")

    for form in ({"csrf": csrf, "url": "zoom.us/j/123"}, {"csrf": csrf}):
        refused = client.post(f"/dashboard/bookings/{booking_id}/link", data=form)
        assert refused.status_code == 400
        assert _says(
            refused,
            "That link cannot be used",
            "Give the full https:// address of the meeting, such as a Zoom link.",
        )
    assert h.doc(booking_id)["meeting_url"] is None


def test_a_booking_form_missing_its_fields_is_answered_not_crashed_and_books_nothing() -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    client = _app(h)

    no_name = _fan_books(h, client, creator, offer_id, email="ada@example.com", start=at(9))
    no_email = _fan_books(h, client, creator, offer_id, name="Ada", start=at(9))
    assert 'autocomplete="email" required value=""' in _page(no_email)  # nothing was typed there

    assert no_name.status_code == 400 and 'id="form-error">Please enter your name.</p>' in _page(no_name)
    assert no_email.status_code == 400 and 'id="form-error">Please enter a valid email address.</p>' in _page(no_email)
    assert h.events() == []


def test_the_fans_cancel_page_posts_to_this_booking_and_shows_its_time_in_the_bookings_zone() -> None:
    h = Harness()
    creator = h.creator(timezone=BERLIN)
    offer_id = h.offer(creator)
    _, token = h.booked(offer_id, "2026-03-03T09:00:00+01:00")
    client = _app(h)

    page = _page(client.get(f"/manage/{token}/cancel"))
    manage = _page(client.get(f"/manage/{token}"))

    assert f'action="/manage/{token}/cancel"' in page
    assert "10:00" not in page and "09:00" in page and "CET (Europe/Berlin)" in page
    assert "09:00" in manage and "CET (Europe/Berlin)" in manage
    assert f'href="/manage/{token}/reschedule"' in manage and 'id="booked"' not in manage


# ---- the dashboard week's reach -----------------------------------------------------------------------------------


def test_the_dashboard_shows_any_week_within_two_years_either_way_and_this_week_beyond() -> None:
    h = Harness()
    creator = h.creator()
    client = _app(h)
    assert _sign_in(client, creator).status_code == 303

    def week_shown(query: str) -> str:
        found = re.search(r"Calendar: week of ([^<]+)<", _page(client.get(f"/dashboard/bookings?week={query}")))
        assert found
        return found.group(1)

    assert week_shown("2024-03-01") == "Monday 26 February 2024"  # exactly 731 days back
    assert week_shown("2028-03-02") == "Monday 28 February 2028"  # exactly 731 days ahead
    assert week_shown("2024-02-29") == "Monday 2 March 2026"  # further: this week
    assert week_shown("2028-03-03") == "Monday 2 March 2026"


def test_the_fans_zone_decides_on_which_day_a_slot_is_listed() -> None:
    h = Harness()
    creator = h.creator(timezone="Asia/Tokyo")  # 09:00 Tokyo on Tuesday is 19:00 on Monday in New York
    offer_id = h.offer(creator)
    client = _app(h)

    page = _page(client.get(f"/book/{creator.creator_id}/{offer_id}?from=2026-03-03&tz={quote(NEW_YORK)}"))

    monday = page.split("<legend>Monday 2 March 2026</legend>", 1)
    assert len(monday) == 2, "no Monday on the New York page"
    assert "2026-03-03T09:00:00+09:00" in monday[1].split("</fieldset>", 1)[0]


# ---- zones at the edges, the list's pages, Google's calendar unread ------------------------------------------


def test_an_unknown_zone_in_the_query_shows_the_creators_times() -> None:
    h = Harness()
    creator = h.creator(timezone=BERLIN)
    offer_id = h.offer(creator)

    page = _page(_app(h).get(f"/book/{creator.creator_id}/{offer_id}?from=2026-03-03&tz=Mars%2FOlympus_Mons"))

    assert _slot_label(page, "2026-03-03T09:00:00+01:00") == "09:00"


def test_the_booking_page_starts_on_the_creators_today_and_a_plain_visit_shows_an_empty_form() -> None:
    sunday_evening = datetime(2026, 3, 8, 20, 0, tzinfo=UTC)  # already Monday 9 March in Tokyo
    h = Harness(now=sunday_evening)
    creator = h.creator(timezone="Asia/Tokyo")
    offer_id = h.offer(creator)

    page = _page(_app(h).get(f"/book/{creator.creator_id}/{offer_id}"))

    assert "from=2026-03-16" in page  # the week Monday 9 - Sunday 15 in Tokyo
    assert 'id="form-error"' not in page
    assert 'autocomplete="name" required maxlength="200" value=""' in page
    assert 'autocomplete="email" required value=""' in page


def test_a_week_without_free_times_says_so_with_its_dates() -> None:
    h = Harness()
    creator = h.creator(hours={})
    offer_id = h.offer(creator)

    page = _page(_app(h).get(f"/book/{creator.creator_id}/{offer_id}"))

    assert "No free times from Mon 2 Mar 2026 to Sun 8 Mar 2026. Try later dates." in page


def test_the_page_warns_when_the_creators_calendar_could_not_be_read() -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    h.connections.connect(creator.creator_id, "google")
    client = _app(h)
    note = "Some times may already be taken in the creator"

    assert note not in _page(client.get(f"/book/{creator.creator_id}/{offer_id}"))
    h.calendar.fail_next(ProviderError(ErrorKind.TRANSIENT, "google", 503), times=5)
    assert note in _page(client.get(f"/book/{creator.creator_id}/{offer_id}?from=2026-03-09"))


def test_the_dashboard_lists_upcoming_bookings_a_page_at_a_time() -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    starts = [at(9 + m // 60, m % 60, day) for day in (3, 4, 5, 6, 9, 10, 11, 12, 13) for m in range(0, 180, 30)]
    for i, start in enumerate(starts[:51]):
        _book_as(h, offer_id, start, f"Fan {i:02d}")
    client = _app(h)
    assert _sign_in(client, creator).status_code == 303

    first = _page(client.get("/dashboard/bookings"))
    later = re.search(r'<a href="(/dashboard/bookings\?later=[^"]+)">Later bookings</a>', first)
    assert later, "no link to the later bookings"
    second = _page(client.get(later.group(1).replace("&amp;", "&")))

    assert "Fan 49" in first and "Fan 50" not in first.split('id="calendar-heading"')[0]
    assert "Fan 50" in second and "Later bookings" not in second


def test_the_dashboard_days_are_the_creators_days() -> None:
    h = Harness()
    evenings = {day: [["17:00", "20:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
    creator = h.creator(timezone="America/Los_Angeles", hours=evenings)
    offer_id = h.offer(creator)
    booking_id = _book_as(h, offer_id, "2026-03-02T17:00:00-08:00", "Monday Mo")  # Tuesday 01:00 UTC
    client = _app(h)
    assert _sign_in(client, creator).status_code == 303

    calendar = _calendar(_page(client.get("/dashboard/bookings")))
    confirm = _page(client.get(f"/dashboard/bookings/{booking_id}/cancel"))

    monday = calendar.split("<h3>Mon 2 Mar 2026</h3>", 1)[1].split('<li class="cal-day">', 1)[0]
    assert "Monday Mo" in monday and f'data-link-pending="{booking_id}"' in monday
    assert "17:00" in confirm and "PST (America/Los_Angeles)" in confirm


def test_a_creator_who_stopped_taking_bookings_cannot_have_sessions_moved_on_the_page() -> None:
    h = Harness()
    creator, _, token = _booked(h)
    client = _app(h)
    page = _page(client.get(f"/manage/{token}/reschedule"))
    assert f'action="/manage/{token}/reschedule' in page
    assert 'id="form-error"' not in page  # a plain visit has nothing to correct
    doc = h.store.get(CREATORS, creator.creator_id) or {}
    h.store.commit([put(CREATORS, creator.creator_id, {**doc, "plan": "free"})])

    refused = client.get(f"/manage/{token}/reschedule")

    assert refused.status_code == 409
    assert _says(refused, "This session cannot be moved here", "The creator is not taking bookings right now.")


def test_the_reschedule_page_shows_times_in_the_bookings_zone() -> None:
    h = Harness()
    creator = h.creator(timezone=BERLIN)
    offer_id = h.offer(creator)
    _, token = h.booked(offer_id, "2026-03-03T09:00:00+01:00")

    page = _page(_app(h).get(f"/manage/{token}/reschedule?from=2026-03-04"))

    assert _slot_label(page, "2026-03-04T09:00:00+01:00") == "09:00"


def test_the_dashboard_opens_on_the_creators_week() -> None:
    sunday_evening = datetime(2026, 3, 8, 20, 0, tzinfo=UTC)  # already Monday 9 March in Tokyo
    h = Harness(now=sunday_evening)
    creator = h.creator(timezone="Asia/Tokyo")
    client = _app(h)
    assert _sign_in(client, creator).status_code == 303

    assert "Calendar: week of Monday 9 March 2026" in _page(client.get("/dashboard/bookings"))


def test_a_time_the_creators_calendar_took_meanwhile_is_not_picked_again_on_the_answer() -> None:
    h = Harness()
    creator = h.creator()
    offer_id = h.offer(creator)
    h.connections.connect(creator.creator_id, "google")
    client = _app(h)
    path = f"/book/{creator.creator_id}/{offer_id}"
    csrf = _csrf(client, path)  # the page read the creator's calendar: 09:00 is free
    h.calendar.busy.append((h.clock.now() + timedelta(hours=1), h.clock.now() + timedelta(hours=2)))  # now it is not

    taken = client.post(path, data={"csrf": csrf, "name": "Ada", "email": "a@example.com", "start": at(9)})

    assert taken.status_code == 409
    page = _page(taken)
    assert f'value="{at(9)}" required>' in page  # still listed from the calendar read a moment ago
    assert "checked" not in page  # but not chosen again: the fan picks another time
