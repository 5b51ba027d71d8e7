"""The connect service: integration tiles, the OAuth connect and callback, disconnect, and Zoom's webhook.

The OAuth `state` is signed and bound to the creator (no attaching an attacker's account), and
single-use: its nonce is stored with the PKCE verifier (sealed) and consumed by one atomic
create-and-delete, so a replayed callback fails. A failed callback stores nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from werkzeug.wrappers import Request, Response

from services.connect.schemas import (
    AuthorizeOut,
    CallbackQuery,
    IntegrationsOut,
    TileOut,
    UrlValidationOut,
    WebhookAckOut,
    ZoomWebhookIn,
    ZoomWebhookOut,
)
from shared.auth import CreatorAuth, DevTokenAuth, IdentityPlatformAuth
from shared.bootstrap import Runtime, service_app
from shared.clock import Clock
from shared.connections.store import FirestoreConnections
from shared.connections.tiles import tile
from shared.oauth_state import STATE_LIFETIME, StateError, StateSigner
from shared.providers.errors import Provider, ProviderError
from shared.providers.oauth import missing_scopes, pkce_pair
from shared.providers.ports import OAuthProvider, VideoProvider
from shared.providers.zoom_webhook import WebhookError, url_validation_response, verify_signature
from shared.store.port import Conflict, DocStore, create, delete
from shared.vault import Sealed, Vault, VaultError
from shared.web import ApiError, Route, WebApp, parse_body, parse_query, respond, route

log = logging.getLogger(__name__)

OAUTH_STATES = "oauth_states"
PROVIDERS: tuple[Provider, ...] = ("zoom", "google")
PROVIDER_PARAM = "<any(zoom, google):name>"
"""Any other provider name matches no route: a 404."""
FAILED = "Could not complete connection. Try again or reconnect from the provider."
SETTINGS_PATH = "/dashboard/settings/integrations"


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


_BY_NAME: dict[str, Provider] = {p: p for p in PROVIDERS}
"""The provider a path names; the route's converter has already refused any other name."""


def _state_aad(nonce: str, creator_id: str, provider: str) -> str:
    return json.dumps(["flo-oauth-state", nonce, creator_id, provider])


def _short_scope(scope: str) -> str:
    return scope.rsplit("/", 1)[-1]


def build_routes(deps: ConnectDeps) -> list[Route]:
    def redirect_uri(provider: Provider) -> str:
        return f"{deps.base_url}/oauth/{provider}/callback"

    def to_settings(query: dict[str, str]) -> Response:
        location = f"{deps.base_url}{SETTINGS_PATH}?{urlencode(query, quote_via=quote)}"
        return Response(status=302, headers={"Location": location})

    @route(
        "/api/integrations",
        "GET",
        summary="The Zoom and Google Calendar tiles",
        responses={200: IntegrationsOut},
        auth="creator",
    )
    def integrations(request: Request) -> Response:
        creator_id = deps.auth.creator_id(request)
        tiles = {p: TileOut.model_validate(tile(p, deps.connections.info(creator_id, p))) for p in PROVIDERS}
        return respond(IntegrationsOut(**tiles))

    @route(
        f"/api/integrations/{PROVIDER_PARAM}/connect",
        "POST",
        summary="Start connecting a provider: the URL of its consent page",
        responses={200: AuthorizeOut},
        auth="creator",
    )
    def connect(request: Request, name: str) -> Response:
        creator_id = deps.auth.creator_id(request)
        provider = _BY_NAME[name]
        now = deps.clock.now()
        state, nonce = deps.signer.issue(creator_id, provider, now)
        verifier, challenge = pkce_pair()
        record = {
            "creator_id": creator_id,
            "provider": provider,
            "expires_at": now + STATE_LIFETIME,
            "verifier": deps.vault.encrypt(verifier, _state_aad(nonce, creator_id, provider)).to_dict(),
        }
        deps.store.commit([create(OAUTH_STATES, nonce, record)])
        return respond(
            AuthorizeOut(authorize_url=deps.oauth[provider].authorize_url(redirect_uri(provider), state, challenge))
        )

    def consume_state(provider: Provider, state: str) -> tuple[str, str]:
        """(creator_id, PKCE verifier) of a valid, unused state; using it up is one atomic create-and-delete."""
        try:
            payload = deps.signer.verify(state, provider, deps.clock.now())
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

    def complete(provider: Provider, args: CallbackQuery) -> None:
        creator_id, verifier = consume_state(provider, args.state)
        if args.error or not args.code:
            raise CallbackRefused(f"provider answered {args.error or 'no code'}")
        oauth = deps.oauth[provider]
        try:
            tokens = oauth.exchange_code(args.code, redirect_uri(provider), verifier)
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

    @route(
        f"/oauth/{PROVIDER_PARAM}/callback",
        "GET",
        summary="The provider's redirect back: 302 to the integrations settings page, connected or with the error",
        query=CallbackQuery,
        responses={302: None},
    )
    def callback(request: Request, name: str) -> Response:
        provider = _BY_NAME[name]
        try:
            try:
                args = parse_query(request, CallbackQuery)
            except ApiError as exc:
                raise CallbackRefused(exc.message) from None
            complete(provider, args)
        except CallbackRefused as exc:
            log.warning("connection not completed", extra={"provider": provider, "reason": exc.reason})
            text = f"{FAILED} Missing permission: {exc.missing}" if exc.missing else FAILED
            return to_settings({"error": text})
        return to_settings({"connected": provider})

    def remove(request: Request, name: str) -> Response:
        creator_id = deps.auth.creator_id(request)
        provider = _BY_NAME[name]
        deps.connections.remove(creator_id, provider)
        return respond(TileOut.model_validate(tile(provider, None)))

    @route(
        "/webhooks/zoom",
        "POST",
        summary="Zoom's signed events: endpoint.url_validation and app_deauthorized",
        body=ZoomWebhookIn,
        responses={200: ZoomWebhookOut},
    )
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
        body = parse_body(request, ZoomWebhookIn)
        if body.event == "endpoint.url_validation":
            plain = body.payload.get("plainToken")
            if not isinstance(plain, str) or not plain:
                raise ApiError(400, "invalid_request", "payload.plainToken is required.")
            return respond(ZoomWebhookOut(UrlValidationOut(**url_validation_response(deps.webhook_secret, plain))))
        if body.event == "app_deauthorized":
            user_id = body.payload.get("user_id")
            if not isinstance(user_id, str) or not user_id:
                raise ApiError(400, "invalid_request", "payload.user_id is required.")
            changed = deps.connections.deauthorize_zoom(user_id)
            return respond(ZoomWebhookOut(WebhookAckOut(ok=True, connections=changed)))
        return respond(ZoomWebhookOut(WebhookAckOut(ok=True, ignored=body.event)))

    tile_of = {200: TileOut}
    return [
        integrations,
        connect,
        callback,
        Route(
            f"/api/integrations/{PROVIDER_PARAM}/disconnect",
            ("POST",),
            remove,
            "Disconnect a provider",
            responses=tile_of,
            auth="creator",
        ),
        Route(
            f"/api/integrations/{PROVIDER_PARAM}",
            ("DELETE",),
            remove,
            "Remove a broken connection",
            responses=tile_of,
            auth="creator",
        ),
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
    )


def build_app(runtime: Runtime) -> WebApp:
    settings = runtime.settings
    auth: CreatorAuth = DevTokenAuth(runtime.store) if settings.local else IdentityPlatformAuth(settings.project_id)
    return service_app(runtime, build_routes(deps_from_runtime(runtime, auth)))
