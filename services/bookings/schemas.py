"""The bookings service's request bodies and response shapes (contract.md): one place for both."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AnyUrl, AwareDatetime, BaseModel, EmailStr, Field, UrlConstraints, field_validator

from shared.availability import format_slot, parse_weekly_hours
from shared.bookings.booking import Booking, Fan
from shared.bookings.model import is_zoom_url
from shared.bookings.notices import Notice
from shared.bookings.service import Booked
from shared.bookings.slots import OpenSlots


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

    def to_fan(self) -> Fan:
        return Fan(name=self.name, email=self.email, timezone=self.timezone)


class BookIn(BaseModel):
    offer_id: str = Field(min_length=1)
    start: BookableStart
    fan: FanIn


class RescheduleIn(BaseModel):
    start: BookableStart


HttpsLink = Annotated[AnyUrl, UrlConstraints(max_length=2048, allowed_schemes=["https"], host_required=True)]


class LinkIn(BaseModel):
    """A join link the creator sets by hand: any https URL (a Zoom or Meet URL gets its chip)."""

    url: HttpsLink

    @field_validator("url")
    @classmethod
    def _no_credentials(cls, value: AnyUrl) -> AnyUrl:
        if value.username or value.password:
            raise ValueError("the link must not carry a user name or password")
        return value


class AvailabilityIn(BaseModel):
    timezone: str
    weekly_hours: dict[str, list[tuple[str, str]]]

    def weekly(self) -> dict[str, list[list[str]]]:
        return {day: [list(r) for r in ranges] for day, ranges in self.weekly_hours.items()}


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
