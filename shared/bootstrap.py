"""The one composition root: builds the clients (Firestore, Pub/Sub, HTTP, providers, SMTP) and every
service's use cases from them. Tests build the same graph through the same functions, with fakes in `Adapters`."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property, partial
from typing import TypeVar
from urllib.parse import urlsplit

import httplib2
import httpx
from werkzeug.wrappers import Request, Response

from shared.auth import CreatorAuth, DevTokenAuth, IdentityPlatformAuth
from shared.bookings.busy import GoogleBusyTimes, NoCalendar
from shared.bookings.catalog import Catalog
from shared.bookings.notices import Notices
from shared.bookings.outbox import Outbox
from shared.bookings.payments import LocalPayments, PaymentConfirmations
from shared.bookings.repository import BookingRepository, DocStoreBookingRepository
from shared.bookings.service import BookingService, BusyTimes, Policy
from shared.bookings.slots import SlotFinder
from shared.bookings.trial import TrialBooking
from shared.bus.port import Publisher
from shared.clock import Clock, SystemClock
from shared.config import ConfigError, Settings
from shared.connections.connect import ConnectFlow
from shared.connections.heal import ZoomHealing
from shared.connections.port import Connections
from shared.connections.repository import DocStoreConnections
from shared.connections.zoom_webhook import ZoomWebhook
from shared.logs import configure_logging, register_secret
from shared.mail import MailSender, SmtpSender
from shared.mail.port import SMTP_TIMEOUT_SECONDS
from shared.meetings.google_catch_up import GoogleCatchUp
from shared.meetings.google_pause import GoogleWritePause
from shared.meetings.quota import ZoomQuota
from shared.meetings.reconcile import MeetingReconciler
from shared.notify.connection_broken import BrokenConnectionMail
from shared.notify.ledger import EmailLedger
from shared.notify.owed import Notifier
from shared.notify.reminders import SchedulerTick
from shared.oauth_state import StateSigner
from shared.oidc import CertSource
from shared.pages.kit import PageKit
from shared.providers._http import PROVIDER_TIMEOUT_SECONDS
from shared.providers.google_calendar import GoogleCalendarClient
from shared.providers.oauth import GoogleOAuth, ZoomOAuth
from shared.providers.ports import CalendarProvider, OAuthProvider, VideoProvider
from shared.providers.urls import ProviderUrls
from shared.providers.zoom import ZoomClient
from shared.rotation import reseal_connections, reseal_manage_tokens
from shared.secrets import SecretSource, secret_source_from_env
from shared.store.port import DocStore
from shared.vault import Vault
from shared.web import ApiError, LazyApp, Route, WebApp, error_response


@dataclass(frozen=True)
class Adapters:
    """Stand-ins for what talks to the outside world (tests hand in fakes); any left None is built for real."""

    oauth: Mapping[str, OAuthProvider] | None = None
    zoom: VideoProvider | None = None
    calendar: CalendarProvider | None = None
    connections: Connections | None = None
    """What the workers use to call a creator's Zoom or Google (the connection repository unless replaced)."""
    connection_repository: DocStoreConnections | None = None
    mail: MailSender | None = None
    pause: Callable[[float], None] | None = None
    """How a use case waits between polls (time.sleep; tests run the workers instead)."""


V = TypeVar("V")


class LazyMapping(Mapping[str, V]):
    """A mapping whose values are built on first lookup and then kept."""

    def __init__(self, factories: Mapping[str, Callable[[], V]]) -> None:
        self._factories = factories
        self._built: dict[str, V] = {}

    def __getitem__(self, key: str) -> V:
        if key not in self._built:
            self._built[key] = self._factories[key]()
        return self._built[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._factories)

    def __len__(self) -> int:
        return len(self._factories)


@dataclass(frozen=True)
class Runtime:
    """What every service needs; tests build one from fakes instead. Clients are made on first use."""

    service: str
    settings: Settings
    store: DocStore
    publisher: Publisher
    clock: Clock
    secrets: SecretSource = field(repr=False)
    adapters: Adapters = field(default_factory=Adapters)

    def secret(self, name: str) -> str:
        value = self.secrets.get(name)
        register_secret(value)
        return value

    @cached_property
    def vault(self) -> Vault:
        """Seals creators' OAuth tokens (and connect's PKCE verifiers): only connect, meetings, bookings hold it."""
        return Vault(self.secret("TOKEN_ENCRYPTION_KEYS"), name="TOKEN_ENCRYPTION_KEYS")

    @cached_property
    def manage_vault(self) -> Vault:
        """Seals fans' manage tokens, which emails need in clear; notify and reminders hold only this key."""
        return Vault(self.secret("MANAGE_TOKEN_KEYS"), name="MANAGE_TOKEN_KEYS")

    @cached_property
    def provider_urls(self) -> ProviderUrls:
        return ProviderUrls.from_env(self.settings.environ)

    @cached_property
    def http(self) -> httpx.Client:
        return httpx.Client(timeout=PROVIDER_TIMEOUT_SECONDS)

    @cached_property
    def oauth(self) -> Mapping[str, OAuthProvider]:
        """Each provider's client is made (and its secrets read) on first use, so a service that only
        refreshes Google tokens (bookings) is never given, nor needs, the Zoom secrets."""
        if self.adapters.oauth is not None:
            return self.adapters.oauth
        urls = self.provider_urls
        return LazyMapping(
            {
                "zoom": lambda: ZoomOAuth(
                    urls, self.secret("ZOOM_CLIENT_ID"), self.secret("ZOOM_CLIENT_SECRET"), self.http, self.clock
                ),
                "google": lambda: GoogleOAuth(
                    urls, self.secret("GOOGLE_CLIENT_ID"), self.secret("GOOGLE_CLIENT_SECRET"), self.http, self.clock
                ),
            }
        )

    @cached_property
    def zoom(self) -> VideoProvider:
        return self.adapters.zoom or ZoomClient(self.provider_urls.zoom_api, self.http, self.clock)

    @cached_property
    def calendar(self) -> CalendarProvider:
        return self.adapters.calendar or GoogleCalendarClient(
            self.provider_urls.google_calendar_api, lambda: httplib2.Http(timeout=PROVIDER_TIMEOUT_SECONDS), self.clock
        )

    @cached_property
    def connection_repository(self) -> DocStoreConnections:
        return self.adapters.connection_repository or DocStoreConnections(
            self.store, self.vault, self.oauth, self.clock
        )

    @cached_property
    def connections(self) -> Connections:
        return self.adapters.connections or self.connection_repository

    @cached_property
    def mail(self) -> MailSender:
        return self.adapters.mail or smtp_sender(self)

    @cached_property
    def auth(self) -> CreatorAuth:
        """Local dev tokens on the local stack, Identity Platform ID tokens everywhere else."""
        if self.settings.local:
            return DevTokenAuth(self.store)
        return IdentityPlatformAuth(self.settings.project_id)

    @cached_property
    def bookings(self) -> BookingRepository:
        return DocStoreBookingRepository(self.store)

    @cached_property
    def catalog(self) -> Catalog:
        return Catalog(self.store, self.clock)

    @cached_property
    def outbox(self) -> Outbox:
        return Outbox(self.store, self.publisher)

    @cached_property
    def notices(self) -> Notices:
        return Notices(self.store, self.clock)


def page_kit(runtime: Runtime) -> PageKit:
    """The pages' kit for a service: the same creator auth as its API; forms may go on to the providers' consent
    pages (Connect), nowhere else."""
    urls = runtime.provider_urls
    origins = sorted(
        {f"{urlsplit(u).scheme}://{urlsplit(u).netloc}" for u in (urls.zoom_authorize, urls.google_authorize)}
    )
    return PageKit(
        base_url=runtime.settings.base_url,
        local=runtime.settings.local,
        auth=runtime.auth,
        clock=runtime.clock,
        form_origins=tuple(origins),
    )


def smtp_sender(runtime: Runtime) -> SmtpSender:
    """SMTP host and TLS mode from the environment; the password is the SMTP_PASSWORD secret, read like every
    other secret (Secret Manager in production, the environment locally) and only when a username is set."""
    settings = runtime.settings
    if not settings.smtp_host:
        raise ConfigError("SMTP_HOST must be set for services that send email")
    username = settings.smtp_username
    password = runtime.secret("SMTP_PASSWORD") if username else None
    return SmtpSender(
        settings.smtp_host,
        settings.smtp_port,
        username=username,
        password=password,
        tls=settings.smtp_tls,
        timeout=SMTP_TIMEOUT_SECONDS,
    )


# ---- every service's use cases ------------------------------------------------------------------------------


def booking_policy(settings: Settings) -> Policy:
    return Policy(
        payment_hold=timedelta(minutes=settings.payment_hold_minutes),
        link_deadline=timedelta(seconds=settings.link_deadline_seconds),
        confirmation_grace=timedelta(seconds=settings.confirmation_grace_seconds),
        booking_horizon=timedelta(days=settings.booking_horizon_days),
    )


def booking_service(runtime: Runtime, busy: BusyTimes) -> BookingService:
    return BookingService(
        runtime.bookings,
        runtime.catalog,
        runtime.outbox,
        runtime.clock,
        busy,
        booking_policy(runtime.settings),
        runtime.manage_vault,
    )


@dataclass(frozen=True)
class BookingsUseCases:
    bookings: BookingService
    slots: SlotFinder
    catalog: Catalog
    notices: Notices
    payments: LocalPayments
    payment_confirmations: PaymentConfirmations
    auth: CreatorAuth
    base_url: str
    local: bool


def slot_finder(runtime: Runtime, busy: BusyTimes) -> SlotFinder:
    return SlotFinder(runtime.catalog, runtime.bookings, busy, runtime.clock, booking_policy(runtime.settings))


def bookings_use_cases(runtime: Runtime) -> BookingsUseCases:
    busy = GoogleBusyTimes(runtime.connections, runtime.calendar, runtime.clock)
    bookings = booking_service(runtime, busy)
    return BookingsUseCases(
        bookings=bookings,
        slots=slot_finder(runtime, busy),
        catalog=runtime.catalog,
        notices=runtime.notices,
        payments=LocalPayments(runtime.bookings, runtime.publisher),
        payment_confirmations=PaymentConfirmations(bookings, runtime.notices, runtime.publisher),
        auth=runtime.auth,
        base_url=runtime.settings.base_url,
        local=runtime.settings.local,
    )


def meeting_reconciler(runtime: Runtime) -> MeetingReconciler:
    return MeetingReconciler(
        runtime.bookings,
        runtime.store,
        runtime.notices,
        runtime.publisher,
        runtime.clock,
        runtime.connections,
        runtime.zoom,
        runtime.calendar,
        ZoomQuota(runtime.store),
        GoogleWritePause(runtime.store),
    )


def notifier(runtime: Runtime) -> Notifier:
    settings = runtime.settings
    return Notifier(
        runtime.bookings,
        runtime.catalog,
        EmailLedger(runtime.store, runtime.clock, runtime.mail),
        runtime.notices,
        runtime.clock,
        runtime.manage_vault,
        settings.mail_from,
        settings.base_url,
    )


def scheduler_tick(runtime: Runtime) -> SchedulerTick:
    # The sweeps only cancel or expire bookings, so they never read a calendar.
    service = booking_service(runtime, NoCalendar())
    settings = runtime.settings
    broken_mail = BrokenConnectionMail(
        runtime.connection_repository,
        runtime.bookings,
        runtime.catalog,
        EmailLedger(runtime.store, runtime.clock, runtime.mail),
        runtime.clock,
        settings.mail_from,
        settings.base_url,
    )
    return SchedulerTick(
        runtime.bookings,
        runtime.outbox,
        service,
        notifier(runtime),
        runtime.clock,
        runtime.connection_repository,
        broken_mail,
        google_catch_up(runtime, service),
    )


def google_catch_up(runtime: Runtime, service: BookingService) -> GoogleCatchUp:
    """The tick's catch-up after a Google write pause; `service` reopens link-less bookings (it needs no calendar)."""
    return GoogleCatchUp(
        GoogleWritePause(runtime.store),
        runtime.bookings,
        service,
        runtime.outbox,
        runtime.connections,
        runtime.notices,
        runtime.clock,
    )


def connection_resealer(runtime: Runtime) -> Callable[[], int]:
    """meetings' daily sweep: creators' OAuth tokens off retired TOKEN_ENCRYPTION_KEYS versions."""
    return partial(reseal_connections, runtime.store, runtime.vault)


def manage_token_resealer(runtime: Runtime) -> Callable[[], int]:
    """reminders' daily sweep: fans' manage tokens off retired MANAGE_TOKEN_KEYS versions."""
    return partial(reseal_manage_tokens, runtime.bookings, runtime.manage_vault)


@dataclass(frozen=True)
class ConnectUseCases:
    flow: ConnectFlow
    zoom_webhook: ZoomWebhook
    trial: TrialBooking
    catalog: Catalog
    auth: CreatorAuth
    base_url: str
    local: bool


def connect_use_cases(runtime: Runtime) -> ConnectUseCases:
    busy = GoogleBusyTimes(runtime.connections, runtime.calendar, runtime.clock)
    service = booking_service(runtime, busy)
    healing = ZoomHealing(runtime.bookings, service, runtime.notices, runtime.connections, runtime.zoom, runtime.clock)
    flow = ConnectFlow(
        base_url=runtime.settings.base_url,
        store=runtime.store,
        clock=runtime.clock,
        vault=runtime.vault,
        oauth=runtime.oauth,
        zoom=runtime.zoom,
        connections=runtime.connection_repository,
        signer=StateSigner(runtime.secret("OAUTH_STATE_SECRET")),
        healing=healing,
    )
    webhook = ZoomWebhook(
        runtime.secret("ZOOM_WEBHOOK_SECRET"),
        runtime.connection_repository,
        runtime.clock,
        runtime.bookings,
        runtime.notices,
    )
    trial = TrialBooking(
        service,
        slot_finder(runtime, busy),
        runtime.catalog,
        runtime.connections,
        runtime.store,
        runtime.clock,
        runtime.adapters.pause or time.sleep,
    )
    return ConnectUseCases(
        flow, webhook, trial, runtime.catalog, runtime.auth, runtime.settings.base_url, runtime.settings.local
    )


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
            raise ApiError(exc.status, "unauthorized", exc.message, exc.headers) from None

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
