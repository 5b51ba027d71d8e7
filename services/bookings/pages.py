"""The bookings service's HTML pages: the creator's Dashboard -> Bookings, the fans' public booking page and
manage page. Handlers only translate: they call the use cases the JSON routes call (built by shared/bootstrap.py)
and render the same views (services/bookings/schemas.py)."""

from __future__ import annotations

import hashlib
import secrets
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from werkzeug.wrappers import Request, Response

from services.bookings.schemas import (
    REQUEST_KEY_FIELD,
    FanIn,
    LinkIn,
    booking_view,
    manage_url,
    notice_view,
    slots_view,
)
from shared.availability import AvailabilityError
from shared.bootstrap import BookingsUseCases
from shared.errors import ConflictError, NotFoundError, NotPermittedError
from shared.pages.kit import SESSION_COOKIE, PageError, PageKit
from shared.pages.times import zone_or
from shared.web import Handler, Route, json_response

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


class BookingPages:
    """The page handlers: each parses the request or form, calls a use case and renders (or redirects)."""

    def __init__(self, kit: PageKit, uses: BookingsUseCases) -> None:
        self._kit = kit
        self._uses = uses
        self._bookings = uses.bookings

    def _render(self, request: Request, template: str, status: int = 200, **context: Any) -> Response:
        now = self._kit.clock.now()
        return self._kit.render(
            request, template, status=status, at=_at, status_text=STATUS_TEXT, price=_price, now=now, **context
        )

    def _creator_zone(self, creator_id: str) -> ZoneInfo:
        return zone_or(self._uses.catalog.timezone_of(creator_id), "UTC")

    def _listing(
        self, creator_id: str, *, upcoming: bool, after: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        page = self._bookings.listing(creator_id, upcoming=upcoming, after=after)
        return [booking_view(i, b) for i, b in page.rows], page.next_cursor

    # ---- creators: Dashboard -> Bookings ---------------------------------------------------------------

    def dashboard(self, request: Request) -> Response:
        creator_id = self._kit.creator_id(request)
        zone = self._creator_zone(creator_id)
        upcoming, later = self._listing(creator_id, upcoming=True, after=request.args.get("later") or None)
        past, older = self._listing(creator_id, upcoming=False, after=request.args.get("older") or None)
        week = _week_of(request.args.get("week"), self._kit.clock.now().astimezone(zone).date())
        week_start = datetime.combine(week, time(), zone)
        in_week = self._bookings.in_window(creator_id, week_start, week_start + timedelta(days=7))
        return self._render(
            request,
            "bookings.html.j2",
            nav="bookings",
            zone=zone,
            upcoming=upcoming,
            later_bookings=later and "/dashboard/bookings?" + urlencode({"later": later}),
            past=past,
            older_bookings=older and "/dashboard/bookings?" + urlencode({"older": older}),
            notices=[{**notice_view(n), "resolved": n.resolved} for n in self._uses.notices.open_for(creator_id)],
            calendar=_week_calendar(week, zone, [booking_view(i, b) for i, b in in_week]),
            week=week,
            previous_week=(week - timedelta(days=7)).isoformat(),
            next_week=(week + timedelta(days=7)).isoformat(),
            flash=request.args.get("done", ""),
        )

    def dashboard_live(self, request: Request) -> Response:
        """The upcoming bookings' views for the page's script, which swaps "being prepared" for Join meeting."""
        creator_id = self._kit.auth.verify(request.cookies.get(SESSION_COOKIE, ""))
        upcoming, _ = self._listing(creator_id, upcoming=True)
        return json_response({"bookings": upcoming})

    def dashboard_cancel_confirm(self, request: Request, booking_id: str) -> Response:
        creator_id = self._kit.creator_id(request)
        try:
            booking = self._bookings.get(booking_id)
        except NotFoundError:
            booking = None
        if booking is None or booking.creator_id != creator_id or booking.end <= self._kit.clock.now():
            raise PageError(404, "We could not find this booking", "It may have ended or been cancelled already.")
        zone = self._creator_zone(creator_id)
        view = booking_view(booking_id, booking)
        return self._render(request, "cancel_creator.html.j2", nav="bookings", zone=zone, booking=view)

    def dashboard_cancel(self, request: Request, booking_id: str) -> Response:
        creator_id = self._kit.creator_id(request)
        self._kit.check_form(request)
        self._bookings.cancel_by_creator(creator_id, booking_id)
        return self._kit.redirect("/dashboard/bookings?done=cancelled")

    def dashboard_set_link(self, request: Request, booking_id: str) -> Response:
        creator_id = self._kit.creator_id(request)
        self._kit.check_form(request)
        try:
            url = LinkIn.model_validate({"url": request.form.get("url", "").strip()}).url
        except ValidationError:
            raise PageError(
                400, "That link cannot be used", "Give the full https:// address of the meeting, such as a Zoom link."
            ) from None
        self._bookings.set_link(creator_id, booking_id, url)
        return self._kit.redirect("/dashboard/bookings?done=link_set")

    def dismiss(self, request: Request, notice_id: str) -> Response:
        creator_id = self._kit.creator_id(request)
        self._kit.check_form(request)
        self._uses.notices.dismiss(creator_id, notice_id)
        return self._kit.redirect("/dashboard/bookings?done=dismissed")

    # ---- fans: the public booking page -----------------------------------------------------------------

    def _public_offer(self, creator_id: str, offer_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        try:
            return self._uses.catalog.public_offer(creator_id, offer_id)
        except NotPermittedError:
            raise PageError(
                403,
                "Bookings are not open here",
                "This creator is not taking bookings on Flo right now. Please check back later.",
            ) from None
        except NotFoundError:
            raise PageError(
                404, "We could not find this booking page", "The link may be mistyped, or the offer has ended."
            ) from None

    def _slot_window(self, request: Request, creator_id: str, offer_id: str, zones: Zones) -> dict[str, Any]:
        """The week of free slots a page shows (from ?from=), with its links to the weeks around it."""
        today = self._kit.clock.now().astimezone(zones.creator).date()
        first = _day_or(request.args.get("from"), today, today, today + SHOWN_RANGE)
        last = first + timedelta(days=BOOKING_DAYS_SHOWN - 1)
        try:
            found = slots_view(self._uses.slots.open_slots(creator_id, offer_id, first.isoformat(), last.isoformat()))
        except AvailabilityError:
            raise PageError(409, "No times to book yet", "The creator has not set bookable hours yet.") from None
        slots = found["slots"]
        assert isinstance(slots, list)
        return {
            "keep": zones.params(),
            "days": _slot_days(slots, zones.shown),
            "first": first,
            "last": last,
            "earlier": (first - timedelta(days=BOOKING_DAYS_SHOWN)).isoformat() if first > today else "",
            "later": (last + timedelta(days=1)).isoformat(),
            "calendar_unchecked": found.get("calendar_checked") is False,
        }

    def _booking_page(
        self,
        request: Request,
        creator_id: str,
        offer_id: str,
        status: int = 200,
        error: str = "",
        fan: dict[str, str] | None = None,
    ) -> Response:
        offer, creator = self._public_offer(creator_id, offer_id)
        zones = Zones.of(request, creator.get("timezone", "UTC"))
        return self._render(
            request,
            "book.html.j2",
            status=status,
            offer=offer,
            creator_name=creator.get("name", "the creator"),
            zones=zones,
            action=f"/book/{creator_id}/{offer_id}{zones.query()}",
            error=error,
            fan=fan or {"name": "", "email": "", "start": ""},
            request_key_field=REQUEST_KEY_FIELD,
            request_key=secrets.token_urlsafe(16),  # drawn anew each time: a new try after a refusal is a new request
            **self._slot_window(request, creator_id, offer_id, zones),
        )

    def book_page(self, request: Request, creator_id: str, offer_id: str) -> Response:
        return self._booking_page(request, creator_id, offer_id)

    def book(self, request: Request, creator_id: str, offer_id: str) -> Response:
        self._kit.check_form(request)
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
            return self._booking_page(request, creator_id, offer_id, 400, message, entered)
        start = _time_or_none(entered["start"])
        if start is None:
            return self._booking_page(request, creator_id, offer_id, 400, "Please pick a time.", entered)
        self._public_offer(creator_id, offer_id)
        try:
            booked = self._bookings.book(
                offer_id, start, fan.to_fan(), _form_request_key(form.get(REQUEST_KEY_FIELD), entered)
            )
        except ConflictError:
            taken = "Sorry, that time is no longer free: someone may have just booked it. Please pick another time."
            return self._booking_page(request, creator_id, offer_id, 409, taken, {**entered, "start": ""})
        return self._kit.redirect(f"/manage/{booked.manage_token}{zones.query(booked='1')}")

    # ---- fans: the manage page -------------------------------------------------------------------------

    def _managed(self, token: str) -> dict[str, Any]:
        try:
            return booking_view(*self._bookings.by_manage_token(token))
        except NotFoundError:
            raise _not_found() from None

    def manage(self, request: Request, token: str) -> Response:
        booking = self._managed(token)
        return self._render(
            request,
            "manage.html.j2",
            booking=booking,
            zones=Zones.of(request, booking["timezone"]),
            token=token,
            manage_url=manage_url(self._uses.base_url, token),
            done=request.args.get("done", ""),
            booked=request.args.get("booked") == "1",
        )

    def _reschedule_form(self, request: Request, token: str, status: int = 200, error: str = "") -> Response:
        booking = self._managed(token)
        zones = Zones.of(request, booking["timezone"])
        if booking["status"] != "confirmed":
            return self._kit.redirect(f"/manage/{token}{zones.query()}")
        offer, _ = self._uses.catalog.offer(booking["offer_id"])
        try:
            window = self._slot_window(request, offer["creator_id"], booking["offer_id"], zones)
        except (NotFoundError, NotPermittedError):
            raise PageError(
                409, "This session cannot be moved here", "The creator is not taking bookings right now."
            ) from None
        return self._render(
            request,
            "reschedule.html.j2",
            status=status,
            booking=booking,
            zones=zones,
            token=token,
            error=error,
            **window,
        )

    def reschedule_page(self, request: Request, token: str) -> Response:
        return self._reschedule_form(request, token)

    def reschedule(self, request: Request, token: str) -> Response:
        self._kit.check_form(request)
        booking = self._managed(token)
        start = _time_or_none(request.form.get("start", ""))
        if start is None:
            return self._reschedule_form(request, token, 400, "Please pick a new time.")
        try:
            self._bookings.reschedule(booking["id"], start)
        except ConflictError as exc:
            message = "Sorry, that time is no longer free. Please pick another time."
            if exc.code in ("not_reschedulable", "session_started"):
                message = exc.message
            return self._reschedule_form(request, token, 409, message)
        return self._kit.redirect(f"/manage/{token}{Zones.of(request, booking['timezone']).query(done='rescheduled')}")

    def cancel_page(self, request: Request, token: str) -> Response:
        booking = self._managed(token)
        zones = Zones.of(request, booking["timezone"])
        if booking["status"] == "cancelled":
            return self._kit.redirect(f"/manage/{token}{zones.query()}")
        return self._render(request, "cancel_fan.html.j2", booking=booking, zones=zones, token=token)

    def cancel(self, request: Request, token: str) -> Response:
        self._kit.check_form(request)
        booking = self._managed(token)
        self._bookings.cancel(booking["id"], by="fan")
        return self._kit.redirect(f"/manage/{token}{Zones.of(request, booking['timezone']).query(done='cancelled')}")


def page_routes(kit: PageKit, uses: BookingsUseCases) -> list[Route]:
    p = BookingPages(kit, uses)
    pages: list[tuple[str, str, Handler]] = [
        ("/dashboard/bookings", "GET", p.dashboard),
        ("/dashboard/bookings/<booking_id>/cancel", "GET", p.dashboard_cancel_confirm),
        ("/dashboard/bookings/<booking_id>/cancel", "POST", p.dashboard_cancel),
        ("/dashboard/bookings/<booking_id>/link", "POST", p.dashboard_set_link),
        ("/dashboard/notices/<notice_id>/dismiss", "POST", p.dismiss),
        ("/book/<creator_id>/<offer_id>", "GET", p.book_page),
        ("/book/<creator_id>/<offer_id>", "POST", p.book),
        ("/manage/<token>", "GET", p.manage),
        ("/manage/<token>/reschedule", "GET", p.reschedule_page),
        ("/manage/<token>/reschedule", "POST", p.reschedule),
        ("/manage/<token>/cancel", "GET", p.cancel_page),
        ("/manage/<token>/cancel", "POST", p.cancel),
    ]
    return [
        Route("/dashboard/bookings/live", ("GET",), p.dashboard_live),
        *(Route(rule, (method,), kit.page(handler)) for rule, method, handler in pages),
    ]


def _week_calendar(week: date, zone: ZoneInfo, bookings: list[dict[str, Any]]) -> dict[date, list[dict[str, Any]]]:
    """The week's days, each with the bookings (not cancelled) starting on it in the creator's zone, by time."""
    calendar: dict[date, list[dict[str, Any]]] = {week + timedelta(days=i): [] for i in range(7)}
    for booking in bookings:
        day = _at(booking["start"]).astimezone(zone).date()
        if day in calendar and booking["status"] != "cancelled":
            calendar[day].append(booking)
    for items in calendar.values():
        items.sort(key=lambda b: b["start"])
    return calendar


def _day_or(value: str | None, default: date, earliest: date, latest: date) -> date:
    """A date from the query when it is one and within reach (no date arithmetic near year 1 or 9999)."""
    try:
        day = date.fromisoformat(value) if value else default
    except ValueError:
        return default
    return day if earliest <= day <= latest else default


def _form_request_key(form_key: str | None, entered: dict[str, str]) -> str | None:
    """The form's key with what the fan chose: Confirm pressed twice sends the same request (one booking), while
    a form shown once and sent again with another time or name (the Back button) is a booking of its own."""
    if not form_key:
        return None
    return hashlib.sha256(
        "\n".join([form_key, entered["start"], entered["email"], entered["name"]]).encode()
    ).hexdigest()


def _time_or_none(value: str) -> datetime | None:
    """A slot start from a form: an RFC 3339 time with its offset, else nothing."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None
