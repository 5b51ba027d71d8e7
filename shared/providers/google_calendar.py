"""Google Calendar adapter (the CalendarProvider port) on google-api-python-client's bundled v3 discovery."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import google.oauth2.credentials
import google_auth_httplib2  # type: ignore[import-untyped]
import httplib2
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from shared.clock import Clock, SystemClock
from shared.providers.errors import ErrorKind, ProviderError, classify_google, transport_failure
from shared.providers.models import CalendarEvent, EventSpec, require_aware, require_zone

_CALENDAR = "primary"
_TRANSIENT_FREEBUSY_REASONS = frozenset({"backendError", "internalError"})


def event_id_for(booking_id: str) -> str:
    """The booking's event id: base32hex (Google's alphabet), so a repeated insert answers 409, not a twin event."""
    digest = hashlib.sha256(f"flo-booking:{booking_id}".encode()).digest()
    return base64.b32hexencode(digest).decode("ascii").rstrip("=").lower()


def _when(value: dict[str, Any] | None) -> datetime | None:
    raw = (value or {}).get("dateTime")
    return datetime.fromisoformat(raw).astimezone(UTC) if raw else None


def _event(data: dict[str, Any]) -> CalendarEvent:
    conference = data.get("conferenceData") or {}
    video = [e.get("uri") for e in conference.get("entryPoints", []) if e.get("entryPointType") == "video"]
    status = ((conference.get("createRequest") or {}).get("status") or {}).get("statusCode")
    try:
        return CalendarEvent(
            id=str(data["id"]),
            status=str(data.get("status", "confirmed")),
            hangout_link=data.get("hangoutLink") or (video[0] if video else None),
            meet_pending=status == "pending",
            start=_when(data.get("start")),
            end=_when(data.get("end")),
            summary=str(data.get("summary", "")),
            description=str(data.get("description", "")),
            location=data.get("location"),
        )
    except (KeyError, ValueError):
        raise ProviderError(ErrorKind.BAD_REQUEST, "google", None, None, "unexpected event shape") from None


def _body(spec: EventSpec) -> dict[str, Any]:
    zone = require_zone(spec.timezone)
    return {
        "summary": spec.summary,
        "description": spec.description,
        "location": spec.location,
        "start": {"dateTime": spec.start.astimezone(zone).isoformat(), "timeZone": spec.timezone},
        "end": {"dateTime": spec.end.astimezone(zone).isoformat(), "timeZone": spec.timezone},
    }


def _meet_request(spec: EventSpec) -> dict[str, Any]:
    # The event id doubles as requestId, so a retried insert or patch never asks for a second Meet.
    return {"createRequest": {"requestId": spec.event_id, "conferenceSolutionKey": {"type": "hangoutsMeet"}}}


class GoogleCalendarClient:
    """Calls on the creator's primary calendar with a caller-supplied access token.

    `http_factory` makes a fresh httplib2.Http per call (they are not thread-safe) and sets its
    timeout. The service is built per call from the discovery document bundled with the library,
    so nothing is fetched and nothing is built at import time.
    """

    def __init__(self, api_url: str, http_factory: Callable[[], httplib2.Http], clock: Clock | None = None) -> None:
        self._api_url = api_url
        self._http_factory = http_factory
        self._clock = clock or SystemClock()

    def __repr__(self) -> str:
        return f"GoogleCalendarClient({self._api_url!r})"

    def _events(self, token: str) -> Any:
        return self._service(token).events()

    def _service(self, token: str) -> Any:
        credentials = google.oauth2.credentials.Credentials(token)  # type: ignore[no-untyped-call]
        # No refresh on 401: these credentials cannot refresh, and a 401 must reach the classification.
        http = google_auth_httplib2.AuthorizedHttp(credentials, http=self._http_factory(), refresh_status_codes=())
        return build(
            "calendar",
            "v3",
            http=http,
            client_options={"api_endpoint": self._api_url},
            static_discovery=True,
            cache_discovery=False,
        )

    def _execute(self, request: Any) -> Any:
        try:
            return request.execute()
        except HttpError as exc:
            headers = {str(k): str(v) for k, v in exc.resp.items()}
            raise classify_google(exc.resp.status, headers, exc.content, self._clock.now()) from None
        except (OSError, httplib2.HttpLib2Error) as exc:
            raise transport_failure("google", exc) from exc

    def free_busy(self, token: str, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """Busy ranges (UTC) of the primary calendar; Google refuses windows much over 90 days."""
        require_aware("start", start)
        require_aware("end", end)
        body = {"timeMin": start.isoformat(), "timeMax": end.isoformat(), "items": [{"id": _CALENDAR}]}
        answer = self._execute(self._service(token).freebusy().query(body=body))
        calendar = answer.get("calendars", {}).get(_CALENDAR, {})
        errors = {str(e.get("reason")) for e in calendar.get("errors", [])}
        if errors:
            kind = ErrorKind.TRANSIENT if errors & _TRANSIENT_FREEBUSY_REASONS else ErrorKind.BAD_REQUEST
            raise ProviderError(kind, "google", None, None, f"freeBusy errors {sorted(errors)}")
        return [
            (datetime.fromisoformat(b["start"]).astimezone(UTC), datetime.fromisoformat(b["end"]).astimezone(UTC))
            for b in calendar.get("busy", [])
        ]

    def insert_event(self, token: str, spec: EventSpec) -> CalendarEvent:
        """Insert under the spec's own id; a repeat raises CONFLICT (the event exists: read it instead)."""
        body = {"id": spec.event_id, **_body(spec)}
        extra: dict[str, Any] = {}
        if spec.with_meet:
            body["conferenceData"] = _meet_request(spec)
            extra["conferenceDataVersion"] = 1
        request = self._events(token).insert(calendarId=_CALENDAR, body=body, sendUpdates="none", **extra)
        return _event(self._execute(request))

    def patch_event(self, token: str, spec: EventSpec) -> CalendarEvent:
        """Move or relabel the event; without `with_meet` any Meet is removed (the Zoom link replaces it)."""
        body = {**_body(spec), "conferenceData": _meet_request(spec) if spec.with_meet else None}
        request = self._events(token).patch(
            calendarId=_CALENDAR, eventId=spec.event_id, body=body, conferenceDataVersion=1, sendUpdates="none"
        )
        return _event(self._execute(request))

    def get_event(self, token: str, event_id: str) -> CalendarEvent:
        return _event(self._execute(self._events(token).get(calendarId=_CALENDAR, eventId=event_id)))

    def delete_event(self, token: str, event_id: str) -> None:
        """A deleted or unknown event raises NOT_FOUND (Google answers 410 or 404), which callers treat as done."""
        self._execute(self._events(token).delete(calendarId=_CALENDAR, eventId=event_id, sendUpdates="none"))
