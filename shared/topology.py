"""Reads topology.yaml, the one declaration of services, routes, topics, subscriptions and scheduler jobs."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

TOPOLOGY_FILE = Path(__file__).with_name("topology.yaml")


@dataclass(frozen=True)
class RoutePrefix:
    prefix: str
    service: str
    public: bool


@dataclass(frozen=True)
class Subscription:
    name: str
    topic: str
    service: str
    path: str

    @property
    def dead_letter_topic(self) -> str:
        return f"{self.name}-dead-letter"

    @property
    def dead_letter_subscription(self) -> str:
        return f"{self.name}-dead-letter-sub"


@dataclass(frozen=True)
class SchedulerJob:
    name: str
    service: str
    path: str
    local_interval_seconds: float


@dataclass(frozen=True)
class RetryPolicy:
    minimum_backoff_seconds: int
    maximum_backoff_seconds: int
    max_delivery_attempts: int
    ack_deadline_seconds: int


@dataclass(frozen=True)
class Topology:
    services: tuple[str, ...]
    routes: tuple[RoutePrefix, ...]
    topics: tuple[str, ...]
    subscriptions: tuple[Subscription, ...]
    scheduler: tuple[SchedulerJob, ...]
    retry: RetryPolicy

    def route_for(self, path: str) -> RoutePrefix | None:
        """The path map entry that serves a path: the longest matching prefix wins, as in the load balancer."""
        matches = [r for r in self.routes if path.startswith(r.prefix)]
        return max(matches, key=lambda r: len(r.prefix)) if matches else None

    def service_for(self, path: str) -> str | None:
        found = self.route_for(path)
        return found.service if found else None


@cache
def load_topology(path: Path = TOPOLOGY_FILE) -> Topology:
    raw = yaml.safe_load(path.read_text())
    return Topology(
        services=tuple(raw["services"]),
        routes=tuple(RoutePrefix(r["prefix"], r["service"], bool(r["public"])) for r in raw["routes"]),
        topics=tuple(raw["topics"]),
        subscriptions=tuple(
            Subscription(name, s["topic"], s["service"], s["path"]) for name, s in raw["subscriptions"].items()
        ),
        scheduler=tuple(
            SchedulerJob(name, j["service"], j["path"], float(j["local_interval_seconds"]))
            for name, j in raw["scheduler"].items()
        ),
        retry=RetryPolicy(**raw["retry_defaults"]),
    )
