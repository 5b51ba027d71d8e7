"""The bookings service's HTML pages: the creator's Dashboard -> Bookings, the fans' public booking page and
manage page. Handlers only translate: they call BookingUseCases (as the JSON routes do) and render its views."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from werkzeug.wrappers import Request, Response

from services.bookings.app import BookingUseCases, FanIn
from shared.availability import AvailabilityError
from shared.bookings.service import BookingError
from shared.pages.kit import SESSION_COOKIE, PageError, PageKit
from shared.pages.times import zone_or
from shared.web import ApiError, Route, json_response, route

BOOKING_DAYS_SHOWN = 7
SHOWN_RANGE = timedelta(days=731)
"""How far from today a page's ?from= or ?week= may go."""
STATUS_TEXT = {"confirmed": "Confirmed", "pending_payment": "Awaiting payment", "cancelled": "Cancelled"}


def _not_found() -> PageError:
    return PageError(
        404,
        "We could not find this booking",
        "The link may be incomplete or mistyped. Open it again from your confirmation email.",
    )


@dataclass(frozen=True)
class Zones:
    """Which zone a fan's page shows times in: the browser's (set by the page's script as ?tz=) or the creator's."""

    shown: ZoneInfo
    creator: ZoneInfo
    browser: ZoneInfo | None
    creator_chosen: bool

    @classmethod
    def of(cls, request: Request, creator_zone: str) -> Zones:
        creator = zone_or(creator_zone, "UTC")
        raw = request.args.get("tz")
        browser = zone_or(raw, creator.key) if raw else None
        chosen = request.args.get("view") == "creator"
        return cls(creator if chosen or browser is None else browser, creator, browser, chosen)

    @property
    def fans_own(self) -> bool:
        return self.browser is not None and not self.creator_chosen

    def params(self) -> dict[str, str]:
        params = {"tz": self.browser.key} if self.browser else {}
        if self.creator_chosen:
            params["view"] = "creator"
        return params

    def query(self, **extra: str) -> str:
        """The query string that keeps this choice on the next page."""
        params = {**self.params(), **extra}
        return f"?{urlencode(params)}" if params else ""


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _price(cents: int) -> str:
    return "Free" if cents == 0 else f"${cents / 100:,.2f}"


def _slot_days(slots: list[dict[str, str]], zone: ZoneInfo) -> list[tuple[date, list[dict[str, Any]]]]:
    """Free slots grouped by the day they fall on in the zone shown."""
    days: dict[date, list[dict[str, Any]]] = defaultdict(list)
    for slot in slots:
        start = _at(slot["start"])
        days[start.astimezone(zone).date()].append({"start": slot["start"], "at": start})
    return sorted(days.items())


def _week_of(value: str | None, today: date) -> date:
    day = _day_or(value, today, today - SHOWN_RANGE, today + SHOWN_RANGE)
    return day - timedelta(days=day.weekday())


def page_routes(kit: PageKit, use: BookingUseCases) -> list[Route]:
    def render(request: Request, template: str, status: int = 200, **context: Any) -> Response:
        now = use.runtime.clock.now()
        return kit.render(
            request, template, status=status, at=_at, status_text=STATUS_TEXT, price=_price, now=now, **context
        )

    # ---- creators: Dashboard -> Bookings ---------------------------------------------------------------

    @route("/dashboard/bookings")
    @kit.page
    def dashboard(request: Request) -> Response:
        creator_id = kit.creator_id(request)
        zone = zone_or(use.creator(creator_id).get("timezone"), "UTC")
        upcoming = use.creator_bookings(creator_id, "upcoming")
        past = list(reversed(use.creator_bookings(creator_id, "past")))
        week = _week_of(request.args.get("week"), use.runtime.clock.now().astimezone(zone).date())
        days = [week + timedelta(days=i) for i in range(7)]
        calendar: dict[date, list[dict[str, Any]]] = {day: [] for day in days}
        for booking in [*past, *upcoming]:
            day = _at(booking["start"]).astimezone(zone).date()
            if day in calendar and booking["status"] != "cancelled":
                calendar[day].append(booking)
        for items in calendar.values():
            items.sort(key=lambda b: b["start"])
        return render(
            request,
            "bookings.html.j2",
            nav="bookings",
            zone=zone,
            upcoming=upcoming,
            past=past,
            notices=use.notices(creator_id),
            calendar=calendar,
            week=week,
            previous_week=(week - timedelta(days=7)).isoformat(),
            next_week=(week + timedelta(days=7)).isoformat(),
            flash=request.args.get("done", ""),
        )

    @route("/dashboard/bookings/live")
    def dashboard_live(request: Request) -> Response:
        """The upcoming bookings' views for the page's script, which swaps "being prepared" for Join meeting."""
        token = request.cookies.get(SESSION_COOKIE, "")
        return json_response({"bookings": use.creator_bookings(kit.auth.verify(token), "upcoming")})

    @route("/dashboard/bookings/<booking_id>/cancel")
    @kit.page
    def dashboard_cancel_confirm(request: Request, booking_id: str) -> Response:
        creator_id = kit.creator_id(request)
        zone = zone_or(use.creator(creator_id).get("timezone"), "UTC")
        found = [b for b in use.creator_bookings(creator_id, "upcoming") if b["id"] == booking_id]
        if not found:
            raise PageError(404, "We could not find this booking", "It may have ended or been cancelled already.")
        return render(request, "cancel_creator.html.j2", nav="bookings", zone=zone, booking=found[0])

    @route("/dashboard/bookings/<booking_id>/cancel", "POST")
    @kit.page
    def dashboard_cancel(request: Request, booking_id: str) -> Response:
        creator_id = kit.creator_id(request)
        kit.check_form(request)
        use.creator_cancel(creator_id, booking_id)
        return kit.redirect("/dashboard/bookings?done=cancelled")

    @route("/dashboard/notices/<notice_id>/dismiss", "POST")
    @kit.page
    def dismiss(request: Request, notice_id: str) -> Response:
        creator_id = kit.creator_id(request)
        kit.check_form(request)
        use.dismiss(creator_id, notice_id)
        return kit.redirect("/dashboard/bookings?done=dismissed")

    # ---- fans: the public booking page -----------------------------------------------------------------

    def public_offer(creator_id: str, offer_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        try:
            return use.public_offer(creator_id, offer_id)
        except ApiError as exc:
            if exc.status == 403:
                raise PageError(
                    403,
                    "Bookings are not open here",
                    "This creator is not taking bookings on Flo right now. Please check back later.",
                ) from None
            raise PageError(
                404, "We could not find this booking page", "The link may be mistyped, or the offer has ended."
            ) from None

    def booking_page(
        request: Request,
        creator_id: str,
        offer_id: str,
        status: int = 200,
        error: str = "",
        fan: dict[str, str] | None = None,
    ) -> Response:
        offer, creator = public_offer(creator_id, offer_id)
        zones = Zones.of(request, creator.get("timezone", "UTC"))
        today = use.runtime.clock.now().astimezone(zones.creator).date()
        first = _day_or(request.args.get("from"), today, today, today + SHOWN_RANGE)
        last = first + timedelta(days=BOOKING_DAYS_SHOWN - 1)
        found = _slots_or_page_error(use, creator_id, offer_id, first, last)
        slots = found["slots"]
        assert isinstance(slots, list)
        return render(
            request,
            "book.html.j2",
            status=status,
            offer=offer,
            creator_name=creator.get("name", "the creator"),
            zones=zones,
            keep=zones.params(),
            days=_slot_days(slots, zones.shown),
            first=first,
            last=last,
            earlier=(first - timedelta(days=BOOKING_DAYS_SHOWN)).isoformat() if first > today else "",
            later=(last + timedelta(days=1)).isoformat(),
            action=f"/book/{creator_id}/{offer_id}{zones.query()}",
            calendar_unchecked=found.get("calendar_checked") is False,
            error=error,
            fan=fan or {"name": "", "email": "", "start": ""},
        )

    @route("/book/<creator_id>/<offer_id>")
    @kit.page
    def book_page(request: Request, creator_id: str, offer_id: str) -> Response:
        return booking_page(request, creator_id, offer_id)

    @route("/book/<creator_id>/<offer_id>", "POST")
    @kit.page
    def book(request: Request, creator_id: str, offer_id: str) -> Response:
        kit.check_form(request)
        form = request.form
        entered = {"name": form.get("name", "").strip(), "email": form.get("email", "").strip()}
        entered["start"] = form.get("start", "")
        zones = Zones.of(request, "UTC")
        fan_zone = zones.browser.key if zones.browser else None
        try:
            fan = FanIn.model_validate({"name": entered["name"], "email": entered["email"], "timezone": fan_zone})
        except ValidationError as exc:
            field = str(exc.errors()[0]["loc"][0])
            message = "Please enter your name." if field == "name" else "Please enter a valid email address."
            return booking_page(request, creator_id, offer_id, 400, message, entered)
        start = _time_or_none(entered["start"])
        if start is None:
            return booking_page(request, creator_id, offer_id, 400, "Please pick a time.", entered)
        public_offer(creator_id, offer_id)
        try:
            result, _ = use.book(offer_id, start, fan)
        except BookingError as exc:
            if exc.status != 409:
                raise
            taken = "Sorry, that time is no longer free: someone may have just booked it. Please pick another time."
            return booking_page(request, creator_id, offer_id, 409, taken, {**entered, "start": ""})
        return kit.redirect(f"/manage/{result.manage_token}{zones.query(booked='1')}")

    # ---- fans: the manage page -------------------------------------------------------------------------

    def managed(token: str) -> dict[str, Any]:
        try:
            return use.manage(token)
        except BookingError as exc:
            if exc.status == 404:
                raise _not_found() from None
            raise

    def fan_zones(request: Request, booking: dict[str, Any]) -> Zones:
        return Zones.of(request, booking["timezone"])

    @route("/manage/<token>")
    @kit.page
    def manage(request: Request, token: str) -> Response:
        booking = managed(token)
        zones = fan_zones(request, booking)
        return render(
            request,
            "manage.html.j2",
            booking=booking,
            zones=zones,
            token=token,
            manage_url=f"{use.runtime.settings.base_url}/manage/{token}",
            done=request.args.get("done", ""),
            booked=request.args.get("booked") == "1",
        )

    def reschedule_form(request: Request, token: str, status: int = 200, error: str = "") -> Response:
        booking = managed(token)
        if booking["status"] != "confirmed":
            return kit.redirect(f"/manage/{token}{fan_zones(request, booking).query()}")
        offer, _ = use.bookings.load_offer(booking["offer_id"])
        zones = fan_zones(request, booking)
        today = use.runtime.clock.now().astimezone(zones.creator).date()
        first = _day_or(request.args.get("from"), today, today, today + SHOWN_RANGE)
        last = first + timedelta(days=BOOKING_DAYS_SHOWN - 1)
        try:
            found = _slots_or_page_error(use, offer["creator_id"], booking["offer_id"], first, last)
        except ApiError:
            raise PageError(
                409, "This session cannot be moved here", "The creator is not taking bookings right now."
            ) from None
        slots = found["slots"]
        assert isinstance(slots, list)
        return render(
            request,
            "reschedule.html.j2",
            status=status,
            booking=booking,
            zones=zones,
            token=token,
            keep=zones.params(),
            days=_slot_days(slots, zones.shown),
            first=first,
            last=last,
            earlier=(first - timedelta(days=BOOKING_DAYS_SHOWN)).isoformat() if first > today else "",
            later=(last + timedelta(days=1)).isoformat(),
            error=error,
        )

    @route("/manage/<token>/reschedule")
    @kit.page
    def reschedule_page(request: Request, token: str) -> Response:
        return reschedule_form(request, token)

    @route("/manage/<token>/reschedule", "POST")
    @kit.page
    def reschedule(request: Request, token: str) -> Response:
        kit.check_form(request)
        booking = managed(token)
        start = _time_or_none(request.form.get("start", ""))
        if start is None:
            return reschedule_form(request, token, 400, "Please pick a new time.")
        try:
            use.reschedule(token, start)
        except BookingError as exc:
            if exc.status != 409:
                raise
            message = "Sorry, that time is no longer free. Please pick another time."
            if exc.code == "not_reschedulable":
                message = exc.message
            return reschedule_form(request, token, 409, message)
        return kit.redirect(f"/manage/{token}{fan_zones(request, booking).query(done='rescheduled')}")

    @route("/manage/<token>/cancel")
    @kit.page
    def cancel_page(request: Request, token: str) -> Response:
        booking = managed(token)
        zones = fan_zones(request, booking)
        if booking["status"] == "cancelled":
            return kit.redirect(f"/manage/{token}{zones.query()}")
        return render(request, "cancel_fan.html.j2", booking=booking, zones=zones, token=token)

    @route("/manage/<token>/cancel", "POST")
    @kit.page
    def cancel(request: Request, token: str) -> Response:
        kit.check_form(request)
        booking = managed(token)
        use.fan_cancel(token)
        return kit.redirect(f"/manage/{token}{fan_zones(request, booking).query(done='cancelled')}")

    return [
        dashboard,
        dashboard_live,
        dashboard_cancel_confirm,
        dashboard_cancel,
        dismiss,
        book_page,
        book,
        manage,
        reschedule_page,
        reschedule,
        cancel_page,
        cancel,
    ]


def _slots_or_page_error(
    use: BookingUseCases, creator_id: str, offer_id: str, first: date, last: date
) -> dict[str, object]:
    try:
        return use.slots(creator_id, offer_id, first.isoformat(), last.isoformat())
    except AvailabilityError:
        raise PageError(409, "No times to book yet", "The creator has not set bookable hours yet.") from None


def _day_or(value: str | None, default: date, earliest: date, latest: date) -> date:
    """A date from the query when it is one and within reach (no date arithmetic near year 1 or 9999)."""
    try:
        day = date.fromisoformat(value) if value else default
    except ValueError:
        return default
    return day if earliest <= day <= latest else default


def _time_or_none(value: str) -> datetime | None:
    """A slot start from a form: an RFC 3339 time with its offset, else nothing."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None
