"""'Send a test booking' with fakes: the next free slot booked to the creator's own address, the meetings
worker and notify running while the route waits (its pause runs them, as Pub/Sub would), each step reported,
and everything cleaned up: the meeting and event deleted, no cancellation emails, hidden from the list."""

from __future__ import annotations

import contextlib
import re
from dataclasses import replace
from datetime import timedelta
from typing import Any

from werkzeug.test import Client

from services.connect.app import build_app
from shared.auth import DevTokenAuth
from shared.bookings.model import BOOKINGS, CREATORS
from shared.bookings.outbox import BOOKING_EVENTS
from shared.bootstrap import bookings_use_cases, notifier
from shared.meetings.reconcile import RetryLater
from shared.pages.kit import SESSION_COOKIE
from shared.providers.errors import ErrorKind, ProviderError
from shared.secrets import EnvSecretSource
from shared.store.port import update
from tests.fakes.mail import FakeMailSender
from tests.unit.test_connect_harness import WEBHOOK_SECRET
from tests.unit.test_meetings_harness import KEYS, MANAGE_KEYS, MeetingsHarness, local


class TrialHarness(MeetingsHarness):
    """The meetings harness plus the connect app; each pause of the test booking runs the workers once."""

    def __init__(self) -> None:
        super().__init__()
        self.mail = FakeMailSender()
        names = (
            "OAUTH_STATE_SECRET",
            "ZOOM_CLIENT_ID",
            "ZOOM_CLIENT_SECRET",
            "GOOGLE_CLIENT_ID",
            "GOOGLE_CLIENT_SECRET",
        )
        secrets = {
            "TOKEN_ENCRYPTION_KEYS": KEYS,
            "MANAGE_TOKEN_KEYS": MANAGE_KEYS,
            "ZOOM_WEBHOOK_SECRET": WEBHOOK_SECRET,
        }
        secrets |= {name: "s" * 32 for name in names}
        self.runtime = replace(
            self.runtime,
            service="connect",
            secrets=EnvSecretSource(secrets),
            adapters=replace(self.runtime.adapters, mail=self.mail, pause=self._run_workers),
        )
        self.notifier = notifier(self.runtime)
        self.connect_app = Client(build_app(self.runtime))
        self.headers = {"Authorization": f"Bearer {DevTokenAuth(self.store).issue(self.creator_id)}"}
        self.pauses = 0

    def _run_workers(self, seconds: float) -> None:
        self.pauses += 1
        self.clock.advance(timedelta(seconds=seconds))
        for booking_id in {e["booking_id"] for e in self.publisher.on(BOOKING_EVENTS)}:
            with contextlib.suppress(RetryLater):  # another pause finishes it, as a redelivery would
                self.reconciler.reconcile(booking_id)
            self.notifier.send_owed(booking_id)

    def run(self) -> dict[str, Any]:
        response = self.connect_app.post("/api/integrations/test-booking", headers=self.headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        body: dict[str, Any] = response.get_json()
        return body

    def steps(self, body: dict[str, Any]) -> dict[str, str]:
        return {step["name"]: step["status"] for step in body["steps"]}


def test_a_test_booking_runs_the_real_path_to_the_creators_address_and_cleans_up() -> None:
    h = TrialHarness()
    h.connect("zoom", "google")
    taken = h.book(local(2, 9))  # 09:00 is taken: the test goes to the next free slot

    body = h.run()

    assert h.steps(body) == {"booked": "ok", "meeting": "ok", "calendar_event": "ok", "emails": "ok", "cleanup": "ok"}
    assert body["ok"] is True
    assert body["start"] == local(2, 10).isoformat()
    doc = h.store.get(BOOKINGS, body["booking_id"])
    assert doc is not None
    assert (doc["status"], doc["test_booking"], doc["cancel_reason"]) == ("cancelled", True, "test_booking")
    assert doc["fan"]["email"] == "creator@example.com"
    assert "Zoom link made" in body["steps"][1]["detail"]
    assert h.zoom.calls.count("delete_meeting") == 1  # the test's meeting made, then deleted
    assert [m.start_time for m in h.live_meetings()] == [local(2, 9)]  # only the fan's booking keeps one
    assert [e.start for e in h.live_events()] == [local(2, 9)]
    mine = [m for m in h.mail.sent if m["X-Flo-Booking-Id"] == body["booking_id"]]
    kinds = sorted((str(m["X-Flo-Email-Kind"]), m["To"].addresses[0].addr_spec) for m in mine)  # no cancellation
    assert kinds == [("confirmation", "creator@example.com"), ("creator_notification", "creator@example.com")]
    uses = bookings_use_cases(h.runtime)
    assert [i for i, _ in uses.bookings.listing(h.creator_id, upcoming=True).rows] == [taken]


def test_a_broken_zoom_is_reported_in_plain_steps() -> None:
    h = TrialHarness()
    h.connect("zoom")
    h.zoom.fail_next(ProviderError(ErrorKind.REVOKED, "zoom", 400, None, "invalid_grant"), times=5)

    body = h.run()

    steps = {step["name"]: step for step in body["steps"]}
    assert steps["meeting"]["status"] == "failed"
    assert "No video link" in steps["meeting"]["detail"]
    assert steps["calendar_event"]["status"] == "skipped"
    assert body["ok"] is False
    assert "invalid_grant" not in str(body)  # the provider's own words stay in the logs


def test_without_a_free_slot_the_test_booking_says_so_and_books_nothing() -> None:
    h = TrialHarness()
    h.store.commit([update(CREATORS, h.creator_id, {"weekly_hours": {}})])

    response = h.connect_app.post("/api/integrations/test-booking", headers=h.headers)

    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "no_free_slot"
    assert h.store.query(BOOKINGS) == []


def test_the_integrations_page_sends_a_test_booking_with_this_browsers_csrf_value_and_shows_each_step() -> None:
    h = TrialHarness()
    h.connect("zoom")
    token = h.headers["Authorization"].removeprefix("Bearer ")
    h.connect_app.set_cookie(SESSION_COOKIE, token)
    page = h.connect_app.get("/dashboard/settings/integrations").get_data(as_text=True)
    assert "Send a test booking</button>" in page
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found

    forged = h.connect_app.post("/dashboard/settings/integrations/test-booking", data={"csrf": "guessed"})
    assert forged.status_code == 403
    assert h.store.query(BOOKINGS) == []

    done = h.connect_app.post("/dashboard/settings/integrations/test-booking", data={"csrf": found.group(1)})

    assert done.status_code == 200
    shown = done.get_data(as_text=True)
    assert "The test booking went through." in shown
    for step in ("Booked: ok", "Meeting: ok", "Calendar event: skipped", "Emails: ok", "Cleanup: ok"):
        assert step in shown
