"""The connect service: integration tiles, the OAuth connect and callback, disconnect, and Zoom's webhook."""

from __future__ import annotations

import logging
from urllib.parse import quote, urlencode

from werkzeug.wrappers import Request, Response

from shared.bootstrap import ConnectUseCases, Runtime, connect_use_cases, service_app
from shared.connections.connect import CallbackRefused, provider_named
from shared.web import Route, WebApp, json_response, route

log = logging.getLogger(__name__)

FAILED = "Could not complete connection. Try again or reconnect from the provider."
SETTINGS_PATH = "/dashboard/settings/integrations"


def build_routes(uses: ConnectUseCases, base_url: str) -> list[Route]:
    flow, auth = uses.flow, uses.auth

    def to_settings(query: dict[str, str]) -> Response:
        location = f"{base_url}{SETTINGS_PATH}?{urlencode(query, quote_via=quote)}"
        return Response(status=302, headers={"Location": location})

    @route("/api/integrations", "GET")
    def integrations(request: Request) -> Response:
        return json_response(flow.tiles(auth.creator_id(request)))

    @route("/api/integrations/<name>/connect", "POST")
    def connect(request: Request, name: str) -> Response:
        creator_id = auth.creator_id(request)
        return json_response({"authorize_url": flow.start(creator_id, provider_named(name))})

    @route("/oauth/<name>/callback", "GET")
    def callback(request: Request, name: str) -> Response:
        provider = provider_named(name)
        try:
            flow.complete(provider, request.args)
        except CallbackRefused as exc:
            log.warning("connection not completed", extra={"provider": provider, "reason": exc.reason})
            text = f"{FAILED} Missing permission: {exc.missing}" if exc.missing else FAILED
            return to_settings({"error": text})
        return to_settings({"connected": provider})

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
        Route("/api/integrations/<name>/disconnect", ("POST",), disconnect),
        Route("/api/integrations/<name>", ("DELETE",), disconnect),
        zoom_webhook,
    ]


def build_app(runtime: Runtime) -> WebApp:
    return service_app(runtime, build_routes(connect_use_cases(runtime), runtime.settings.base_url))
