"""The bookings service's routes: fans' slots and bookings, manage links, creators' settings and dashboard."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, EmailStr, Field, field_validator
from werkzeug.wrappers import Request, Response

from shared.auth import CreatorAuth, DevTokenAuth, IdentityPlatformAuth
from shared.availability import (
    AvailabilityError,
    Interval,
    compute_slots,
    format_slot,
    parse_weekly_hours,
    validate_duration,
    validate_window,
    window_bounds,
)
from shared.bookings.model import BOOKINGS, CREATORS, NOTICES, booking_view, hours_from_doc, hours_to_doc
from shared.bookings.service import (
    Booked,
    BookingError,
    BookingService,
    BusyTimes,
    new_offer,
    require_bookings_plan,
)
from shared.bookings.wiring import booking_service_for
from shared.bootstrap import Runtime, service_app
from shared.envelope import parse_push
from shared.pages.kit import page_kit, static_routes
from shared.pages.signin import sign_in_routes
from shared.store.port import Doc, NotFound, Where, put, update
from shared.web import ApiError, Route, WebApp, json_response, parse_body, route

PAYMENT_EVENTS = "payment-events"


def _bookable_year(value: datetime) -> datetime:
    """A start near year 1 or 9999 would overflow date arithmetic (a 500); no slot is ever that far off."""
    if not 1971 <= value.year <= 9998:
        raise ValueError("start must be a time between the years 1971 and 9998")
    return value


BookableStart = Annotated[AwareDatetime, AfterValidator(_bookable_year)]


class FanIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    email: EmailStr
    timezone: str | None = None


class BookIn(BaseModel):
    offer_id: str = Field(min_length=1)
    start: BookableStart
    fan: FanIn


class RescheduleIn(BaseModel):
    start: BookableStart


class AvailabilityIn(BaseModel):
    timezone: str
    weekly_hours: dict[str, list[tuple[str, str]]]


class OfferIn(BaseModel):
    title: str = Field(min_length=1, max_length=150)
    duration_minutes: int
    price_cents: int = Field(ge=0)


class DevCreatorIn(BaseModel):
    email: EmailStr
    name: str = Field(min_length=1)
    plan: Literal["free", "creator", "pro", "studio"]
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        parse_weekly_hours(value, {})  # an AvailabilityError is a ValueError: a 400 naming the timezone
        return value


def _availability_errors(fn: Callable[..., Response]) -> Callable[..., Response]:
    def wrapped(request: Request, **kwargs: str) -> Response:
        try:
            return fn(request, **kwargs)
        except AvailabilityError as exc:
            raise ApiError(400, "invalid_availability", str(exc)) from None

    return wrapped


class BookingUseCases:
    """What the JSON routes and the pages both call (never each other over HTTP), so they cannot disagree."""

    def __init__(self, runtime: Runtime, bookings: BookingService, busy: BusyTimes) -> None:
        self.runtime = runtime
        self.bookings = bookings
        self._busy = busy

    def public_offer(self, creator_id: str, offer_id: str) -> tuple[Doc, Doc]:
        """(offer, creator) of a bookable offer: 404 when it is not this creator's, 403 without Book a Session."""
        offer, creator = self.bookings.load_offer(offer_id)
        if offer["creator_id"] != creator_id:
            raise ApiError(404, "offer_not_found", f"No offer {offer_id!r} for creator {creator_id!r}.")
        require_bookings_plan(creator)
        return offer, creator

    def slots(self, creator_id: str, offer_id: str, first_day: str, last_day: str) -> dict[str, object]:
        """The free slots answer of the public slots route."""
        store, clock = self.runtime.store, self.runtime.clock
        offer, creator = self.public_offer(creator_id, offer_id)
        first, last = validate_window(first_day, last_day)
        hours = parse_weekly_hours(creator.get("timezone", "UTC"), hours_from_doc(creator.get("weekly_hours", {})))
        low, high = window_bounds(hours, first, last)
        found = self._busy.busy(creator_id, low, high)
        taken = store.query(BOOKINGS, [Where("creator_id", "==", creator_id), Where("start", "<", high)])
        now = clock.now()
        blockers = [*found.intervals]
        for _, doc in taken:
            held = doc["status"] == "pending_payment" and doc.get("hold_expires_at") and doc["hold_expires_at"] > now
            if (doc["status"] == "confirmed" or held) and doc["end"] > low:
                blockers.append(Interval(doc["start"], doc["end"]))
        free = compute_slots(
            hours, timedelta(minutes=int(offer["duration_minutes"])), first, last, now, tuple(blockers)
        )
        body: dict[str, object] = {"timezone": hours.zone.key, "slots": [format_slot(s, hours.zone) for s in free]}
        if not found.checked:
            body["calendar_checked"] = False
            body["notice"] = "The creator's calendar busy times could not be checked."
        return body

    def book(self, offer_id: str, start: datetime, fan: FanIn) -> tuple[Booked, str]:
        """The booking made, and the fan's manage URL."""
        result = self.bookings.book(offer_id, start, fan.model_dump())
        return result, f"{self.runtime.settings.base_url}/manage/{result.manage_token}"

    def manage(self, token: str) -> dict[str, Any]:
        booking_id, doc = self.bookings.by_manage_token(token)
        return booking_view(booking_id, doc)

    def reschedule(self, token: str, start: datetime) -> dict[str, Any]:
        booking_id, _ = self.bookings.by_manage_token(token)
        return booking_view(booking_id, self.bookings.reschedule(booking_id, start))

    def fan_cancel(self, token: str) -> dict[str, Any]:
        booking_id, _ = self.bookings.by_manage_token(token)
        return booking_view(booking_id, self.bookings.cancel(booking_id, by="fan"))

    def creator(self, creator_id: str) -> Doc:
        return self.runtime.store.get(CREATORS, creator_id) or {}

    def creator_bookings(self, creator_id: str, scope: str) -> list[dict[str, Any]]:
        if scope not in ("upcoming", "past"):
            raise ApiError(400, "invalid_scope", "scope must be 'upcoming' or 'past'.")
        now = self.runtime.clock.now()
        rows = self.runtime.store.query(BOOKINGS, [Where("creator_id", "==", creator_id)], order_by="start")
        return [booking_view(i, d) for i, d in rows if (d["end"] > now) == (scope == "upcoming")]

    def creator_cancel(self, creator_id: str, booking_id: str) -> dict[str, Any]:
        if self.bookings.get(booking_id)["creator_id"] != creator_id:
            raise ApiError(404, "booking_not_found", f"No booking {booking_id!r}.")
        return booking_view(booking_id, self.bookings.cancel(booking_id, by="creator"))

    def notices(self, creator_id: str) -> list[dict[str, Any]]:
        store = self.runtime.store
        rows = store.query(NOTICES, [Where("creator_id", "==", creator_id), Where("dismissed", "==", False)])
        return [
            {
                "id": i,
                **{k: d.get(k) for k in ("kind", "booking_id", "meeting_id", "message")},
                "created_at": d["created_at"].isoformat(),
            }
            for i, d in sorted(rows, key=lambda r: r[1]["created_at"])
        ]

    def dismiss(self, creator_id: str, notice_id: str) -> None:
        store = self.runtime.store
        notice = store.get(NOTICES, notice_id)
        if notice is None or notice["creator_id"] != creator_id:
            raise ApiError(404, "notice_not_found", f"No notice {notice_id!r}.")
        store.commit([update(NOTICES, notice_id, {"dismissed": True})])


def build_routes(runtime: Runtime, bookings: BookingService, busy: BusyTimes, auth: CreatorAuth) -> list[Route]:
    store, clock, settings = runtime.store, runtime.clock, runtime.settings
    use = BookingUseCases(runtime, bookings, busy)

    def creator_of(request: Request) -> str:
        return auth.creator_id(request)

    @route("/api/public/creators/<creator_id>/offers/<offer_id>/slots")
    @_availability_errors
    def slots(request: Request, creator_id: str, offer_id: str) -> Response:
        return json_response(use.slots(creator_id, offer_id, request.args.get("from", ""), request.args.get("to", "")))

    @route("/api/public/bookings", "POST")
    @_availability_errors
    def book(request: Request) -> Response:
        body = parse_body(request, BookIn)
        result, manage_url = use.book(body.offer_id, body.start, body.fan)
        return json_response({"booking_id": result.booking_id, "status": result.status, "manage_url": manage_url}, 201)

    @route("/api/manage/<token>")
    @_availability_errors
    def manage(request: Request, token: str) -> Response:
        return json_response(use.manage(token))

    @route("/api/manage/<token>/reschedule", "POST")
    @_availability_errors
    def reschedule(request: Request, token: str) -> Response:
        body = parse_body(request, RescheduleIn)
        return json_response(use.reschedule(token, body.start))

    @route("/api/manage/<token>/cancel", "POST")
    @_availability_errors
    def fan_cancel(request: Request, token: str) -> Response:
        return json_response(use.fan_cancel(token))

    @route("/api/settings/availability", "PUT")
    @_availability_errors
    def availability(request: Request) -> Response:
        creator_id = creator_of(request)
        body = parse_body(request, AvailabilityIn)
        weekly = {day: [list(r) for r in ranges] for day, ranges in body.weekly_hours.items()}
        parse_weekly_hours(body.timezone, weekly)
        try:
            store.commit(
                [update(CREATORS, creator_id, {"timezone": body.timezone, "weekly_hours": hours_to_doc(weekly)})]
            )
        except NotFound:
            raise ApiError(404, "creator_not_found", "There is no creator profile for this account.") from None
        return json_response({"timezone": body.timezone, "weekly_hours": weekly})

    @route("/api/offers", "POST")
    @_availability_errors
    def offers(request: Request) -> Response:
        creator_id = creator_of(request)
        body = parse_body(request, OfferIn)
        validate_duration(body.duration_minutes)
        creator = store.get(CREATORS, creator_id) or {}
        require_bookings_plan(creator)
        offer_id = new_offer(store, creator_id, body.title, body.duration_minutes, body.price_cents, clock.now())
        return json_response({"offer_id": offer_id}, 201)

    @route("/api/bookings")
    def list_bookings(request: Request) -> Response:
        return json_response(
            {"bookings": use.creator_bookings(creator_of(request), request.args.get("scope", "upcoming"))}
        )

    @route("/api/bookings/<booking_id>/cancel", "POST")
    @_availability_errors
    def creator_cancel(request: Request, booking_id: str) -> Response:
        return json_response(use.creator_cancel(creator_of(request), booking_id))

    @route("/api/notices")
    def notices(request: Request) -> Response:
        return json_response({"notices": use.notices(creator_of(request))})

    @route("/api/notices/<notice_id>/dismiss", "POST")
    def dismiss(request: Request, notice_id: str) -> Response:
        use.dismiss(creator_of(request), notice_id)
        return json_response({"id": notice_id, "dismissed": True})

    @route("/pubsub/payment-events", "POST")
    @_availability_errors
    def payment_events(request: Request) -> Response:
        message = parse_push(request)
        booking_id = message.data.get("booking_id")
        if message.data.get("type") != "payment.succeeded" or not isinstance(booking_id, str):
            return json_response({"ignored": True})
        try:
            bookings.confirm_payment(booking_id)
        except BookingError as exc:
            if exc.status != 404:
                raise
            return json_response({"ignored": "unknown booking"})
        return json_response({"confirmed": booking_id})

    routes = [
        slots,
        book,
        manage,
        reschedule,
        fan_cancel,
        availability,
        offers,
        list_bookings,
        creator_cancel,
        notices,
        dismiss,
        payment_events,
    ]
    if settings.local and isinstance(auth, DevTokenAuth):
        routes += _dev_routes(runtime, auth)
    return routes


def _dev_routes(runtime: Runtime, auth: DevTokenAuth) -> list[Route]:
    """FLO_ENV=local only: these routes do not exist in production."""
    store = runtime.store

    @route("/api/dev/creators", "POST")
    def dev_creator(request: Request) -> Response:
        body = parse_body(request, DevCreatorIn)
        creator_id = uuid.uuid4().hex[:12]
        store.commit(
            [
                put(
                    CREATORS,
                    creator_id,
                    {
                        "email": body.email,
                        "name": body.name,
                        "plan": body.plan,
                        "timezone": body.timezone,
                        "weekly_hours": {},
                        "created_at": runtime.clock.now(),
                    },
                )
            ]
        )
        return json_response({"creator_id": creator_id, "token": auth.issue(creator_id)}, 201)

    @route("/api/dev/payments/<booking_id>/succeed", "POST")
    def dev_payment(request: Request, booking_id: str) -> Response:
        if store.get(BOOKINGS, booking_id) is None:
            raise ApiError(404, "booking_not_found", f"No booking {booking_id!r}.")
        runtime.publisher.publish(PAYMENT_EVENTS, {"type": "payment.succeeded", "booking_id": booking_id})
        return json_response({"published": True, "booking_id": booking_id}, 202)

    return [dev_creator, dev_payment]


def build_app(runtime: Runtime) -> WebApp:
    settings = runtime.settings
    bookings, busy = booking_service_for(runtime)
    auth: CreatorAuth = DevTokenAuth(runtime.store) if settings.local else IdentityPlatformAuth(settings.project_id)
    from services.bookings.pages import page_routes  # the pages build on this module's use cases

    kit = page_kit(runtime, auth)
    pages = [
        *page_routes(kit, BookingUseCases(runtime, bookings, busy)),
        *sign_in_routes(kit, settings.environ),
        *static_routes(kit),
    ]
    return service_app(runtime, [*build_routes(runtime, bookings, busy, auth), *pages])
