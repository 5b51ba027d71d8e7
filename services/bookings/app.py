"""The bookings service's routes: fans' slots and bookings, manage links, creators' settings and dashboard."""

from __future__ import annotations

from werkzeug.wrappers import Request, Response

from services.bookings.schemas import (
    AvailabilityIn,
    BookIn,
    DevCreatorIn,
    OfferIn,
    RescheduleIn,
    booked_view,
    booking_view,
    notice_view,
    slots_view,
)
from shared.auth import DevTokenAuth
from shared.bookings.payments import PAYMENT_SUCCEEDED
from shared.bootstrap import BookingsUseCases, Runtime, bookings_use_cases, service_app
from shared.envelope import booking_id_of
from shared.errors import NotFoundError
from shared.web import ApiError, Route, WebApp, json_response, parse_body, route

SCOPES = ("upcoming", "past")


def build_routes(uses: BookingsUseCases) -> list[Route]:
    bookings, auth = uses.bookings, uses.auth

    @route("/api/public/creators/<creator_id>/offers/<offer_id>/slots")
    def slots(request: Request, creator_id: str, offer_id: str) -> Response:
        found = uses.slots.open_slots(creator_id, offer_id, request.args.get("from", ""), request.args.get("to", ""))
        return json_response(slots_view(found))

    @route("/api/public/bookings", "POST")
    def book(request: Request) -> Response:
        body = parse_body(request, BookIn)
        booked = bookings.book(body.offer_id, body.start, body.fan.to_fan())
        return json_response(booked_view(booked, uses.base_url), 201)

    @route("/api/manage/<token>")
    def manage(request: Request, token: str) -> Response:
        return json_response(booking_view(*bookings.by_manage_token(token)))

    @route("/api/manage/<token>/reschedule", "POST")
    def reschedule(request: Request, token: str) -> Response:
        body = parse_body(request, RescheduleIn)
        booking_id, _ = bookings.by_manage_token(token)
        return json_response(booking_view(booking_id, bookings.reschedule(booking_id, body.start)))

    @route("/api/manage/<token>/cancel", "POST")
    def fan_cancel(request: Request, token: str) -> Response:
        booking_id, _ = bookings.by_manage_token(token)
        return json_response(booking_view(booking_id, bookings.cancel(booking_id, by="fan")))

    @route("/api/settings/availability", "PUT")
    def availability(request: Request) -> Response:
        creator_id = auth.creator_id(request)
        body = parse_body(request, AvailabilityIn)
        uses.catalog.set_hours(creator_id, body.timezone, body.weekly())
        return json_response({"timezone": body.timezone, "weekly_hours": body.weekly()})

    @route("/api/offers", "POST")
    def offers(request: Request) -> Response:
        creator_id = auth.creator_id(request)
        body = parse_body(request, OfferIn)
        offer_id = uses.catalog.add_offer(creator_id, body.title, body.duration_minutes, body.price_cents)
        return json_response({"offer_id": offer_id}, 201)

    @route("/api/bookings")
    def list_bookings(request: Request) -> Response:
        creator_id = auth.creator_id(request)
        scope = request.args.get("scope", "upcoming")
        if scope not in SCOPES:
            raise ApiError(400, "invalid_scope", "scope must be 'upcoming' or 'past'.")
        rows = bookings.listing(creator_id, upcoming=scope == "upcoming")
        return json_response({"bookings": [booking_view(i, b) for i, b in rows]})

    @route("/api/bookings/<booking_id>/cancel", "POST")
    def creator_cancel(request: Request, booking_id: str) -> Response:
        creator_id = auth.creator_id(request)
        return json_response(booking_view(booking_id, bookings.cancel_by_creator(creator_id, booking_id)))

    @route("/api/notices")
    def notices(request: Request) -> Response:
        creator_id = auth.creator_id(request)
        return json_response({"notices": [notice_view(n) for n in uses.notices.open_for(creator_id)]})

    @route("/api/notices/<notice_id>/dismiss", "POST")
    def dismiss(request: Request, notice_id: str) -> Response:
        uses.notices.dismiss(auth.creator_id(request), notice_id)
        return json_response({"id": notice_id, "dismissed": True})

    @route("/pubsub/payment-events", "POST")
    def payment_events(request: Request) -> Response:
        booking_id = booking_id_of(request, PAYMENT_SUCCEEDED)
        try:
            bookings.confirm_payment(booking_id)
        except NotFoundError:
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
    if uses.local and isinstance(auth, DevTokenAuth):
        routes += _dev_routes(uses, auth)
    return routes


def _dev_routes(uses: BookingsUseCases, auth: DevTokenAuth) -> list[Route]:
    """FLO_ENV=local only: these routes do not exist in production."""

    @route("/api/dev/creators", "POST")
    def dev_creator(request: Request) -> Response:
        body = parse_body(request, DevCreatorIn)
        creator_id = uses.catalog.add_creator(body.email, body.name, body.plan, body.timezone)
        return json_response({"creator_id": creator_id, "token": auth.issue(creator_id)}, 201)

    @route("/api/dev/payments/<booking_id>/succeed", "POST")
    def dev_payment(request: Request, booking_id: str) -> Response:
        uses.payments.succeed(booking_id)
        return json_response({"published": True, "booking_id": booking_id}, 202)

    return [dev_creator, dev_payment]


def build_app(runtime: Runtime) -> WebApp:
    return service_app(runtime, build_routes(bookings_use_cases(runtime)))
