"""The one place that builds clients (Firestore, Pub/Sub, HTTP, providers) and hands them to a service's app."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

import httplib2
import httpx
from werkzeug.wrappers import Request, Response

from shared.bus.port import Publisher
from shared.clock import Clock, SystemClock
from shared.config import Settings
from shared.connections.port import Connections
from shared.logs import configure_logging, register_secret
from shared.oidc import CertSource
from shared.providers.google_calendar import GoogleCalendarClient
from shared.providers.oauth import GoogleOAuth, ZoomOAuth
from shared.providers.ports import CalendarProvider, OAuthProvider, VideoProvider
from shared.providers.urls import ProviderUrls
from shared.providers.zoom import ZoomClient
from shared.secrets import SecretSource, secret_source_from_env
from shared.store.port import DocStore
from shared.vault import Vault
from shared.web import ApiError, LazyApp, Route, WebApp, error_response

PROVIDER_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Runtime:
    """What every service needs; tests build one from fakes instead. Provider clients are made on first use."""

    service: str
    settings: Settings
    store: DocStore
    publisher: Publisher
    clock: Clock
    secrets: SecretSource = field(repr=False)

    def secret(self, name: str) -> str:
        value = self.secrets.get(name)
        register_secret(value)
        return value

    @cached_property
    def vault(self) -> Vault:
        return Vault(self.secret("TOKEN_ENCRYPTION_KEYS"))

    @cached_property
    def provider_urls(self) -> ProviderUrls:
        return ProviderUrls.from_env(self.settings.environ)

    @cached_property
    def http(self) -> httpx.Client:
        return httpx.Client(timeout=PROVIDER_TIMEOUT_SECONDS)

    @cached_property
    def oauth(self) -> dict[str, OAuthProvider]:
        urls = self.provider_urls
        return {
            "zoom": ZoomOAuth(
                urls, self.secret("ZOOM_CLIENT_ID"), self.secret("ZOOM_CLIENT_SECRET"), self.http, self.clock
            ),
            "google": GoogleOAuth(
                urls, self.secret("GOOGLE_CLIENT_ID"), self.secret("GOOGLE_CLIENT_SECRET"), self.http, self.clock
            ),
        }

    @cached_property
    def zoom(self) -> VideoProvider:
        return ZoomClient(self.provider_urls.zoom_api, self.http, self.clock)

    @cached_property
    def calendar(self) -> CalendarProvider:
        return GoogleCalendarClient(
            self.provider_urls.google_calendar_api, lambda: httplib2.Http(timeout=PROVIDER_TIMEOUT_SECONDS), self.clock
        )

    @cached_property
    def connections(self) -> Connections:
        from shared.connections.store import FirestoreConnections

        return FirestoreConnections(self.store, self.vault, self.oauth, self.clock)


MACHINE_PREFIXES = ("/pubsub/", "/tasks/")


def service_app(runtime: Runtime, routes: Iterable[Route], certs: CertSource | None = None) -> WebApp:
    """A service's app; outside local, push and scheduler routes demand Google's OIDC token."""
    if runtime.settings.local:
        return WebApp(runtime.service, routes)
    from shared.oidc import OidcError, verifier_from_env

    verifier = verifier_from_env(runtime.settings.environ, certs)

    def require_oidc(request: Request) -> None:
        try:
            verifier.verify(request.headers.get("Authorization"))
        except OidcError as exc:
            raise ApiError(exc.status, "unauthorized", exc.message) from None

    return WebApp(runtime.service, routes, before=[(prefix, require_oidc) for prefix in MACHINE_PREFIXES])


def build_runtime(service: str, environ: Mapping[str, str] | None = None) -> Runtime:
    from shared.bus.pubsub import PubSubPublisher
    from shared.store.firestore import FirestoreDocStore

    settings = Settings.from_env(environ)
    configure_logging(service, settings.project_id)
    return Runtime(
        service=service,
        settings=settings,
        store=FirestoreDocStore(settings.project_id),
        publisher=PubSubPublisher(settings.project_id),
        clock=SystemClock(),
        secrets=secret_source_from_env(settings.environ),
    )


def lazy_service(service: str, build_app: Callable[[Runtime], WebApp]) -> LazyApp:
    """The app a main.py serves: built with real clients on the first request, never at import."""
    _json_errors_outside_the_app()
    return LazyApp(lambda: build_app(build_runtime(service)))


def _json_errors_outside_the_app() -> None:
    """functions-framework answers a few requests itself, before our app sees them: a path its catch-all
    rule cannot match (one with a line break) and /robots.txt get its HTML 404. Make those the API's JSON
    error too. Its `errorhandler` exists only while it loads a main.py, so elsewhere there is nothing to do."""
    import functions_framework
    from werkzeug.exceptions import HTTPException

    register = getattr(functions_framework, "errorhandler", None)
    if register is None:
        return

    def as_json(exc: HTTPException) -> Response:
        return error_response(exc.code or 500, "not_found" if exc.code == 404 else "error", exc.description or "")

    register(HTTPException)(as_json)
