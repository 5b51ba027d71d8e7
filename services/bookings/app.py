"""The bookings service's routes: fans' slots and bookings, manage links, creators' settings and dashboard."""

from __future__ import annotations

from werkzeug.wrappers import Request, Response

from services.bookings.pages import page_routes
from services.bookings.schemas import (
    AvailabilityIn,
    BookIn,
    DevCreatorIn,
    LinkIn,
    OfferIn,
    RescheduleIn,
    booked_view,
    booking_view,
    notice_view,
    slots_view,
)
from shared.auth import DevTokenAuth
from shared.bookings.payments import PAYMENT_SUCCEEDED
from shared.bootstrap import BookingsUseCases, Runtime, bookings_use_cases, page_kit, service_app
from shared.envelope import booking_id_of
from shared.errors import NotFoundError
from shared.pages.kit import static_routes
from shared.pages.signin import sign_in_routes
from shared.web import ApiError, Route, WebApp, json_response, parse_body

SCOPES = ("upcoming", "past")


class BookingRoutes:
    """Thin handlers: each parses the request, calls one use case and answers with its view."""

    def __init__(self, uses: BookingsUseCases) -> None:
        self._uses = uses
        self._bookings = uses.bookings
        self._auth = uses.auth

    def slots(self, request: Request, creator_id: str, offer_id: str) -> Response:
        first, last = request.args.get("from", ""), request.args.get("to", "")
        return json_response(slots_view(self._uses.slots.open_slots(creator_id, offer_id, first, last)))

    def book(self, request: Request) -> Response:
        body = parse_body(request, BookIn)
        booked = self._bookings.book(body.offer_id, body.start, body.fan.to_fan())
        return json_response(booked_view(booked, self._uses.base_url), 201)

    def manage(self, request: Request, token: str) -> Response:
        return json_response(booking_view(*self._bookings.by_manage_token(token)))

    def reschedule(self, request: Request, token: str) -> Response:
        body = parse_body(request, RescheduleIn)
        booking_id, _ = self._bookings.by_manage_token(token)
        return json_response(booking_view(booking_id, self._bookings.reschedule(booking_id, body.start)))

    def fan_cancel(self, request: Request, token: str) -> Response:
        booking_id, _ = self._bookings.by_manage_token(token)
        return json_response(booking_view(booking_id, self._bookings.cancel(booking_id, by="fan")))

    def availability(self, request: Request) -> Response:
        creator_id = self._auth.creator_id(request)
        body = parse_body(request, AvailabilityIn)
        self._uses.catalog.set_hours(creator_id, body.timezone, body.weekly())
        return json_response({"timezone": body.timezone, "weekly_hours": body.weekly()})

    def offers(self, request: Request) -> Response:
        creator_id = self._auth.creator_id(request)
        body = parse_body(request, OfferIn)
        offer_id = self._uses.catalog.add_offer(creator_id, body.title, body.duration_minutes, body.price_cents)
        return json_response({"offer_id": offer_id}, 201)

    def list_bookings(self, request: Request) -> Response:
        creator_id = self._auth.creator_id(request)
        scope = request.args.get("scope", "upcoming")
        if scope not in SCOPES:
            raise ApiError(400, "invalid_scope", "scope must be 'upcoming' or 'past'.")
        rows = self._bookings.listing(creator_id, upcoming=scope == "upcoming")
        return json_response({"bookings": [booking_view(i, b) for i, b in rows]})

    def creator_cancel(self, request: Request, booking_id: str) -> Response:
        creator_id = self._auth.creator_id(request)
        return json_response(booking_view(booking_id, self._bookings.cancel_by_creator(creator_id, booking_id)))

    def set_link(self, request: Request, booking_id: str) -> Response:
        creator_id = self._auth.creator_id(request)
        body = parse_body(request, LinkIn)
        return json_response(booking_view(booking_id, self._bookings.set_link(creator_id, booking_id, str(body.url))))

    def notices(self, request: Request) -> Response:
        creator_id = self._auth.creator_id(request)
        return json_response({"notices": [notice_view(n) for n in self._uses.notices.open_for(creator_id)]})

    def dismiss(self, request: Request, notice_id: str) -> Response:
        self._uses.notices.dismiss(self._auth.creator_id(request), notice_id)
        return json_response({"id": notice_id, "dismissed": True})

    def payment_events(self, request: Request) -> Response:
        booking_id = booking_id_of(request, PAYMENT_SUCCEEDED)
        try:
            self._bookings.confirm_payment(booking_id)
        except NotFoundError:
            return json_response({"ignored": "unknown booking"})
        return json_response({"confirmed": booking_id})


class DevRoutes:
    """FLO_ENV=local only: these routes do not exist in production."""

    def __init__(self, uses: BookingsUseCases, auth: DevTokenAuth) -> None:
        self._uses = uses
        self._auth = auth

    def dev_creator(self, request: Request) -> Response:
        body = parse_body(request, DevCreatorIn)
        creator_id = self._uses.catalog.add_creator(body.email, body.name, body.plan, body.timezone)
        return json_response({"creator_id": creator_id, "token": self._auth.issue(creator_id)}, 201)

    def dev_payment(self, request: Request, booking_id: str) -> Response:
        self._uses.payments.succeed(booking_id)
        return json_response({"published": True, "booking_id": booking_id}, 202)


def build_routes(uses: BookingsUseCases) -> list[Route]:
    r = BookingRoutes(uses)
    routes = [
        Route("/api/public/creators/<creator_id>/offers/<offer_id>/slots", ("GET",), r.slots),
        Route("/api/public/bookings", ("POST",), r.book),
        Route("/api/manage/<token>", ("GET",), r.manage),
        Route("/api/manage/<token>/reschedule", ("POST",), r.reschedule),
        Route("/api/manage/<token>/cancel", ("POST",), r.fan_cancel),
        Route("/api/settings/availability", ("PUT",), r.availability),
        Route("/api/offers", ("POST",), r.offers),
        Route("/api/bookings", ("GET",), r.list_bookings),
        Route("/api/bookings/<booking_id>/cancel", ("POST",), r.creator_cancel),
        Route("/api/bookings/<booking_id>/link", ("PUT",), r.set_link),
        Route("/api/notices", ("GET",), r.notices),
        Route("/api/notices/<notice_id>/dismiss", ("POST",), r.dismiss),
        Route("/pubsub/payment-events", ("POST",), r.payment_events),
    ]
    if uses.local and isinstance(uses.auth, DevTokenAuth):
        dev = DevRoutes(uses, uses.auth)
        routes += [
            Route("/api/dev/creators", ("POST",), dev.dev_creator),
            Route("/api/dev/payments/<booking_id>/succeed", ("POST",), dev.dev_payment),
        ]
    return routes


def build_app(runtime: Runtime) -> WebApp:
    uses = bookings_use_cases(runtime)
    kit = page_kit(runtime)
    pages = [*page_routes(kit, uses), *sign_in_routes(kit, runtime.settings.environ), *static_routes(kit)]
    return service_app(runtime, [*build_routes(uses), *pages])
