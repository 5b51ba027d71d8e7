"""The connect service: integration tiles, the OAuth connect and callback, disconnect, and Zoom's webhook.

Connect keeps a random value in a cookie of the browser that pressed it, and the OAuth state is bound to it
(shared/connections/connect.py): a callback from another browser connects nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import quote, urlencode

from werkzeug.wrappers import Request, Response

from services.connect.schemas import TrialReportOut
from shared.bootstrap import ConnectUseCases, Runtime, connect_use_cases, page_kit, service_app
from shared.connections.connect import CallbackRefused, provider_named
from shared.oauth_state import STATE_LIFETIME, new_browser_binding
from shared.web import Route, WebApp, json_response, route

log = logging.getLogger(__name__)

FAILED = "Could not complete connection. Try again or reconnect from the provider."
SETTINGS_PATH = "/dashboard/settings/integrations"
BROWSER_COOKIE = "flo_oauth_browser"
"""Holds the value the OAuth state is bound to; sent only to the callbacks, for as long as a state lives."""


def bind_browser(request: Request, secure: bool) -> tuple[str, Callable[[Response], Response]]:
    """The starting browser's binding value (kept if it has one) and what sets its cookie on the response."""
    browser = request.cookies.get(BROWSER_COOKIE) or new_browser_binding()

    def set_cookie(response: Response) -> Response:
        response.set_cookie(
            BROWSER_COOKIE,
            browser,
            max_age=int(STATE_LIFETIME.total_seconds()),
            path="/oauth/",
            secure=secure,
            httponly=True,
            samesite="Lax",
        )
        return response

    return browser, set_cookie


def build_routes(uses: ConnectUseCases) -> list[Route]:
    flow, auth = uses.flow, uses.auth

    def to_settings(query: dict[str, str]) -> Response:
        location = f"{uses.base_url}{SETTINGS_PATH}?{urlencode(query, quote_via=quote)}"
        return Response(status=302, headers={"Location": location})

    @route("/api/integrations", "GET")
    def integrations(request: Request) -> Response:
        return json_response(flow.tiles(auth.creator_id(request)))

    @route("/api/integrations/<name>/connect", "POST")
    def connect(request: Request, name: str) -> Response:
        creator_id = auth.creator_id(request)
        browser, set_cookie = bind_browser(request, secure=not uses.local)
        return set_cookie(json_response({"authorize_url": flow.start(creator_id, provider_named(name), browser)}))

    @route("/oauth/<name>/callback", "GET")
    def callback(request: Request, name: str) -> Response:
        provider = provider_named(name)
        try:
            flow.complete(provider, request.args, request.cookies.get(BROWSER_COOKIE))
        except CallbackRefused as exc:
            log.warning("connection not completed", extra={"provider": provider, "reason": exc.reason})
            text = f"{FAILED} Missing permission: {exc.missing}" if exc.missing else FAILED
            return to_settings({"error": text})
        return to_settings({"connected": provider})

    @route("/api/integrations/test-booking", "POST")
    def test_booking(request: Request) -> Response:
        report = uses.trial.run(auth.creator_id(request))
        return json_response(TrialReportOut.of(report).model_dump())

    def disconnect(request: Request, name: str) -> Response:
        creator_id = auth.creator_id(request)
        return json_response(flow.disconnect(creator_id, provider_named(name)))

    @route("/webhooks/zoom", "POST")
    def zoom_webhook(request: Request) -> Response:
        answer = uses.zoom_webhook.handle(
            request.headers.get("x-zm-request-timestamp"),
            request.headers.get("x-zm-signature"),
            request.get_data(cache=True),
        )
        return json_response(answer)

    return [
        integrations,
        connect,
        callback,
        test_booking,
        Route("/api/integrations/<name>/disconnect", ("POST",), disconnect),
        Route("/api/integrations/<name>", ("DELETE",), disconnect),
        zoom_webhook,
    ]


def build_app(runtime: Runtime) -> WebApp:
    from services.connect.pages import page_routes  # the pages build on this module's cookie and texts

    uses = connect_use_cases(runtime)
    return service_app(runtime, [*build_routes(uses), *page_routes(page_kit(runtime), uses)])
