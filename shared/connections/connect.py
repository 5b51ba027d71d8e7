"""Connecting a creator's Zoom or Google account: the OAuth start, the callback, the tiles and disconnect.

The OAuth `state` is signed and bound to the creator (no attaching an attacker's account) and to the
browser that pressed Connect (a value the route layer keeps in a cookie; no sending one's authorize URL
to someone else), and single-use: its nonce is stored with the PKCE verifier (sealed) and consumed by one atomic
create-and-delete, so a replayed callback fails. A failed callback stores nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from shared.clock import Clock
from shared.connections.heal import ZoomHealing
from shared.connections.repository import DocStoreConnections
from shared.connections.tiles import tile
from shared.errors import NotFoundError
from shared.oauth_state import STATE_LIFETIME, StateError, StateSigner
from shared.providers.errors import Provider, ProviderError
from shared.providers.oauth import missing_scopes, pkce_pair
from shared.providers.ports import OAuthProvider, VideoProvider
from shared.store.port import Conflict, DocStore, create, delete
from shared.vault import Sealed, Vault, VaultError

log = logging.getLogger(__name__)

OAUTH_STATES = "oauth_states"
PROVIDERS: tuple[Provider, ...] = ("zoom", "google")


class CallbackRefused(Exception):
    """The callback cannot connect; `reason` goes to the logs, `missing` (permissions) to the creator."""

    def __init__(self, reason: str, missing: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.missing = missing


def provider_named(name: str) -> Provider:
    for provider in PROVIDERS:
        if provider == name:
            return provider
    raise NotFoundError("unknown_provider", f"There is no integration called {name!r}; use zoom or google.")


def state_aad(nonce: str, creator_id: str, provider: str) -> str:
    return json.dumps(["flo-oauth-state", nonce, creator_id, provider])


def _short_scope(scope: str) -> str:
    return scope.rsplit("/", 1)[-1]


class ConnectFlow:
    def __init__(
        self,
        base_url: str,
        store: DocStore,
        clock: Clock,
        vault: Vault,
        oauth: Mapping[str, OAuthProvider],
        zoom: VideoProvider,
        connections: DocStoreConnections,
        signer: StateSigner,
        healing: ZoomHealing,
    ) -> None:
        self._base_url = base_url
        self._store = store
        self._clock = clock
        self._vault = vault
        self._oauth = oauth
        self._zoom = zoom
        self._connections = connections
        self._signer = signer
        self._healing = healing

    def tiles(self, creator_id: str) -> dict[str, dict[str, Any]]:
        return {p: tile(p, self._connections.info(creator_id, p)) for p in PROVIDERS}

    def start(self, creator_id: str, provider: Provider, browser: str) -> str:
        """The provider's consent URL, carrying a fresh signed state (bound to `browser`, the starting browser's
        cookie value) and a PKCE challenge."""
        now = self._clock.now()
        state, nonce = self._signer.issue(creator_id, provider, now, browser)
        verifier, challenge = pkce_pair()
        record = {
            "creator_id": creator_id,
            "provider": provider,
            "expires_at": now + STATE_LIFETIME,
            "verifier": self._vault.encrypt(verifier, state_aad(nonce, creator_id, provider)).to_dict(),
        }
        self._store.commit([create(OAUTH_STATES, nonce, record)])
        return self._oauth[provider].authorize_url(self._redirect_uri(provider), state, challenge)

    def complete(self, provider: Provider, args: Mapping[str, str], browser: str | None) -> None:
        """Store the connection the provider's redirect carries; CallbackRefused when it cannot be made (also when
        `browser`, the calling browser's cookie value, is not the one that started the connect)."""
        creator_id, verifier = self._consume_state(provider, args.get("state", ""), browser)
        if args.get("error") or not args.get("code"):
            raise CallbackRefused(f"provider answered {args.get('error') or 'no code'}")
        oauth = self._oauth[provider]
        try:
            tokens = oauth.exchange_code(args["code"], self._redirect_uri(provider), verifier)
        except ProviderError as exc:
            raise CallbackRefused(f"code exchange failed ({exc.kind.value})") from None
        missing = missing_scopes(oauth.required_scopes, tokens)
        if missing:
            self._revoke_quietly(oauth, tokens.refresh_token)
            raise CallbackRefused("permission left unticked", ", ".join(sorted(map(_short_scope, missing))))
        try:
            if provider == "zoom":
                me = self._zoom.get_me(tokens.access_token)
                email, zoom_user_id = me.email, me.id
            else:
                email, zoom_user_id = oauth.account_email(tokens.access_token), None
        except ProviderError as exc:
            self._revoke_quietly(oauth, tokens.refresh_token)
            raise CallbackRefused(f"account lookup failed ({exc.kind.value})") from None
        replaced = self._connections.save(creator_id, provider, tokens, email, zoom_user_id)
        if provider == "zoom":
            self._healing.after_connect(creator_id, replaced)

    def disconnect(self, creator_id: str, provider: Provider) -> dict[str, Any]:
        """Remove the connection; the tile as it now reads."""
        self._connections.remove(creator_id, provider)
        return tile(provider, None)

    # ---- steps ---------------------------------------------------------------------------------------------

    def _redirect_uri(self, provider: Provider) -> str:
        return f"{self._base_url}/oauth/{provider}/callback"

    def _consume_state(self, provider: Provider, state: str, browser: str | None) -> tuple[str, str]:
        """(creator_id, PKCE verifier) of a valid, unused state; using it up is one atomic create-and-delete."""
        try:
            payload = self._signer.verify(state, provider, self._clock.now(), browser)
        except StateError as exc:
            raise CallbackRefused(f"state {exc.reason}") from None
        stored = self._store.get(OAUTH_STATES, payload.nonce)
        if stored is None or stored["creator_id"] != payload.creator_id or stored["provider"] != provider:
            raise CallbackRefused("state unknown or already used")
        used = {"expires_at": stored["expires_at"]}
        try:
            self._store.commit(
                [create(OAUTH_STATES, f"used-{payload.nonce}", used), delete(OAUTH_STATES, payload.nonce)]
            )
        except Conflict:
            raise CallbackRefused("state already used") from None
        try:
            aad = state_aad(payload.nonce, payload.creator_id, provider)
            return payload.creator_id, self._vault.decrypt(Sealed.from_dict(stored["verifier"]), aad)
        except VaultError:
            raise CallbackRefused("state verifier unreadable") from None

    @staticmethod
    def _revoke_quietly(oauth: OAuthProvider, token: str) -> None:
        """A grant we will not keep is handed back; failing that only costs an unused grant."""
        try:
            oauth.revoke(token)
        except ProviderError as exc:
            log.warning("could not revoke an unused grant", extra={"provider": oauth.name, "kind": exc.kind.value})
