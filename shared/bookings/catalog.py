"""Creators and their offers: the profile, bookable hours and sessions a fan books against."""

from __future__ import annotations

import uuid
from datetime import datetime

from shared.availability import WeeklyHours, parse_weekly_hours, validate_duration
from shared.bookings.model import CREATORS, OFFERS, PLANS_WITH_BOOKINGS, hours_from_doc, hours_to_doc
from shared.clock import Clock
from shared.errors import NotFoundError, NotPermittedError
from shared.store.port import Doc, DocStore, NotFound, put, update


def require_bookings_plan(creator: Doc) -> None:
    if creator.get("plan") not in PLANS_WITH_BOOKINGS:
        raise NotPermittedError("plan_required", "Book a Session needs the Creator, Pro or Studio plan.")


def weekly_hours_of(creator: Doc) -> WeeklyHours:
    """The creator's hours as the slot engine reads them (AvailabilityError when none are set)."""
    return parse_weekly_hours(creator.get("timezone", "UTC"), hours_from_doc(creator.get("weekly_hours", {})))


class Catalog:
    def __init__(self, store: DocStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    def creator(self, creator_id: str) -> Doc | None:
        return self._store.get(CREATORS, creator_id)

    def timezone_of(self, creator_id: str) -> str:
        """The zone a creator's pages show times in (UTC until one is set)."""
        return str((self.creator(creator_id) or {}).get("timezone") or "UTC")

    def public_offer(self, creator_id: str, offer_id: str) -> tuple[Doc, Doc]:
        """(offer, creator) of an offer fans may book: not found unless it is this creator's, not permitted
        without Book a Session."""
        offer, creator = self.offer(offer_id)
        if offer["creator_id"] != creator_id:
            raise NotFoundError("offer_not_found", f"No offer {offer_id!r} for creator {creator_id!r}.")
        require_bookings_plan(creator)
        return offer, creator

    def offer(self, offer_id: str) -> tuple[Doc, Doc]:
        """The offer and its creator."""
        offer = self._store.get(OFFERS, offer_id)
        creator = self._store.get(CREATORS, offer["creator_id"]) if offer else None
        if offer is None or creator is None:
            raise NotFoundError("offer_not_found", f"No offer {offer_id!r}.")
        return offer, creator

    def set_hours(self, creator_id: str, timezone: str, weekly: dict[str, list[list[str]]]) -> None:
        parse_weekly_hours(timezone, weekly)
        try:
            self._store.commit(
                [update(CREATORS, creator_id, {"timezone": timezone, "weekly_hours": hours_to_doc(weekly)})]
            )
        except NotFound:
            raise NotFoundError("creator_not_found", "There is no creator profile for this account.") from None

    def add_offer(self, creator_id: str, title: str, duration_minutes: int, price_cents: int) -> str:
        validate_duration(duration_minutes)
        require_bookings_plan(self.creator(creator_id) or {})
        return new_offer(self._store, creator_id, title, duration_minutes, price_cents, self._clock.now())

    def add_creator(self, email: str, name: str, plan: str, timezone: str) -> str:
        """A creator profile (the local stack's stand-in for Flo's own sign-up)."""
        creator_id = uuid.uuid4().hex[:12]
        profile = {
            "email": email,
            "name": name,
            "plan": plan,
            "timezone": timezone,
            "weekly_hours": {},
            "created_at": self._clock.now(),
        }
        self._store.commit([put(CREATORS, creator_id, profile)])
        return creator_id


def new_offer(
    store: DocStore, creator_id: str, title: str, duration_minutes: int, price_cents: int, now: datetime
) -> str:
    offer_id = uuid.uuid4().hex[:12]
    store.commit(
        [
            put(
                OFFERS,
                offer_id,
                {
                    "creator_id": creator_id,
                    "title": title,
                    "duration_minutes": duration_minutes,
                    "price_cents": price_cents,
                    "created_at": now,
                },
            )
        ]
    )
    return offer_id
