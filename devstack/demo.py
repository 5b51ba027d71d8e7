"""`make demo`: one scripted booking through a running local stack, printed step by step.

Creates a creator, connects Zoom and Google Calendar through the sandbox's consent pages, books the
first free slot, waits for the link, reschedules, cancels, and lists the emails the mail sink got.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from devstack.sandbox.client import SandboxControl, authorize

STATE = Path(__file__).resolve().parent.parent / ".run" / "stack.json"


def _wait_link(http: httpx.Client, headers: dict[str, str], booking_id: str) -> dict[str, Any]:
    for _ in range(120):
        found = {b["id"]: b for b in http.get("/api/bookings", headers=headers).json()["bookings"]}
        if booking_id in found and found[booking_id]["link_status"] != "pending":
            return dict(found[booking_id])
        time.sleep(0.5)
    raise SystemExit("the link did not settle within a minute: see .run/logs/meetings.log")


def main() -> None:
    if not STATE.exists():
        sys.exit("no running stack: start it with `make run` in another terminal")
    state = json.loads(STATE.read_text())
    http = httpx.Client(base_url=state["base_url"], timeout=30)
    sandbox = SandboxControl(state["provider_sandbox_url"])
    email = f"demo-{uuid.uuid4().hex[:6]}@example.com"
    creator = http.post(
        "/api/dev/creators", json={"email": email, "name": "Demo Creator", "plan": "pro", "timezone": "Europe/London"}
    ).json()
    headers = {"Authorization": f"Bearer {creator['token']}"}
    print(f"creator {creator['creator_id']} ({email})")
    week = {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
    http.put("/api/settings/availability", headers=headers, json={"timezone": "Europe/London", "weekly_hours": week})
    sandbox.create_zoom_user(email)
    for provider in ("zoom", "google"):
        url = http.post(f"/api/integrations/{provider}/connect", headers=headers).json()["authorize_url"]
        parts = urlsplit(authorize(url, email))
        result = http.get(f"{parts.path}?{parts.query}")
        print(f"connect {provider}: {result.status_code} -> {result.headers.get('location')}")
    print("tiles:", json.dumps(http.get("/api/integrations", headers=headers).json()))
    offer = http.post(
        "/api/offers", headers=headers, json={"title": "Demo call", "duration_minutes": 30, "price_cents": 0}
    ).json()["offer_id"]
    first = date.today() + timedelta(days=2)
    slots = http.get(
        f"/api/public/creators/{creator['creator_id']}/offers/{offer}/slots",
        params={"from": first.isoformat(), "to": (first + timedelta(days=7)).isoformat()},
    ).json()
    start = slots["slots"][0]["start"]
    booked = http.post(
        "/api/public/bookings",
        json={"offer_id": offer, "start": start, "fan": {"name": "Demo Fan", "email": "fan@example.com"}},
    ).json()
    print(f"booked {booked['booking_id']} at {start}: {booked['status']}; manage {booked['manage_url']}")
    settled = _wait_link(http, headers, booked["booking_id"])
    print(f"link {settled['link_status']}: {settled['meeting_url']} ({settled['video_provider']})")
    token = booked["manage_url"].rsplit("/", 1)[-1]
    moved = http.post(f"/api/manage/{token}/reschedule", json={"start": slots["slots"][2]["start"]}).json()
    print(f"rescheduled to {moved['start']}")
    print(f"new link: {_wait_link(http, headers, booked['booking_id'])['meeting_url']}")
    http.post(f"/api/manage/{token}/cancel")
    for _ in range(40):
        if not sandbox.zoom_meetings(email).get(email):
            break
        time.sleep(0.5)
    print("cancelled; live Zoom meetings left:", len(sandbox.zoom_meetings(email).get(email, [])))
    time.sleep(3)
    for message in httpx.get(f"{state['mail_sink_url']}/messages").json():
        headers_ = message["headers"]
        print(f"mail to {message['rcpt_tos']}: {headers_.get('X-Flo-Email-Kind')} — {message['subject']}")
    print(f"read the mail at {state['mail_sink_url']}/")


if __name__ == "__main__":
    main()
