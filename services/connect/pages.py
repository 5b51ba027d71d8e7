"""The connect service's page: Settings -> Integrations, one tile per provider, and the forms behind its buttons.
Handlers only translate: they call ConnectUseCases (as the JSON routes do) and render its tiles."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from werkzeug.wrappers import Request, Response

from services.connect.app import FAILED, PROVIDERS, SETTINGS_PATH, ConnectDeps, ConnectUseCases, bind_browser
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


def page_routes(kit: PageKit, deps: ConnectDeps, use: ConnectUseCases) -> list[Route]:
    @route(SETTINGS_PATH)
    @kit.page
    def integrations(request: Request) -> Response:
        creator_id = kit.creator_id(request)
        kind, message = _message(request.args)
        tiles = use.tiles(creator_id)
        return kit.render(
            request,
            "integrations.html.j2",
            nav="integrations",
            tiles=[(p, PROVIDER_NAMES[p], tiles[p]) for p in PROVIDERS],
            zone=zone_or(use.creator_timezone(creator_id), "UTC"),
            at=datetime.fromisoformat,
            message=message,
            message_kind=kind,
        )

    @route(f"{SETTINGS_PATH}/<name>/connect", "POST")
    @kit.page
    def connect(request: Request, name: str) -> Response:
        """Connect and Reconnect: off to the provider's consent page, this browser remembered for the callback."""
        creator_id = kit.creator_id(request)
        kit.check_form(request)
        browser, set_cookie = bind_browser(deps, request)
        return set_cookie(kit.redirect(use.start(creator_id, name, browser)))

    def removing(done: str) -> Handler:
        def handler(request: Request, name: str) -> Response:
            creator_id = kit.creator_id(request)
            kit.check_form(request)
            use.remove(creator_id, name)
            return kit.redirect(f"{SETTINGS_PATH}?done={done}&provider={name}")

        return kit.page(handler)

    return [
        integrations,
        connect,
        Route(f"{SETTINGS_PATH}/<name>/disconnect", ("POST",), removing("disconnected")),
        Route(f"{SETTINGS_PATH}/<name>/remove", ("POST",), removing("removed")),
    ]
