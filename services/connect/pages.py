"""The connect service's page: Settings -> Integrations, one tile per provider, and the forms behind its buttons.
Handlers only translate: they call the connect use cases the JSON routes call, built by shared/bootstrap.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from werkzeug.wrappers import Request, Response

from services.connect.app import FAILED, SETTINGS_PATH, bind_browser
from services.connect.schemas import TrialReportOut
from shared.bootstrap import ConnectUseCases
from shared.connections.connect import PROVIDERS, provider_named
from shared.pages.kit import PageKit
from shared.pages.times import zone_or
from shared.web import Handler, Route, route

PROVIDER_NAMES = {"zoom": "Zoom", "google": "Google Calendar"}
DONE = {
    "disconnected": "{name} is disconnected. New bookings will not use it.",
    "removed": "The broken {name} connection is removed. You can connect it again.",
}


def _message(args: Any) -> tuple[str, str]:
    """(kind, text) of the banner after OAuth or a button: only our own texts, whatever the query says."""
    connected = args.get("connected")
    if connected in PROVIDER_NAMES:
        return "success", f"{PROVIDER_NAMES[connected]} is connected."
    error = args.get("error")
    if error is not None:
        return "error", error if error.startswith(FAILED) and len(error) < 300 else FAILED
    done, provider = args.get("done"), args.get("provider")
    if done in DONE and provider in PROVIDER_NAMES:
        return "success", DONE[done].format(name=PROVIDER_NAMES[provider])
    return "", ""


def page_routes(kit: PageKit, uses: ConnectUseCases) -> list[Route]:
    @route(SETTINGS_PATH)
    @kit.page
    def integrations(request: Request) -> Response:
        return render(request, kit.creator_id(request))

    def render(request: Request, creator_id: str, trial: TrialReportOut | None = None) -> Response:
        kind, message = _message(request.args)
        tiles = uses.flow.tiles(creator_id)
        return kit.render(
            request,
            "integrations.html.j2",
            nav="integrations",
            tiles=[(p, PROVIDER_NAMES[p], tiles[p]) for p in PROVIDERS],
            zone=zone_or(uses.catalog.timezone_of(creator_id), "UTC"),
            at=datetime.fromisoformat,
            message=message,
            message_kind=kind,
            trial=trial,
        )

    @route(f"{SETTINGS_PATH}/<name>/connect", "POST")
    @kit.page
    def connect(request: Request, name: str) -> Response:
        """Connect and Reconnect: off to the provider's consent page, this browser remembered for the callback."""
        creator_id = kit.creator_id(request)
        kit.check_form(request)
        provider = provider_named(name)
        browser, set_cookie = bind_browser(request, secure=not kit.local)
        return set_cookie(kit.redirect(uses.flow.start(creator_id, provider, browser)))

    @route(f"{SETTINGS_PATH}/test-booking", "POST")
    @kit.page
    def test_booking(request: Request) -> Response:
        """Send a test booking: the same run as the JSON route, its steps shown on the Integrations page."""
        creator_id = kit.creator_id(request)
        kit.check_form(request)
        return render(request, creator_id, trial=TrialReportOut.of(uses.trial.run(creator_id)))

    def removing(done: str) -> Handler:
        def handler(request: Request, name: str) -> Response:
            creator_id = kit.creator_id(request)
            kit.check_form(request)
            uses.flow.disconnect(creator_id, provider_named(name))
            return kit.redirect(f"{SETTINGS_PATH}?done={done}&provider={name}")

        return kit.page(handler)

    return [
        integrations,
        connect,
        test_booking,
        Route(f"{SETTINGS_PATH}/<name>/disconnect", ("POST",), removing("disconnected")),
        Route(f"{SETTINGS_PATH}/<name>/remove", ("POST",), removing("removed")),
    ]
