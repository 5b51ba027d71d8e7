"""'Send a test booking' with fakes: the next free slot booked to the creator's own address, the meetings
worker and notify running while the route waits (its pause runs them, as Pub/Sub would), each step reported,
and everything cleaned up: the meeting and event deleted, no cancellation emails, hidden from the list."""

from __future__ import annotations

import contextlib
import re
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from werkzeug.test import Client

from services.connect.app import build_app
from shared.auth import DevTokenAuth
from shared.bookings.model import BOOKINGS, CREATORS, hours_to_doc
from shared.bookings.outbox import BOOKING_EVENTS
from shared.bookings.trial import STEP_WAIT
from shared.bootstrap import bookings_use_cases, notifier
from shared.mail import MailSendError
from shared.meetings.reconcile import RetryLater
from shared.pages.kit import SESSION_COOKIE
from shared.providers.errors import ErrorKind, ProviderError
from shared.secrets import EnvSecretSource
from shared.store.port import delete, update
from tests.fakes.mail import FakeMailSender
from tests.unit.test_connect_harness import WEBHOOK_SECRET
from tests.unit.test_meetings_harness import KEYS, MANAGE_KEYS, NOW, MeetingsHarness, local

BOOKED = ("booked", "ok", "Booked Mon 2 Mar 2026, 10:00 CET (Europe/Berlin) to creator@example.com.")
NOT_CONNECTED = ("calendar_event", "skipped", "Google Calendar is not connected: no calendar event.")
EMAILS_SENT = ("emails", "ok", "The confirmation and your booking notification were sent to you.")
CLEANED_UP = ("cleanup", "ok", "The test booking, its meeting and its calendar event were removed.")


class TrialHarness(MeetingsHarness):
    """The meetings harness plus the connect app; each pause of the test booking runs the workers once, or
    only the first `working_pauses` pauses do (the workers then stall, as a backlog of Pub/Sub would)."""

    def __init__(self, working_pauses: int | None = None) -> None:
        super().__init__()
        self.working_pauses = working_pauses
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
        if self.working_pauses is not None and self.pauses > self.working_pauses:
            return
        for booking_id in {e["booking_id"] for e in self.publisher.on(BOOKING_EVENTS)}:
            with contextlib.suppress(RetryLater):  # another pause finishes it, as a redelivery would
                self.reconciler.reconcile(booking_id)
            with contextlib.suppress(MailSendError):  # likewise for a send that failed
                self.notifier.send_owed(booking_id)

    def run(self) -> dict[str, Any]:
        response = self.connect_app.post("/api/integrations/test-booking", headers=self.headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        body: dict[str, Any] = response.get_json()
        return body

    def steps(self, body: dict[str, Any]) -> dict[str, str]:
        return {step["name"]: step["status"] for step in body["steps"]}

    def details(self, body: dict[str, Any]) -> list[tuple[str, str, str]]:
        return [(step["name"], step["status"], step["detail"]) for step in body["steps"]]


def test_a_test_booking_runs_the_real_path_to_the_creators_address_and_cleans_up() -> None:
    h = TrialHarness()
    h.connect("zoom", "google")
    taken = h.book(local(2, 9))  # 09:00 is taken: the test goes to the next free slot

    body = h.run()

    booked, meeting, *rest = h.details(body)
    assert booked == BOOKED
    assert meeting[:2] == ("meeting", "ok")
    assert re.fullmatch(r"Zoom link made: https://zoom\.us/j/\d+", meeting[2])
    assert rest == [("calendar_event", "ok", "Google Calendar event made."), EMAILS_SENT, CLEANED_UP]
    assert body["ok"] is True
    assert body["start"] == local(2, 10).isoformat()
    assert h.pauses == 2  # each step stops being watched once done: one pause makes the link, one removes it
    doc = h.store.get(BOOKINGS, body["booking_id"])
    assert doc is not None
    assert (doc["status"], doc["test_booking"], doc["cancel_reason"]) == ("cancelled", True, "test_booking")
    assert doc["cancelled_by"] == "system"
    assert (doc["offer_id"], doc["fan"]["name"], doc["fan"]["email"]) == ("test-booking", "Cee", "creator@example.com")
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

    assert h.details(body)[1:3] == [
        ("meeting", "failed", "No video link could be made (zoom revoked). Check your integrations."),
        NOT_CONNECTED,
    ]
    assert body["ok"] is False
    assert "invalid_grant" not in str(body)  # the provider's own words stay in the logs


def test_without_any_video_provider_the_meeting_step_fails_without_a_reason() -> None:
    body = TrialHarness().run()

    assert body["steps"][1] == {
        "name": "meeting",
        "status": "failed",
        "detail": "No video link could be made. Check your integrations.",
    }


def test_with_only_google_connected_the_meeting_step_reports_the_meet_link() -> None:
    h = TrialHarness()
    h.connect("google")

    body = h.run()

    meeting = h.details(body)[1]
    assert meeting[:2] == ("meeting", "ok")
    assert re.fullmatch(r"Google Meet link made: https://meet\.google\.com/\S+", meeting[2])


def test_steps_the_stalled_workers_never_do_are_reported_failed_after_each_steps_wait() -> None:
    h = TrialHarness(working_pauses=0)
    h.connect("zoom", "google")

    body = h.run()

    assert h.details(body)[1:] == [
        ("meeting", "failed", "The video link was not made in time."),
        ("calendar_event", "failed", "No Google Calendar event was made."),
        ("emails", "failed", "The emails were not sent in time. Check your spam folder, then try again."),
        CLEANED_UP,  # no meeting or event was ever made
    ]
    assert h.clock.now() == NOW + 2 * STEP_WAIT  # the link and the emails were each watched for one wait


def test_a_meeting_the_stalled_worker_has_not_deleted_yet_fails_the_cleanup_step() -> None:
    h = TrialHarness(working_pauses=1)
    h.connect("zoom")

    body = h.run()

    assert h.details(body)[2:] == [
        NOT_CONNECTED,
        EMAILS_SENT,
        ("cleanup", "failed", "The test booking is cancelled; its meeting or event is still being removed."),
    ]
    assert len(h.live_meetings()) == 1


def test_emails_sent_only_on_a_later_try_are_waited_for() -> None:
    h = TrialHarness()
    h.connect("zoom")
    h.mail.fail_next()  # the first pause makes the link, but one of its two emails fails

    body = h.run()

    assert h.details(body)[3] == EMAILS_SENT
    assert h.pauses == 3


def test_the_next_free_slot_is_looked_for_from_the_creators_own_today() -> None:
    h = TrialHarness()
    late_sunday = {"timezone": "Pacific/Honolulu", "weekly_hours": hours_to_doc({"sun": [["22:00", "23:00"]]})}
    h.store.commit([update(CREATORS, h.creator_id, late_sunday)])  # it is Sunday 21:00 there, Monday in UTC

    body = h.run()

    assert body["start"] == "2026-03-02T08:00:00+00:00"  # Sunday 1 March, 22:00 in Honolulu


@pytest.mark.parametrize(
    ("creator", "status", "error"),
    [
        (
            {"weekly_hours": {}},
            409,
            {"code": "no_free_slot", "message": "No free slot in your hours in the next 14 days."},
        ),
        (
            {"timezone": "Nowhere/Atlantis"},
            409,
            {"code": "no_hours", "message": "Set your hours in Settings → Availability first."},
        ),
        (None, 404, {"code": "creator_not_found", "message": "No such creator."}),
    ],
)
def test_without_a_free_slot_the_test_booking_says_why_and_books_nothing(
    creator: dict[str, Any] | None, status: int, error: dict[str, str]
) -> None:
    h = TrialHarness()
    if creator is None:
        h.store.commit([delete(CREATORS, h.creator_id)])
    else:
        h.store.commit([update(CREATORS, h.creator_id, creator)])

    response = h.connect_app.post("/api/integrations/test-booking", headers=h.headers)

    assert response.status_code == status
    assert response.get_json()["error"] == error
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
