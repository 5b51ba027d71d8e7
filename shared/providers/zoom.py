"""Zoom Meetings API adapter (the VideoProvider port), checked against Zoom's OpenAPI document."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from shared.clock import Clock, SystemClock
from shared.providers._http import json_object, send
from shared.providers.errors import ErrorKind, ProviderError
from shared.providers.models import MeetingSpec, ZoomMeeting, ZoomUser, require_zone

_SCHEDULED = 2
_PAGE_SIZE = 300  # Zoom's maximum, so a creator's list is rarely more than one request


def _start_time(spec: MeetingSpec) -> str:
    """Wall time in the creator's zone as Zoom documents; UTC when a DST fold makes the wall time ambiguous."""
    local = spec.start.astimezone(require_zone(spec.timezone))
    if local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset():
        return spec.start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return local.strftime("%Y-%m-%dT%H:%M:%S")


def _meeting(data: dict[str, Any]) -> ZoomMeeting:
    try:
        raw_start = data.get("start_time")
        return ZoomMeeting(
            id=int(data["id"]),
            join_url=str(data["join_url"]),
            start_time=datetime.fromisoformat(raw_start).astimezone(UTC) if raw_start else None,
            duration_minutes=int(data.get("duration", 0)),
            timezone=data.get("timezone"),
            topic=str(data.get("topic") or ""),
            agenda=str(data.get("agenda") or ""),
        )
    except (KeyError, TypeError, ValueError):
        raise ProviderError(ErrorKind.BAD_REQUEST, "zoom", None, None, "unexpected meeting shape") from None


class ZoomClient:
    """Calls on behalf of one creator per call; the access token only ever goes in the Authorization header."""

    def __init__(self, api_url: str, http: httpx.Client, clock: Clock | None = None) -> None:
        self._api = api_url.rstrip("/")
        self._http = http
        self._clock = clock or SystemClock()

    def __repr__(self) -> str:
        return f"ZoomClient({self._api!r})"

    def _call(self, token: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        return send(self._http, "zoom", self._clock, method, self._api + path, headers=headers, **kwargs)

    def get_me(self, token: str) -> ZoomUser:
        data = json_object(self._call(token, "GET", "/users/me"), "zoom")
        return ZoomUser(id=str(data.get("id", "")), email=data.get("email") or None, timezone=data.get("timezone"))

    def create_meeting(self, token: str, spec: MeetingSpec) -> ZoomMeeting:
        body = {
            "topic": spec.topic,
            "type": _SCHEDULED,
            "start_time": _start_time(spec),
            "timezone": spec.timezone,
            "duration": spec.duration_minutes,
            "agenda": spec.agenda,
        }
        return _meeting(json_object(self._call(token, "POST", "/users/me/meetings", json=body), "zoom"))

    def get_meeting(self, token: str, meeting_id: int) -> ZoomMeeting:
        return _meeting(json_object(self._call(token, "GET", f"/meetings/{int(meeting_id)}"), "zoom"))

    def delete_meeting(self, token: str, meeting_id: int) -> None:
        """204 when deleted; a meeting already gone raises NOT_FOUND (code 3001), which callers treat as done."""
        self._call(token, "DELETE", f"/meetings/{int(meeting_id)}")

    def list_meetings(self, token: str) -> list[ZoomMeeting]:
        """Every scheduled (unexpired past, live and upcoming) meeting, all pages; agendas cut to 250 characters."""
        meetings: list[ZoomMeeting] = []
        params: dict[str, str | int] = {"type": "scheduled", "page_size": _PAGE_SIZE}
        while True:
            page = json_object(self._call(token, "GET", "/users/me/meetings", params=params), "zoom")
            meetings.extend(_meeting(item) for item in page.get("meetings") or [] if isinstance(item, dict))
            next_token = page.get("next_page_token")
            if not next_token:
                return meetings
            params["next_page_token"] = str(next_token)
