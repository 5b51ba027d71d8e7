"""The connect service: integration tiles, the OAuth connect and callback, disconnect, and Zoom's webhook.

The OAuth `state` is signed and bound to the creator (no attaching an attacker's account) and to the
browser that pressed Connect (a cookie; no sending one's authorize URL to someone else), and
single-use: its nonce is stored with the PKCE verifier (sealed) and consumed by one atomic
create-and-delete, so a replayed callback fails. A failed callback stores nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from werkzeug.wrappers import Request, Response

from shared.auth import CreatorAuth, DevTokenAuth, IdentityPlatformAuth
from shared.bookings.model import CREATORS
from shared.bootstrap import Runtime, service_app
from shared.clock import Clock
from shared.connections.store import FirestoreConnections
from shared.connections.tiles import tile
from shared.oauth_state import STATE_LIFETIME, StateError, StateSigner, new_browser_binding
from shared.pages.kit import page_kit
from shared.providers.errors import Provider, ProviderError
from shared.providers.oauth import missing_scopes, pkce_pair
from shared.providers.ports import OAuthProvider, VideoProvider
from shared.providers.zoom_webhook import WebhookError, url_validation_response, verify_signature
from shared.store.port import Conflict, DocStore, create, delete
from shared.vault import Sealed, Vault, VaultError
from shared.web import ApiError, Route, WebApp, json_response, route

log = logging.getLogger(__name__)

OAUTH_STATES = "oauth_states"
PROVIDERS: tuple[Provider, ...] = ("zoom", "google")
FAILED = "Could not complete connection. Try again or reconnect from the provider."
SETTINGS_PATH = "/dashboard/settings/integrations"
BROWSER_COOKIE = "flo_oauth_browser"
"""Holds the value the OAuth state is bound to; sent only to the callbacks, for as long as a state lives."""


class CallbackRefused(Exception):
    """The callback cannot connect; `reason` goes to the logs, `missing` (permissions) to the creator."""

    def __init__(self, reason: str, missing: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.missing = missing


@dataclass(frozen=True)
class ConnectDeps:
    """Everything the routes use, so unit tests hand in fakes and build_app hands in the real clients."""

    base_url: str
    store: DocStore
    clock: Clock
    vault: Vault
    oauth: Mapping[str, OAuthProvider]
    zoom: VideoProvider
    connections: FirestoreConnections
    signer: StateSigner
    auth: CreatorAuth
    webhook_secret: str
    secure_cookies: bool = True


def _provider(name: str) -> Provider:
    for provider in PROVIDERS:
        if provider == name:
            return provider
    raise ApiError(404, "unknown_provider", f"There is no integration called {name!r}; use zoom or google.")


def _state_aad(nonce: str, creator_id: str, provider: str) -> str:
    return json.dumps(["flo-oauth-state", nonce, creator_id, provider])


def _short_scope(scope: str) -> str:
    return scope.rsplit("/", 1)[-1]


def _redirect_uri(deps: ConnectDeps, provider: Provider) -> str:
    return f"{deps.base_url}/oauth/{provider}/callback"


class ConnectUseCases:
    """What the JSON routes and the settings page both do, so the page and the API cannot disagree."""

    def __init__(self, deps: ConnectDeps) -> None:
        self._deps = deps

    def tiles(self, creator_id: str) -> dict[str, dict[str, Any]]:
        return {p: tile(p, self._deps.connections.info(creator_id, p)) for p in PROVIDERS}

    def creator_timezone(self, creator_id: str) -> str:
        return str((self._deps.store.get(CREATORS, creator_id) or {}).get("timezone") or "UTC")

    def start(self, creator_id: str, name: str, browser: str) -> str:
        """The provider's authorize URL, its state bound to the creator and to the browser's cookie value."""
        deps = self._deps
        provider = _provider(name)
        now = deps.clock.now()
        state, nonce = deps.signer.issue(creator_id, provider, now, browser)
        verifier, challenge = pkce_pair()
        record = {
            "creator_id": creator_id,
            "provider": provider,
            "expires_at": now + STATE_LIFETIME,
            "verifier": deps.vault.encrypt(verifier, _state_aad(nonce, creator_id, provider)).to_dict(),
        }
        deps.store.commit([create(OAUTH_STATES, nonce, record)])
        return deps.oauth[provider].authorize_url(_redirect_uri(deps, provider), state, challenge)

    def remove(self, creator_id: str, name: str) -> dict[str, Any]:
        provider = _provider(name)
        self._deps.connections.remove(creator_id, provider)
        return tile(provider, None)


def bind_browser(deps: ConnectDeps, request: Request) -> tuple[str, Callable[[Response], Response]]:
    """The starting browser's binding value (kept if it has one) and what sets its cookie on the response."""
    browser = request.cookies.get(BROWSER_COOKIE) or new_browser_binding()

    def set_cookie(response: Response) -> Response:
        response.set_cookie(
            BROWSER_COOKIE,
            browser,
            max_age=int(STATE_LIFETIME.total_seconds()),
            path="/oauth/",
            secure=deps.secure_cookies,
            httponly=True,
            samesite="Lax",
        )
        return response

    return browser, set_cookie


def build_routes(deps: ConnectDeps, use_cases: ConnectUseCases | None = None) -> list[Route]:
    flow = use_cases or ConnectUseCases(deps)

    def redirect_uri(provider: Provider) -> str:
        return _redirect_uri(deps, provider)

    def to_settings(query: dict[str, str]) -> Response:
        location = f"{deps.base_url}{SETTINGS_PATH}?{urlencode(query, quote_via=quote)}"
        return Response(status=302, headers={"Location": location})

    @route("/api/integrations", "GET")
    def integrations(request: Request) -> Response:
        return json_response(flow.tiles(deps.auth.creator_id(request)))

    @route("/api/integrations/<name>/connect", "POST")
    def connect(request: Request, name: str) -> Response:
        creator_id = deps.auth.creator_id(request)
        browser, set_cookie = bind_browser(deps, request)
        return set_cookie(json_response({"authorize_url": flow.start(creator_id, name, browser)}))

    def consume_state(provider: Provider, state: str, browser: str | None) -> tuple[str, str]:
        """(creator_id, PKCE verifier) of a valid, unused state; using it up is one atomic create-and-delete."""
        try:
            payload = deps.signer.verify(state, provider, deps.clock.now(), browser)
        except StateError as exc:
            raise CallbackRefused(f"state {exc.reason}") from None
        stored = deps.store.get(OAUTH_STATES, payload.nonce)
        if stored is None or stored["creator_id"] != payload.creator_id or stored["provider"] != provider:
            raise CallbackRefused("state unknown or already used")
        used = {"expires_at": stored["expires_at"]}
        try:
            deps.store.commit(
                [create(OAUTH_STATES, f"used-{payload.nonce}", used), delete(OAUTH_STATES, payload.nonce)]
            )
        except Conflict:
            raise CallbackRefused("state already used") from None
        try:
            aad = _state_aad(payload.nonce, payload.creator_id, provider)
            return payload.creator_id, deps.vault.decrypt(Sealed.from_dict(stored["verifier"]), aad)
        except VaultError:
            raise CallbackRefused("state verifier unreadable") from None

    def revoke_quietly(oauth: OAuthProvider, token: str) -> None:
        """A grant we will not keep is handed back; failing that only costs an unused grant."""
        try:
            oauth.revoke(token)
        except ProviderError as exc:
            log.warning("could not revoke an unused grant", extra={"provider": oauth.name, "kind": exc.kind.value})

    def complete(provider: Provider, args: Mapping[str, str], browser: str | None) -> None:
        creator_id, verifier = consume_state(provider, args.get("state", ""), browser)
        if args.get("error") or not args.get("code"):
            raise CallbackRefused(f"provider answered {args.get('error') or 'no code'}")
        oauth = deps.oauth[provider]
        try:
            tokens = oauth.exchange_code(args["code"], redirect_uri(provider), verifier)
        except ProviderError as exc:
            raise CallbackRefused(f"code exchange failed ({exc.kind.value})") from None
        missing = missing_scopes(oauth.required_scopes, tokens)
        if missing:
            revoke_quietly(oauth, tokens.refresh_token)
            raise CallbackRefused("permission left unticked", ", ".join(sorted(map(_short_scope, missing))))
        try:
            if provider == "zoom":
                me = deps.zoom.get_me(tokens.access_token)
                email, zoom_user_id = me.email, me.id
            else:
                email, zoom_user_id = oauth.account_email(tokens.access_token), None
        except ProviderError as exc:
            revoke_quietly(oauth, tokens.refresh_token)
            raise CallbackRefused(f"account lookup failed ({exc.kind.value})") from None
        deps.connections.save(creator_id, provider, tokens, email, zoom_user_id)

    @route("/oauth/<name>/callback", "GET")
    def callback(request: Request, name: str) -> Response:
        provider = _provider(name)
        try:
            complete(provider, request.args, request.cookies.get(BROWSER_COOKIE))
        except CallbackRefused as exc:
            log.warning("connection not completed", extra={"provider": provider, "reason": exc.reason})
            text = f"{FAILED} Missing permission: {exc.missing}" if exc.missing else FAILED
            return to_settings({"error": text})
        return to_settings({"connected": provider})

    def remove(request: Request, name: str) -> Response:
        return json_response(flow.remove(deps.auth.creator_id(request), name))

    @route("/webhooks/zoom", "POST")
    def zoom_webhook(request: Request) -> Response:
        raw = request.get_data(cache=True)
        try:
            verify_signature(
                deps.webhook_secret,
                request.headers.get("x-zm-request-timestamp"),
                request.headers.get("x-zm-signature"),
                raw,
                deps.clock.now(),
            )
        except WebhookError as exc:
            raise ApiError(401, "bad_signature", str(exc)) from None
        try:
            body = json.loads(raw)
        except ValueError:
            raise ApiError(400, "invalid_json", "The request body must be JSON.") from None
        if not isinstance(body, dict):
            raise ApiError(400, "invalid_request", "The body must be a JSON object.")
        event = body.get("event")
        payload: dict[str, Any] = body["payload"] if isinstance(body.get("payload"), dict) else {}
        if event == "endpoint.url_validation":
            plain = payload.get("plainToken")
            if not isinstance(plain, str) or not plain:
                raise ApiError(400, "invalid_request", "payload.plainToken is required.")
            return json_response(url_validation_response(deps.webhook_secret, plain))
        if event == "app_deauthorized":
            user_id = payload.get("user_id")
            if not isinstance(user_id, str) or not user_id:
                raise ApiError(400, "invalid_request", "payload.user_id is required.")
            changed = deps.connections.deauthorize_zoom(user_id)
            return json_response({"ok": True, "connections": changed})
        return json_response({"ok": True, "ignored": event})

    return [
        integrations,
        connect,
        callback,
        Route("/api/integrations/<name>/disconnect", ("POST",), remove),
        Route("/api/integrations/<name>", ("DELETE",), remove),
        zoom_webhook,
    ]


def deps_from_runtime(runtime: Runtime, auth: CreatorAuth) -> ConnectDeps:
    return ConnectDeps(
        base_url=runtime.settings.base_url,
        store=runtime.store,
        clock=runtime.clock,
        vault=runtime.vault,
        oauth=runtime.oauth,
        zoom=runtime.zoom,
        connections=FirestoreConnections(runtime.store, runtime.vault, runtime.oauth, runtime.clock),
        signer=StateSigner(runtime.secret("OAUTH_STATE_SECRET")),
        auth=auth,
        webhook_secret=runtime.secret("ZOOM_WEBHOOK_SECRET"),
        secure_cookies=not runtime.settings.local,
    )


def build_app(runtime: Runtime) -> WebApp:
    settings = runtime.settings
    auth: CreatorAuth = DevTokenAuth(runtime.store) if settings.local else IdentityPlatformAuth(settings.project_id)
    from services.connect.pages import page_routes  # the pages build on this module's use cases

    deps = deps_from_runtime(runtime, auth)
    flow = ConnectUseCases(deps)
    pages = page_routes(page_kit(runtime, auth), deps, flow)
    return service_app(runtime, [*build_routes(deps, flow), *pages])
