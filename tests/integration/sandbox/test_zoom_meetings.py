"""Zoom meetings life cycle, validation, 404s and the per-user daily write limit."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from devstack.sandbox.client import SandboxControl
from tests.integration.sandbox.helpers import ZoomTokens, zoom_connect

MEETING = {
    "topic": "Session with Fan",
    "type": 2,
    "start_time": "2030-03-01T15:00:00Z",
    "duration": 45,
    "timezone": "Europe/Berlin",
    "agenda": "Book a Session",
    "settings": {"join_before_host": True},
}


def _create(http: httpx.Client, base_url: str, zoom: ZoomTokens, body: Any, user: str = "me") -> httpx.Response:
    return http.post(f"{base_url}/zoom/v2/users/{user}/meetings", headers=zoom.headers, json=body)


def test_meeting_life_cycle(http: httpx.Client, base_url: str, control: SandboxControl, zoom: ZoomTokens) -> None:
    created = _create(http, base_url, zoom, MEETING)
    assert created.status_code == 201
    meeting = created.json()
    meeting_id = meeting["id"]
    assert isinstance(meeting_id, int) and meeting_id > 2**33
    assert meeting["join_url"].startswith(f"https://us05web.zoom.us/j/{meeting_id}?pwd=")
    assert meeting["start_time"] == "2030-03-01T15:00:00Z"
    assert meeting["host_email"] == "host@example.com"
    assert meeting["settings"]["join_before_host"] is True
    assert [m["id"] for m in control.zoom_meetings("host@example.com")["host@example.com"]] == [meeting_id]

    url = f"{base_url}/zoom/v2/meetings/{meeting_id}"
    assert http.get(url, headers=zoom.headers).json()["topic"] == "Session with Fan"
    patched = http.patch(url, headers=zoom.headers, json={"start_time": "2030-03-02T09:30:00", "duration": 60})
    assert patched.status_code == 204
    again = http.get(url, headers=zoom.headers).json()
    # Wall time in the meeting's timezone (Berlin, UTC+1 in March) comes back in UTC.
    assert (again["start_time"], again["duration"]) == ("2030-03-02T08:30:00Z", 60)

    assert http.delete(url, headers=zoom.headers).status_code == 204
    gone = http.delete(url, headers=zoom.headers)
    assert gone.status_code == 404
    assert gone.json() == {"code": 3001, "message": f"Meeting does not exist: {meeting_id}."}
    assert http.get(url, headers=zoom.headers).status_code == 404
    assert control.zoom_meetings() == {}


def test_user_id_may_be_me_id_or_email(http: httpx.Client, base_url: str, zoom: ZoomTokens) -> None:
    me = http.get(base_url + "/zoom/v2/users/me", headers=zoom.headers).json()
    assert _create(http, base_url, zoom, MEETING, me["id"]).status_code == 201
    assert _create(http, base_url, zoom, MEETING, "host@example.com").status_code == 201
    assert _create(http, base_url, zoom, MEETING, "someone@else.com").status_code == 404


def test_other_users_meetings_are_invisible(http: httpx.Client, base_url: str, zoom: ZoomTokens) -> None:
    meeting_id = _create(http, base_url, zoom, MEETING).json()["id"]
    other = zoom_connect(http, base_url, "other@example.com")
    assert http.get(f"{base_url}/zoom/v2/meetings/{meeting_id}", headers=other.headers).json()["code"] == 3001


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"type": 4}, "type"),
        ({"duration": 0}, "duration"),
        ({"duration": 1441}, "duration"),
        ({"duration": "30"}, "duration"),
        ({"topic": "x" * 201}, "topic"),
        ({"agenda": "x" * 2001}, "agenda"),
        ({"start_time": "2030-03-01 15:00"}, "start_time"),
        ({"start_time": "2030-03-01T15:00:00+01:00"}, "start_time"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
    ],
)
def test_invalid_bodies_get_code_300(
    http: httpx.Client, base_url: str, zoom: ZoomTokens, change: dict[str, Any], field: str
) -> None:
    answer = _create(http, base_url, zoom, {**MEETING, **change})
    assert answer.status_code == 400
    body = answer.json()
    assert body["code"] == 300
    assert [e["field"] for e in body["errors"]] == [field]


def test_non_object_body_gets_code_300(http: httpx.Client, base_url: str, zoom: ZoomTokens) -> None:
    answer = http.post(base_url + "/zoom/v2/users/me/meetings", headers=zoom.headers, content=b"[1]")
    assert answer.status_code == 400
    assert answer.json()["code"] == 300


def test_list_pages_with_next_page_token(http: httpx.Client, base_url: str, zoom: ZoomTokens) -> None:
    made = [_create(http, base_url, zoom, {**MEETING, "topic": f"m{i}"}).json()["id"] for i in range(5)]
    seen: list[int] = []
    params = {"page_size": "2"}
    while True:
        page = http.get(base_url + "/zoom/v2/users/me/meetings", headers=zoom.headers, params=params).json()
        assert page["total_records"] == 5 and page["page_size"] == 2
        seen += [m["id"] for m in page["meetings"]]
        assert {"id", "uuid", "topic", "start_time", "duration", "timezone", "join_url", "created_at"} <= set(
            page["meetings"][0]
        )
        if not page["next_page_token"]:
            break
        params = {"page_size": "2", "next_page_token": page["next_page_token"]}
    assert sorted(seen) == sorted(made)


def test_daily_write_limit_answers_429_until_utc_midnight(
    http: httpx.Client, base_url: str, control: SandboxControl, zoom: ZoomTokens
) -> None:
    control.set_clock("2030-01-10T12:00:00+00:00")
    control.settings(zoom_daily_write_limit=3)
    fresh = zoom_connect(http, base_url, "host@example.com")
    meeting_id = _create(http, base_url, fresh, MEETING).json()["id"]
    assert _create(http, base_url, fresh, MEETING).status_code == 201
    url = f"{base_url}/zoom/v2/meetings/{meeting_id}"
    assert http.patch(url, headers=fresh.headers, json={"topic": "moved"}).status_code == 204
    limited = _create(http, base_url, fresh, MEETING)
    assert limited.status_code == 429
    assert limited.json() == {
        "code": 429,
        "message": "You have exceeded the daily rate limit (3) of Meeting Create/Update API requests "
        "permitted for this particular user. You may resume these requests at GMT 00:00:00.",
    }
    assert limited.headers["Retry-After"] == "2030-01-11T00:00:00Z"
    assert limited.headers["X-RateLimit-Type"] == "Daily-limit"
    assert http.patch(url, headers=fresh.headers, json={"topic": "x"}).status_code == 429
    # Reads and deletes are not limited; another user has their own budget.
    assert http.get(url, headers=fresh.headers).status_code == 200
    other = zoom_connect(http, base_url, "other@example.com")
    assert _create(http, base_url, other, MEETING).status_code == 201

    control.set_clock("2030-01-11T00:00:01+00:00")
    fresh = zoom_connect(http, base_url, "host@example.com")
    assert _create(http, base_url, fresh, MEETING).status_code == 201


def test_rate_limit_headers_can_be_left_out(
    http: httpx.Client, base_url: str, control: SandboxControl, zoom: ZoomTokens
) -> None:
    control.settings(zoom_daily_write_limit=0, zoom_rate_limit_headers=False)
    limited = _create(http, base_url, zoom, MEETING)
    assert limited.status_code == 429
    assert "Retry-After" not in limited.headers
    assert "daily rate limit (0)" in limited.json()["message"]
