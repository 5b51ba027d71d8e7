"""The one place that builds clients (Firestore, Pub/Sub, HTTP) and hands them to a service's app."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from shared.bus.port import Publisher
from shared.clock import Clock, SystemClock
from shared.config import Settings
from shared.logs import configure_logging
from shared.store.port import DocStore
from shared.web import LazyApp, WebApp


@dataclass(frozen=True)
class Runtime:
    """What every service needs; tests build one from fakes instead."""

    service: str
    settings: Settings
    store: DocStore
    publisher: Publisher
    clock: Clock


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
    )


def lazy_service(service: str, build_app: Callable[[Runtime], WebApp]) -> LazyApp:
    """The app a main.py serves: built with real clients on the first request, never at import."""
    return LazyApp(lambda: build_app(build_runtime(service)))
