"""The bookings service's routes: fans' slots and bookings, manage links, creators' settings and dashboard."""

from __future__ import annotations

from werkzeug.wrappers import Request, Response

from services.bookings.pages import page_routes
from services.bookings.schemas import (
    IDEMPOTENCY_HEADER,
    AvailabilityIn,
    AvailabilityOut,
    BookedOut,
    BookHeaders,
    BookIn,
    BookingOut,
    BookingsOut,
    BookingsQuery,
    DevCreatorIn,
    DevCreatorOut,
    DismissedOut,
    LinkIn,
    NoticesOut,
    OfferCreatedOut,
    OfferIn,
    PaymentPublishedOut,
    RescheduleIn,
    SlotsOut,
    SlotsQuery,
    booked_view,
    booking_view,
    notice_view,
    request_key,
    slots_view,
)
from shared.auth import DevTokenAuth
from shared.bookings.booking import Booking
from shared.bookings.payments import PAYMENT_SUCCEEDED
from shared.bootstrap import BookingsUseCases, Runtime, bookings_use_cases, page_kit, service_app
from shared.envelope import booking_id_of
from shared.errors import NotFoundError
from shared.openapi import document_route
from shared.pages.kit import static_routes
from shared.pages.signin import sign_in_routes
from shared.schemas import PUSH_ANSWERS, PushEnvelopeIn
from shared.web import Auth, Route, WebApp, as_pages, json_response, parse_body, parse_query, respond

CREATOR: Auth = "creator"


def _booking_out(booking_id: str, booking: Booking) -> Response:
    return respond(BookingOut.model_validate(booking_view(booking_id, booking)))


class BookingRoutes:
    """Thin handlers: each parses the request, calls one use case and answers with its view."""

    def __init__(self, uses: BookingsUseCases) -> None:
        self._uses = uses
        self._bookings = uses.bookings
        self._auth = uses.auth

    def slots(self, request: Request, creator_id: str, offer_id: str) -> Response:
        query = parse_query(request, SlotsQuery)
        found = self._uses.slots.open_slots(creator_id, offer_id, query.from_, query.to)
        return respond(SlotsOut.model_validate(slots_view(found)))

    def book(self, request: Request) -> Response:
        body = parse_body(request, BookIn)
        key = request_key(request.headers.get(IDEMPOTENCY_HEADER))
        booked = self._bookings.book(body.offer_id, body.start, body.fan.to_fan(), key)
        return respond(BookedOut.model_validate(booked_view(booked, self._uses.base_url)), 201)

    def manage(self, request: Request, token: str) -> Response:
        return _booking_out(*self._bookings.by_manage_token(token))

    def reschedule(self, request: Request, token: str) -> Response:
        body = parse_body(request, RescheduleIn)
        booking_id, _ = self._bookings.by_manage_token(token)
        return _booking_out(booking_id, self._bookings.reschedule(booking_id, body.start))

    def fan_cancel(self, request: Request, token: str) -> Response:
        booking_id, _ = self._bookings.by_manage_token(token)
        return _booking_out(booking_id, self._bookings.cancel(booking_id, by="fan"))

    def availability(self, request: Request) -> Response:
        creator_id = self._auth.creator_id(request)
        body = parse_body(request, AvailabilityIn)
        self._uses.catalog.set_hours(creator_id, body.timezone, body.weekly())
        return respond(AvailabilityOut(timezone=body.timezone, weekly_hours=body.weekly()))

    def offers(self, request: Request) -> Response:
        creator_id = self._auth.creator_id(request)
        body = parse_body(request, OfferIn)
        offer_id = self._uses.catalog.add_offer(creator_id, body.title, body.duration_minutes, body.price_cents)
        return respond(OfferCreatedOut(offer_id=offer_id), 201)

    def list_bookings(self, request: Request) -> Response:
        creator_id = self._auth.creator_id(request)
        query = parse_query(request, BookingsQuery)
        page = self._bookings.listing(
            creator_id, upcoming=query.scope == "upcoming", size=int(query.limit), after=query.cursor
        )
        bookings = [booking_view(i, b) for i, b in page.rows]
        return respond(BookingsOut.model_validate({"bookings": bookings, "next_cursor": page.next_cursor}))

    def creator_cancel(self, request: Request, booking_id: str) -> Response:
        creator_id = self._auth.creator_id(request)
        return _booking_out(booking_id, self._bookings.cancel_by_creator(creator_id, booking_id))

    def set_link(self, request: Request, booking_id: str) -> Response:
        creator_id = self._auth.creator_id(request)
        body = parse_body(request, LinkIn)
        return _booking_out(booking_id, self._bookings.set_link(creator_id, booking_id, body.url))

    def notices(self, request: Request) -> Response:
        creator_id = self._auth.creator_id(request)
        found = [notice_view(n) for n in self._uses.notices.open_for(creator_id)]
        return respond(NoticesOut.model_validate({"notices": found}))

    def dismiss(self, request: Request, notice_id: str) -> Response:
        self._uses.notices.dismiss(self._auth.creator_id(request), notice_id)
        return respond(DismissedOut(id=notice_id, dismissed=True))

    def payment_events(self, request: Request) -> Response:
        booking_id = booking_id_of(request, PAYMENT_SUCCEEDED)
        try:
            booking = self._uses.payment_confirmations.succeeded(booking_id)
        except NotFoundError:
            return json_response({"ignored": "unknown booking"})
        if booking.change == "slot_lost":
            return json_response({"refund_requested": booking_id})
        return json_response({"confirmed": booking_id})


class DevRoutes:
    """FLO_ENV=local only: these routes do not exist in production."""

    def __init__(self, uses: BookingsUseCases, auth: DevTokenAuth) -> None:
        self._uses = uses
        self._auth = auth

    def dev_creator(self, request: Request) -> Response:
        body = parse_body(request, DevCreatorIn)
        creator_id = self._uses.catalog.add_creator(body.email, body.name, body.plan, body.timezone)
        return respond(DevCreatorOut(creator_id=creator_id, token=self._auth.issue(creator_id)), 201)

    def dev_payment(self, request: Request, booking_id: str) -> Response:
        self._uses.payments.succeed(booking_id)
        return respond(PaymentPublishedOut(published=True, booking_id=booking_id), 202)


def build_routes(uses: BookingsUseCases) -> list[Route]:
    r = BookingRoutes(uses)
    routes = [
        Route(
            "/api/public/creators/<creator_id>/offers/<offer_id>/slots",
            ("GET",),
            r.slots,
            summary="Free slots of an offer between two creator-local dates (at most 90 days)",
            query=SlotsQuery,
            responses={200: SlotsOut},
        ),
        Route(
            "/api/public/bookings",
            ("POST",),
            r.book,
            summary="Book a slot (free offers confirm at once; paid ones are held for payment)",
            body=BookIn,
            headers=BookHeaders,
            responses={201: BookedOut},
        ),
        Route(
            "/api/manage/<token>",
            ("GET",),
            r.manage,
            summary="The fan's booking behind a manage link",
            responses={200: BookingOut},
        ),
        Route(
            "/api/manage/<token>/reschedule",
            ("POST",),
            r.reschedule,
            summary="The fan moves the booking to another free slot (not once the session has started)",
            body=RescheduleIn,
            responses={200: BookingOut},
        ),
        Route(
            "/api/manage/<token>/cancel",
            ("POST",),
            r.fan_cancel,
            summary="The fan cancels the booking (not once the session has started)",
            responses={200: BookingOut},
        ),
        Route(
            "/api/settings/availability",
            ("PUT",),
            r.availability,
            summary="The creator's timezone and weekly hours",
            body=AvailabilityIn,
            responses={200: AvailabilityOut},
            auth=CREATOR,
        ),
        Route(
            "/api/offers",
            ("POST",),
            r.offers,
            summary="A new Book a Session offer",
            body=OfferIn,
            responses={201: OfferCreatedOut},
            auth=CREATOR,
        ),
        Route(
            "/api/bookings",
            ("GET",),
            r.list_bookings,
            summary="The creator's upcoming or past bookings",
            query=BookingsQuery,
            responses={200: BookingsOut},
            auth=CREATOR,
        ),
        Route(
            "/api/bookings/<booking_id>/cancel",
            ("POST",),
            r.creator_cancel,
            summary="The creator cancels a booking (also one that has started)",
            responses={200: BookingOut},
            auth=CREATOR,
        ),
        Route(
            "/api/bookings/<booking_id>/link",
            ("PUT",),
            r.set_link,
            summary="The creator sets or replaces the join link of one upcoming booking (any https URL)",
            body=LinkIn,
            responses={200: BookingOut},
            auth=CREATOR,
        ),
        Route(
            "/api/notices",
            ("GET",),
            r.notices,
            summary="The creator's notices not dismissed",
            responses={200: NoticesOut},
            auth=CREATOR,
        ),
        Route(
            "/api/notices/<notice_id>/dismiss",
            ("POST",),
            r.dismiss,
            summary="Dismiss a notice",
            responses={200: DismissedOut},
            auth=CREATOR,
        ),
        Route(
            "/pubsub/payment-events",
            ("POST",),
            r.payment_events,
            summary="Pub/Sub push: Flo Payments says a payment succeeded",
            body=PushEnvelopeIn,
            responses=PUSH_ANSWERS,
        ),
        document_route(),
    ]
    if uses.local and isinstance(uses.auth, DevTokenAuth):
        dev = DevRoutes(uses, uses.auth)
        routes += [
            Route(
                "/api/dev/creators",
                ("POST",),
                dev.dev_creator,
                summary="Local only: a creator and its API token",
                body=DevCreatorIn,
                responses={201: DevCreatorOut},
            ),
            Route(
                "/api/dev/payments/<booking_id>/succeed",
                ("POST",),
                dev.dev_payment,
                summary="Local only: publish a booking's payment confirmation as Flo Payments would",
                responses={202: PaymentPublishedOut},
            ),
        ]
    return routes


def build_app(runtime: Runtime) -> WebApp:
    uses = bookings_use_cases(runtime)
    kit = page_kit(runtime)
    pages = as_pages([*page_routes(kit, uses), *sign_in_routes(kit, runtime.settings.environ), *static_routes(kit)])
    return service_app(runtime, [*build_routes(uses), *pages])
