"""The bookings service's routes: fans' slots and bookings, manage links, creators' settings and dashboard."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

from werkzeug.wrappers import Request, Response

from services.bookings.schemas import (
    AvailabilityIn,
    AvailabilityOut,
    BookedOut,
    BookIn,
    BookingOut,
    BookingsOut,
    BookingsQuery,
    DevCreatorIn,
    DevCreatorOut,
    DismissedOut,
    NoticeOut,
    NoticesOut,
    OfferCreatedOut,
    OfferIn,
    PaymentPublishedOut,
    RescheduleIn,
    SlotOut,
    SlotsOut,
    SlotsQuery,
)
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
    BookingError,
    BookingService,
    BusyTimes,
    new_offer,
    require_bookings_plan,
)
from shared.bookings.wiring import booking_service_for
from shared.bootstrap import Runtime, service_app
from shared.envelope import parse_push
from shared.openapi import document_route
from shared.schemas import Ack, PushEnvelopeIn
from shared.store.ids import is_storable_id
from shared.store.port import NotFound, Where, put, update
from shared.web import ApiError, Auth, Route, WebApp, json_response, parse_body, parse_query, respond, route

PAYMENT_EVENTS = "payment-events"
CREATOR: Auth = "creator"


def _availability_errors(fn: Callable[..., Response]) -> Callable[..., Response]:
    def wrapped(request: Request, **kwargs: str) -> Response:
        try:
            return fn(request, **kwargs)
        except AvailabilityError as exc:
            raise ApiError(400, "invalid_availability", str(exc)) from None

    return wrapped


def build_routes(runtime: Runtime, bookings: BookingService, busy: BusyTimes, auth: CreatorAuth) -> list[Route]:
    store, clock, settings = runtime.store, runtime.clock, runtime.settings

    def creator_of(request: Request) -> str:
        return auth.creator_id(request)

    @route(
        "/api/public/creators/<creator_id>/offers/<offer_id>/slots",
        summary="Free slots of an offer between two creator-local dates (at most 90 days)",
        query=SlotsQuery,
        responses={200: SlotsOut},
    )
    @_availability_errors
    def slots(request: Request, creator_id: str, offer_id: str) -> Response:
        query = parse_query(request, SlotsQuery)
        offer, creator = bookings.load_offer(offer_id)
        if offer["creator_id"] != creator_id:
            raise ApiError(404, "offer_not_found", f"No offer {offer_id!r} for creator {creator_id!r}.")
        require_bookings_plan(creator)
        first, last = validate_window(query.from_, query.to)
        hours = parse_weekly_hours(creator.get("timezone", "UTC"), hours_from_doc(creator.get("weekly_hours", {})))
        low, high = window_bounds(hours, first, last)
        found = busy.busy(creator_id, low, high)
        taken = store.query(BOOKINGS, [Where("creator_id", "==", creator_id), Where("start", "<", high)])
        now = clock.now()
        blockers = [*found.intervals]
        for _, doc in taken:
            held = doc["status"] == "pending_payment" and doc.get("hold_expires_at") and doc["hold_expires_at"] > now
            if (doc["status"] == "confirmed" or held) and doc["end"] > low:
                blockers.append(Interval(doc["start"], doc["end"]))
        horizon = now + timedelta(days=settings.booking_horizon_days)
        free = compute_slots(
            hours, timedelta(minutes=int(offer["duration_minutes"])), first, last, now, tuple(blockers)
        )
        answer = SlotsOut(
            timezone=hours.zone.key,
            slots=[SlotOut(**format_slot(s, hours.zone)) for s in free if s.start <= horizon],
        )
        if not found.checked:
            answer.calendar_checked = False
            answer.notice = "The creator's calendar busy times could not be checked."
        return respond(answer)

    @route(
        "/api/public/bookings",
        "POST",
        summary="Book a slot (free offers confirm at once; paid ones are held for payment)",
        body=BookIn,
        responses={201: BookedOut},
    )
    @_availability_errors
    def book(request: Request) -> Response:
        body = parse_body(request, BookIn)
        result = bookings.book(body.offer_id, body.start, body.fan.model_dump(exclude_unset=True))
        manage_url = f"{settings.base_url}/manage/{result.manage_token}"
        booked = {"booking_id": result.booking_id, "status": result.status, "manage_url": manage_url}
        return respond(BookedOut.model_validate(booked), 201)

    def booking_out(booking_id: str, doc: dict[str, object]) -> Response:
        return respond(BookingOut.model_validate(booking_view(booking_id, doc)))

    @route("/api/manage/<token>", summary="The fan's booking behind a manage link", responses={200: BookingOut})
    @_availability_errors
    def manage(request: Request, token: str) -> Response:
        return booking_out(*bookings.by_manage_token(token))

    @route(
        "/api/manage/<token>/reschedule",
        "POST",
        summary="The fan moves the booking to another free slot (not once the session has started)",
        body=RescheduleIn,
        responses={200: BookingOut},
    )
    @_availability_errors
    def reschedule(request: Request, token: str) -> Response:
        body = parse_body(request, RescheduleIn)
        booking_id, _ = bookings.by_manage_token(token)
        return booking_out(booking_id, bookings.reschedule(booking_id, body.start))

    @route(
        "/api/manage/<token>/cancel",
        "POST",
        summary="The fan cancels the booking (not once the session has started)",
        responses={200: BookingOut},
    )
    @_availability_errors
    def fan_cancel(request: Request, token: str) -> Response:
        booking_id, _ = bookings.by_manage_token(token)
        return booking_out(booking_id, bookings.cancel(booking_id, by="fan"))

    @route(
        "/api/settings/availability",
        "PUT",
        summary="The creator's timezone and weekly hours",
        body=AvailabilityIn,
        responses={200: AvailabilityOut},
        auth=CREATOR,
    )
    @_availability_errors
    def availability(request: Request) -> Response:
        creator_id = creator_of(request)
        body = parse_body(request, AvailabilityIn)
        given = body.weekly_hours.model_dump(exclude_unset=True)
        weekly = {day: [list(r) for r in ranges or []] for day, ranges in given.items()}
        parse_weekly_hours(body.timezone, weekly)
        try:
            store.commit(
                [update(CREATORS, creator_id, {"timezone": body.timezone, "weekly_hours": hours_to_doc(weekly)})]
            )
        except NotFound:
            raise ApiError(404, "creator_not_found", "There is no creator profile for this account.") from None
        return respond(AvailabilityOut(timezone=body.timezone, weekly_hours=weekly))

    @route(
        "/api/offers",
        "POST",
        summary="A new Book a Session offer",
        body=OfferIn,
        responses={201: OfferCreatedOut},
        auth=CREATOR,
    )
    @_availability_errors
    def offers(request: Request) -> Response:
        creator_id = creator_of(request)
        body = parse_body(request, OfferIn)
        validate_duration(body.duration_minutes)
        creator = store.get(CREATORS, creator_id) or {}
        require_bookings_plan(creator)
        offer_id = new_offer(store, creator_id, body.title, body.duration_minutes, body.price_cents, clock.now())
        return respond(OfferCreatedOut(offer_id=offer_id), 201)

    @route(
        "/api/bookings",
        summary="The creator's upcoming or past bookings",
        query=BookingsQuery,
        responses={200: BookingsOut},
        auth=CREATOR,
    )
    def list_bookings(request: Request) -> Response:
        creator_id = creator_of(request)
        scope = parse_query(request, BookingsQuery).scope
        now = clock.now()
        rows = store.query(BOOKINGS, [Where("creator_id", "==", creator_id)], order_by="start")
        chosen = [(i, d) for i, d in rows if (d["end"] > now) == (scope == "upcoming")]
        return respond(BookingsOut(bookings=[BookingOut.model_validate(booking_view(i, d)) for i, d in chosen]))

    @route(
        "/api/bookings/<booking_id>/cancel",
        "POST",
        summary="The creator cancels a booking (also one that has started)",
        responses={200: BookingOut},
        auth=CREATOR,
    )
    @_availability_errors
    def creator_cancel(request: Request, booking_id: str) -> Response:
        creator_id = creator_of(request)
        if bookings.get(booking_id)["creator_id"] != creator_id:
            raise ApiError(404, "booking_not_found", f"No booking {booking_id!r}.")
        return booking_out(booking_id, bookings.cancel(booking_id, by="creator"))

    @route("/api/notices", summary="The creator's notices not dismissed", responses={200: NoticesOut}, auth=CREATOR)
    def notices(request: Request) -> Response:
        creator_id = creator_of(request)
        rows = store.query(NOTICES, [Where("creator_id", "==", creator_id), Where("dismissed", "==", False)])
        items = [
            NoticeOut(
                id=i,
                kind=d.get("kind"),
                booking_id=d.get("booking_id"),
                meeting_id=d.get("meeting_id"),
                message=d.get("message"),
                created_at=d["created_at"].isoformat(),
            )
            for i, d in sorted(rows, key=lambda r: r[1]["created_at"])
        ]
        return respond(NoticesOut(notices=items))

    @route(
        "/api/notices/<notice_id>/dismiss",
        "POST",
        summary="Dismiss a notice",
        responses={200: DismissedOut},
        auth=CREATOR,
    )
    def dismiss(request: Request, notice_id: str) -> Response:
        creator_id = creator_of(request)
        notice = store.get(NOTICES, notice_id)
        if notice is None or notice["creator_id"] != creator_id:
            raise ApiError(404, "notice_not_found", f"No notice {notice_id!r}.")
        store.commit([update(NOTICES, notice_id, {"dismissed": True})])
        return respond(DismissedOut(id=notice_id, dismissed=True))

    @route(
        "/pubsub/payment-events",
        "POST",
        summary="Pub/Sub push: Flo Payments says a payment succeeded",
        body=PushEnvelopeIn,
        responses={200: Ack},
    )
    @_availability_errors
    def payment_events(request: Request) -> Response:
        message = parse_push(request)
        booking_id = message.data.get("booking_id")
        if message.data.get("type") != "payment.succeeded" or not is_storable_id(booking_id):
            return json_response({"ignored": True})
        try:
            bookings.confirm_payment(str(booking_id))
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
        document_route(),
    ]
    if settings.local and isinstance(auth, DevTokenAuth):
        routes += _dev_routes(runtime, auth)
    return routes


def _dev_routes(runtime: Runtime, auth: DevTokenAuth) -> list[Route]:
    """FLO_ENV=local only: these routes do not exist in production."""
    store = runtime.store

    @route(
        "/api/dev/creators",
        "POST",
        summary="Local only: a creator and its API token",
        body=DevCreatorIn,
        responses={201: DevCreatorOut},
    )
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
        return respond(DevCreatorOut(creator_id=creator_id, token=auth.issue(creator_id)), 201)

    @route(
        "/api/dev/payments/<booking_id>/succeed",
        "POST",
        summary="Local only: publish a booking's payment confirmation as Flo Payments would",
        responses={202: PaymentPublishedOut},
    )
    def dev_payment(request: Request, booking_id: str) -> Response:
        if store.get(BOOKINGS, booking_id) is None:
            raise ApiError(404, "booking_not_found", f"No booking {booking_id!r}.")
        runtime.publisher.publish(PAYMENT_EVENTS, {"type": "payment.succeeded", "booking_id": booking_id})
        return respond(PaymentPublishedOut(published=True, booking_id=booking_id), 202)

    return [dev_creator, dev_payment]


def build_app(runtime: Runtime) -> WebApp:
    settings = runtime.settings
    bookings, busy = booking_service_for(runtime)
    auth: CreatorAuth = DevTokenAuth(runtime.store) if settings.local else IdentityPlatformAuth(settings.project_id)
    return service_app(runtime, build_routes(runtime, bookings, busy, auth))
