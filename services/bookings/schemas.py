"""The bookings service's request and response models: what its routes parse, answer and document."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.fields import DocId, Email, Instant, PlainText, Timezone, WholeNumber
from shared.schemas import QueryIn, StrictIn

MAX_PRICE_CENTS = 1_000_000
"""$10,000: above any session price on Flo, and far below what a payment or an integer could get wrong."""
MAX_RANGES_PER_DAY = 48

Status = Literal["pending_payment", "confirmed", "cancelled"]


class FanIn(StrictIn):
    name: Annotated[PlainText, Field(max_length=200)]
    email: Email
    timezone: Timezone | None = None


class BookIn(StrictIn):
    offer_id: DocId
    start: Instant
    fan: FanIn


class RescheduleIn(StrictIn):
    start: Instant


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
