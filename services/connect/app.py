"""The connect service: integration tiles, the OAuth connect and callback, disconnect, and Zoom's webhook.

Connect keeps a random value in a cookie of the browser that pressed it, and the OAuth state is bound to it
(shared/connections/connect.py): a callback from another browser connects nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import quote, urlencode

from werkzeug.wrappers import Request, Response

from services.connect.schemas import (
    AuthorizeOut,
    CallbackQuery,
    IntegrationsOut,
    TileOut,
    TrialReportOut,
    ZoomWebhookIn,
    ZoomWebhookOut,
)
from shared.bootstrap import ConnectUseCases, Runtime, connect_use_cases, page_kit, service_app
from shared.connections.connect import CallbackRefused, provider_named
from shared.oauth_state import STATE_LIFETIME, new_browser_binding
from shared.web import Route, WebApp, as_pages, respond, route

log = logging.getLogger(__name__)

FAILED = "Could not complete connection. Try again or reconnect from the provider."
SETTINGS_PATH = "/dashboard/settings/integrations"
PROVIDER_PARAM = "<any(zoom, google):name>"
"""Any other provider name matches no API route: a 404 (and the document lists the two)."""
BROWSER_COOKIE = "flo_oauth_browser"
"""Holds the value the OAuth state is bound to, for as long as a state lives. Its path is the whole site, not
only the callbacks: Connect must read it back to keep it, or a second Connect in the same browser (Google
after Zoom, or two tabs) would draw a new value and the first one's callback would no longer match."""


def bind_browser(request: Request, secure: bool) -> tuple[str, Callable[[Response], Response]]:
    """The starting browser's binding value (kept if it has one) and what sets its cookie on the response."""
    browser = request.cookies.get(BROWSER_COOKIE) or new_browser_binding()

    def set_cookie(response: Response) -> Response:
        response.set_cookie(
            BROWSER_COOKIE,
            browser,
            max_age=int(STATE_LIFETIME.total_seconds()),
            path="/",
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

    @route(
        "/api/integrations",
        "GET",
        summary="The Zoom and Google Calendar tiles",
        responses={200: IntegrationsOut},
        auth="creator",
    )
    def integrations(request: Request) -> Response:
        return respond(IntegrationsOut.model_validate(flow.tiles(auth.creator_id(request))))

    @route(
        f"/api/integrations/{PROVIDER_PARAM}/connect",
        "POST",
        summary="Start connecting a provider: the URL of its consent page",
        responses={200: AuthorizeOut},
        auth="creator",
    )
    def connect(request: Request, name: str) -> Response:
        creator_id = auth.creator_id(request)
        browser, set_cookie = bind_browser(request, secure=not uses.local)
        return set_cookie(respond(AuthorizeOut(authorize_url=flow.start(creator_id, provider_named(name), browser))))

    @route(
        f"/oauth/{PROVIDER_PARAM}/callback",
        "GET",
        summary="The provider's redirect back: 302 to the integrations settings page, connected or with the error",
        query=CallbackQuery,
        responses={302: None},
    )
    def callback(request: Request, name: str) -> Response:
        provider = provider_named(name)
        try:
            flow.complete(provider, request.args, request.cookies.get(BROWSER_COOKIE))
        except CallbackRefused as exc:
            log.warning("connection not completed", extra={"provider": provider, "reason": exc.reason})
            text = f"{FAILED} Missing permission: {exc.missing}" if exc.missing else FAILED
            return to_settings({"error": text})
        return to_settings({"connected": provider})

    @route(
        "/api/integrations/test-booking",
        "POST",
        summary="Send a test booking to the creator's own address: each step's result, cleaned up after",
        responses={200: TrialReportOut},
        auth="creator",
    )
    def test_booking(request: Request) -> Response:
        return respond(TrialReportOut.of(uses.trial.run(auth.creator_id(request))))

    def disconnect(request: Request, name: str) -> Response:
        creator_id = auth.creator_id(request)
        return respond(TileOut.model_validate(flow.disconnect(creator_id, provider_named(name))))

    @route(
        "/webhooks/zoom",
        "POST",
        summary="Zoom's signed events: endpoint.url_validation and app_deauthorized",
        body=ZoomWebhookIn,
        responses={200: ZoomWebhookOut},
    )
    def zoom_webhook(request: Request) -> Response:
        answer = uses.zoom_webhook.handle(
            request.headers.get("x-zm-request-timestamp"),
            request.headers.get("x-zm-signature"),
            request.get_data(cache=True),
        )
        return respond(ZoomWebhookOut.model_validate(answer))

    tile_of = {200: TileOut}
    return [
        integrations,
        connect,
        callback,
        test_booking,
        Route(
            f"/api/integrations/{PROVIDER_PARAM}/disconnect",
            ("POST",),
            disconnect,
            summary="Disconnect a provider",
            responses=tile_of,
            auth="creator",
        ),
        Route(
            f"/api/integrations/{PROVIDER_PARAM}",
            ("DELETE",),
            disconnect,
            summary="Remove a broken connection",
            responses=tile_of,
            auth="creator",
        ),
        zoom_webhook,
    ]


def build_app(runtime: Runtime) -> WebApp:
    from services.connect.pages import page_routes  # the pages build on this module's cookie and texts

    uses = connect_use_cases(runtime)
    return service_app(runtime, [*build_routes(uses), *as_pages(page_routes(page_kit(runtime), uses))])
