"""The bookings service's request and response models (contract.md): what its routes parse, answer and
document, and the views that turn use-case results into those answers (the pages render the same views)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.availability import format_slot
from shared.bookings.booking import Booking, Fan
from shared.bookings.model import is_zoom_url
from shared.bookings.notices import Notice
from shared.bookings.service import PAGE_SIZE, Booked
from shared.bookings.slots import OpenSlots
from shared.errors import InvalidInputError
from shared.fields import DocId, Email, HttpsLink, Instant, PlainText, Timezone, WholeNumber
from shared.schemas import QueryIn, StrictIn

MAX_PRICE_CENTS = 1_000_000
"""$10,000: above any session price on Flo, and far below what a payment or an integer could get wrong."""
MAX_RANGES_PER_DAY = 48

Status = Literal["pending_payment", "confirmed", "cancelled"]

IDEMPOTENCY_HEADER = "Idempotency-Key"
"""Optional on `POST /api/public/bookings`: the same key with the same request answers with the booking it made."""
REQUEST_KEY_FIELD = "request_key"
"""The booking form's hidden field carrying a key drawn when the form was shown, for a Confirm pressed twice."""
_REQUEST_KEY = r"[\x21-\x7e]{1,255}"


class BookHeaders(BaseModel):
    idempotency_key: str = Field(
        "",
        alias="Idempotency-Key",
        pattern=f"^{_REQUEST_KEY}$",
        description="Sent again with the same request, answers with the booking it made; with another, 409.",
    )


def request_key(raw: str | None) -> str | None:
    """A client's key for one booking request, or None when it sent none."""
    if raw is None:
        return None
    if not re.fullmatch(_REQUEST_KEY, raw):
        raise InvalidInputError("invalid_idempotency_key", f"{IDEMPOTENCY_HEADER}: 1 to 255 visible ASCII characters.")
    return raw


class FanIn(StrictIn):
    name: Annotated[PlainText, Field(max_length=200)]
    email: Email
    timezone: Timezone | None = None

    def to_fan(self) -> Fan:
        return Fan(name=self.name, email=self.email, timezone=self.timezone)


class BookIn(StrictIn):
    offer_id: DocId
    start: Instant
    fan: FanIn


class RescheduleIn(StrictIn):
    start: Instant


class LinkIn(StrictIn):
    """A join link the creator sets by hand: any https URL (a Zoom or Meet URL gets its chip)."""

    url: HttpsLink


ClockTime = Annotated[
    str, Field(max_length=5, json_schema_extra={"pattern": r"^[0-9]{2}:[0-9]{2}$"}, description="HH:MM, 00:00 to 24:00")
]
"""Checked by shared.availability, which says what is wrong with a time (grid, range, form)."""
ClockRange = Annotated[list[ClockTime], Field(min_length=2, max_length=2, description='["HH:MM", "HH:MM"]')]
DayRanges = list[ClockRange]


class WeeklyHoursIn(StrictIn):
    """Each day a list of ["HH:MM", "HH:MM"] ranges on the 5-minute grid; a missing day has no hours."""

    mon: DayRanges | None = Field(default=None, max_length=MAX_RANGES_PER_DAY)
    tue: DayRanges | None = Field(default=None, max_length=MAX_RANGES_PER_DAY)
    wed: DayRanges | None = Field(default=None, max_length=MAX_RANGES_PER_DAY)
    thu: DayRanges | None = Field(default=None, max_length=MAX_RANGES_PER_DAY)
    fri: DayRanges | None = Field(default=None, max_length=MAX_RANGES_PER_DAY)
    sat: DayRanges | None = Field(default=None, max_length=MAX_RANGES_PER_DAY)
    sun: DayRanges | None = Field(default=None, max_length=MAX_RANGES_PER_DAY)


class AvailabilityIn(StrictIn):
    timezone: Timezone
    weekly_hours: WeeklyHoursIn

    def weekly(self) -> dict[str, list[list[str]]]:
        """The days sent (a day sent as null has no hours), as shared.availability reads them."""
        given = self.weekly_hours.model_dump(exclude_unset=True)
        return {day: [list(r) for r in ranges or []] for day, ranges in given.items()}


class OfferIn(StrictIn):
    title: Annotated[PlainText, Field(max_length=150)]
    duration_minutes: WholeNumber = Field(ge=5, le=1440, multiple_of=5)
    price_cents: WholeNumber = Field(ge=0, le=MAX_PRICE_CENTS)


class DevCreatorIn(StrictIn):
    email: Email
    name: Annotated[PlainText, Field(max_length=200)]
    plan: Literal["free", "creator", "pro", "studio"]
    timezone: Timezone = "UTC"


_DATE: dict[str, Any] = {"format": "date", "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}


class SlotsQuery(QueryIn):
    """Checked by shared.availability.validate_window, which says what is wrong (a real date, from <= to, 90 days)."""

    from_: str = Field(alias="from", max_length=10, json_schema_extra=_DATE, description="First creator-local date")
    to: str = Field(max_length=10, json_schema_extra=_DATE, description="Last creator-local date (included)")


class BookingsQuery(QueryIn):
    scope: Literal["upcoming", "past"] = "upcoming"
    limit: Annotated[str, Field(pattern=r"^(?:[1-9]|[1-9][0-9]|1[0-9][0-9]|200)$")] = str(PAGE_SIZE)
    """Bookings per page, 1 to 200 (MAX_PAGE_SIZE)."""
    cursor: Annotated[str, Field(min_length=1, max_length=1000)] | None = None
    """The previous page's next_cursor."""


# ---- responses -------------------------------------------------------------------------------------------


class SlotOut(BaseModel):
    start: str
    end: str


class SlotsOut(BaseModel):
    timezone: str
    slots: list[SlotOut]
    calendar_checked: bool | None = None
    notice: str | None = None


class BookedOut(BaseModel):
    booking_id: str
    status: Literal["pending_payment", "confirmed"]
    manage_url: str


class FanOut(BaseModel):
    name: str
    email: str


class BookingOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    status: Status
    start: str
    end: str
    timezone: str
    offer_id: str
    offer_title: str | None
    fan: FanOut
    meeting_url: str | None
    video_provider: Literal["zoom", "google_meet"] | None
    zoom_chip: bool
    join_available: bool
    link_status: Literal["pending", "ready", "unavailable"]


class BookingsOut(BaseModel):
    bookings: list[BookingOut]
    next_cursor: str | None
    """Pass as `cursor` for the next page; null on the last page."""


class AvailabilityOut(BaseModel):
    timezone: str
    weekly_hours: dict[str, list[list[str]]]


class OfferCreatedOut(BaseModel):
    offer_id: str


class NoticeOut(BaseModel):
    id: str
    kind: str | None
    booking_id: str | None
    meeting_id: str | int | None
    message: str | None
    created_at: str


class NoticesOut(BaseModel):
    notices: list[NoticeOut]


class DismissedOut(BaseModel):
    id: str
    dismissed: bool


class DevCreatorOut(BaseModel):
    creator_id: str
    token: str


class PaymentPublishedOut(BaseModel):
    published: bool
    booking_id: str


# ---- views -----------------------------------------------------------------------------------------------


def booking_view(booking_id: str, booking: Booking) -> dict[str, Any]:
    """The dashboard's booking, with the chips and flags the product tables describe."""
    return {
        "id": booking_id,
        "status": booking.status,
        "start": booking.start.isoformat(),
        "end": booking.end.isoformat(),
        "timezone": booking.timezone,
        "offer_id": booking.offer_id,
        "offer_title": booking.offer_title,
        "fan": {"name": booking.fan.name, "email": booking.fan.email},
        "meeting_url": booking.meeting_url,
        "video_provider": booking.video_provider,
        "zoom_chip": is_zoom_url(booking.meeting_url),
        "join_available": booking.join_available,
        "link_status": booking.link_status,
    }


def manage_url(base_url: str, manage_token: str) -> str:
    """The fan's link to their booking: in the booking's API answer and on its manage page."""
    return f"{base_url}/manage/{manage_token}"


def booked_view(booked: Booked, base_url: str) -> dict[str, Any]:
    return {
        "booking_id": booked.booking_id,
        "status": booked.status,
        "manage_url": manage_url(base_url, booked.manage_token),
    }


def slots_view(found: OpenSlots) -> dict[str, object]:
    slots = [format_slot(s, found.zone) for s in found.slots]
    body: dict[str, object] = {"timezone": found.zone.key, "slots": slots}
    if not found.calendar_checked:
        body["calendar_checked"] = False
        body["notice"] = "The creator's calendar busy times could not be checked."
    return body


def notice_view(notice: Notice) -> dict[str, Any]:
    return {
        "id": notice.notice_id,
        "kind": notice.kind,
        "booking_id": notice.booking_id,
        "meeting_id": notice.meeting_id,
        "message": notice.message,
        "created_at": notice.created_at.isoformat(),
    }
