"""Issue 14 through the whole local stack: knowing before a booking does. The sandbox's switches break things
(the Zoom app's scopes, a revoked grant, short-lived tokens, a deauthorization asking Flo to keep no data) and
the tests watch Flo notice: a refused connect, the scheduler tick finding a revoked grant and emailing the
creator once, and the creator's Zoom data gone. Sandbox settings are global: each test restores what it sets."""

from __future__ import annotations

from email import message_from_string, policy
from email.message import EmailMessage

from tests.e2e.flo import Flo, callback_result, eventually
from tests.mail_samples import links

FAILED = "Could not complete connection. Try again or reconnect from the provider."


def _creator_mails(flo: Flo, to: str, kind: str) -> list[EmailMessage]:
    found = []
    for item in flo.mail.get("/messages").json():
        if item["headers"].get("X-Flo-Email-Kind") != kind:
            continue
        message = message_from_string(item["raw"], policy=policy.default)
        assert isinstance(message, EmailMessage)
        if message["To"].addresses[0].addr_spec == to:
            found.append(message)
    return found


def test_a_zoom_grant_without_the_meeting_scopes_is_refused_with_the_product_pages_error(flo: Flo) -> None:
    creator = flo.creator()
    flo.sandbox.settings(zoom_app_scopes=["meeting:read", "user:read"])
    try:
        result = callback_result(flo.connect(creator, "zoom"))
    finally:
        flo.sandbox.settings(zoom_app_scopes=None)

    [error] = result["error"]
    assert error.startswith(FAILED)
    assert "meeting:write" in error
    assert flo.tile(creator, "zoom")["status"] == "not_connected"
    flo.connected(creator, "zoom")  # with the usual scopes it connects


def test_a_grant_revoked_in_zoom_is_found_by_the_tick_and_the_creator_is_emailed_once(flo: Flo) -> None:
    creator = flo.creator()
    flo.sandbox.settings(access_token_lifetime=600)  # inside the tick's 15 minutes: refreshed ahead at once
    try:
        flo.connected(creator, "zoom")
        offer = flo.offer(creator)
        made = flo.book(offer, flo.first_slot(creator, offer))
        assert flo.settled(creator, made["booking_id"])["zoom_chip"] is True
        eventually(  # the code exchange, then a refresh ahead of expiry by the scheduler tick
            lambda: len([c for c in flo.sandbox.calls("zoom") if c["path"].endswith("/oauth/token")]) >= 2 or None,
            what="a refresh ahead of expiry",
        )

        flo.sandbox.revoke("zoom", creator.email)

        eventually(
            lambda: flo.tile(creator, "zoom")["status"] == "reconnect_required" or None,
            timeout=40,
            what="the tick to find the revoked grant",
        )
    finally:
        flo.sandbox.settings(access_token_lifetime=3600)
    [mail] = eventually(lambda: _creator_mails(flo, creator.email, "connection_broken") or None, what="the email")
    text = str(mail.get_body(("plain",)).get_content())  # type: ignore[union-attr]
    assert "Zoom" in mail["Subject"]
    assert "Flo cannot move or delete its Zoom meeting" in text  # the booked session is listed
    assert [href for href, label in links(mail) if label == "Open Integrations"] == [
        f"{flo.stack.base_url}/dashboard/settings/integrations"
    ]
    assert flo.http.post("/tasks/reminders").status_code == 200
    assert len(_creator_mails(flo, creator.email, "connection_broken")) == 1
    # The existing booking keeps its link (the product page's promise).
    assert flo.booking(creator, made["booking_id"])["meeting_url"]


def test_a_deauthorization_keeping_no_data_leaves_flo_no_zoom_data_but_the_links(flo: Flo) -> None:
    creator = flo.creator()
    flo.connected(creator, "zoom")
    offer = flo.offer(creator)
    made = flo.book(offer, flo.first_slot(creator, offer))
    link = flo.settled(creator, made["booking_id"])["meeting_url"]
    [meeting] = flo.zoom_meetings(creator)

    delivery = flo.sandbox.send_zoom_deauthorization(
        url=flo.stack.base_url + "/webhooks/zoom",
        secret=flo.stack.zoom_webhook_secret,
        user=creator.email,
        user_data_retention=False,
    )

    assert delivery["status"] == 200, delivery
    tile = flo.tile(creator, "zoom")
    assert (tile["status"], tile["account_email"]) == ("reconnect_required", None)
    [notice] = flo.notices(creator)
    assert (notice["kind"], notice["booking_id"], str(notice["meeting_id"])) == (
        "zoom_meeting_kept",
        made["booking_id"],
        str(meeting["id"]),
    )
    assert flo.booking(creator, made["booking_id"])["meeting_url"] == link


def test_reconnecting_the_same_zoom_account_heals_what_broke_meanwhile(flo: Flo) -> None:
    creator = flo.creator()
    flo.connected(creator, "zoom")
    offer = flo.offer(creator)
    first, second, third = flo.slot_starts(creator, offer, 3)
    kept = flo.book(offer, first)
    keeps_link = flo.settled(creator, kept["booking_id"])["meeting_url"]
    cancelled = flo.book(offer, second)
    left_behind = flo.settled(creator, cancelled["booking_id"])["meeting_url"]

    flo.sandbox.revoke("zoom", creator.email)  # removed in Zoom: Flo finds out at its next call
    assert flo.fan_cancel(cancelled).status_code == 200
    eventually(lambda: flo.notices(creator) or None, timeout=40, what="the zoom_delete_failed notice")
    unlinked = flo.book(offer, third)
    assert flo.settled(creator, unlinked["booking_id"])["link_status"] == "unavailable"
    assert flo.meeting_for(creator, left_behind) is not None

    flo.connected(creator, "zoom")  # the same Zoom user

    assert flo.meeting_for(creator, left_behind) is None  # the failed delete was retried
    [notice] = flo.notices(creator)
    assert (notice["kind"], notice["message"]) == (
        "zoom_delete_failed",
        "Flo removed the leftover Zoom meeting of a cancelled session after you reconnected Zoom",
    )
    healed = eventually(
        lambda: b if (b := flo.booking(creator, unlinked["booking_id"]))["link_status"] == "ready" else None,
        what="a Zoom link for the booking that got none",
    )
    assert healed["zoom_chip"] is True
    ready = eventually(
        lambda: m if len(m := _booking_mails(flo, unlinked["booking_id"], "link_ready")) >= 2 else None,
        what="link_ready to fan and creator",
    )
    assert sorted(m["To"].addresses[0].addr_spec for m in ready) == sorted([unlinked["fan"]["email"], creator.email])
    assert flo.booking(creator, kept["booking_id"])["meeting_url"] == keeps_link


def _booking_mails(flo: Flo, booking_id: str, kind: str) -> list[EmailMessage]:
    found = []
    for item in flo.mail.get("/messages").json():
        headers = item["headers"]
        if headers.get("X-Flo-Booking-Id") == booking_id and headers.get("X-Flo-Email-Kind") == kind:
            message = message_from_string(item["raw"], policy=policy.default)
            assert isinstance(message, EmailMessage)
            found.append(message)
    return found
