"""Push as production Pub/Sub does it, for the local stack: many deliveries in flight per subscription.

The emulator's own push delivers at most two messages at a time per subscription (measured: 200 messages to
a handler taking 200 ms took 20 s, never more than 2 in flight), so a burst queues in front of a worker that
could take far more, and local throughput figures would say more about the emulator than about Flo. With
FLO_PUSH_CONCURRENCY=N the local stack declares its subscriptions as pull subscriptions instead and this
relay pulls them (streaming pull with flow control, N messages in flight per subscription) and POSTs each
message to the service in the envelope push uses. As with push: a 2xx acks, anything else (or no answer)
is redelivered after the subscription's backoff, exponential from its minimum to its maximum by delivery
attempt, and the emulator's dead-letter policy still counts the attempts.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
from google.cloud.pubsub_v1 import SubscriberClient
from google.cloud.pubsub_v1.subscriber.message import Message
from google.cloud.pubsub_v1.subscriber.scheduler import ThreadScheduler
from google.cloud.pubsub_v1.types import FlowControl

from devstack.upstream import service_client
from shared.topology import RetryPolicy, Topology

log = logging.getLogger(__name__)


def concurrency_from_env(environ: Mapping[str, str]) -> int | None:
    """N from FLO_PUSH_CONCURRENCY, or None (unset or 0): the emulator's own push, as by default."""
    value = int(environ.get("FLO_PUSH_CONCURRENCY", "0") or 0)
    if value < 0:
        raise ValueError("FLO_PUSH_CONCURRENCY must be 0 or more")
    return value or None


def backoff_seconds(retry: RetryPolicy, delivery_attempt: int) -> float:
    """The wait before a refused message comes again: doubling from the minimum, capped at the maximum."""
    doubled = retry.minimum_backoff_seconds * 2 ** max(0, delivery_attempt - 1)
    return float(min(doubled, retry.maximum_backoff_seconds))


def envelope(message: Message, subscription: str) -> dict[str, Any]:
    """The JSON body Pub/Sub push sends for one message."""
    body: dict[str, Any] = {
        "message": {
            "data": base64.b64encode(message.data).decode(),
            "attributes": dict(message.attributes),
            "messageId": message.message_id,
            "publishTime": message.publish_time.isoformat(),
        },
        "subscription": subscription,
    }
    if message.delivery_attempt is not None:
        body["deliveryAttempt"] = message.delivery_attempt
    return body


@dataclass(frozen=True)
class _Target:
    subscription: str
    endpoint: str


class PushRelay:
    def __init__(self, project_id: str, topology: Topology, push_url: Callable[[str], str], concurrency: int) -> None:
        self._project_id = project_id
        self._topology = topology
        self._push_url = push_url
        self._concurrency = concurrency
        self._retry = topology.retry
        self._http = service_client(timeout=topology.retry.ack_deadline_seconds, max_idle=concurrency)
        self._subscriber: SubscriberClient | None = None
        self._streams: list[Any] = []

    def start(self) -> None:
        """Pull every subscription of the topology (dead-letter ones excepted: nothing consumes them)."""
        self._subscriber = SubscriberClient()
        for sub in self._topology.subscriptions:
            path = self._subscriber.subscription_path(self._project_id, sub.name)
            target = _Target(path, self._push_url(sub.service) + sub.path)
            scheduler = ThreadScheduler(ThreadPoolExecutor(max_workers=self._concurrency))
            stream = self._subscriber.subscribe(
                path,
                callback=lambda message, target=target: self._deliver(target, message),
                flow_control=FlowControl(max_messages=self._concurrency),
                scheduler=scheduler,
            )
            self._streams.append(stream)

    def stop(self) -> None:
        for stream in self._streams:
            stream.cancel()
        if self._subscriber is not None:
            self._subscriber.close()
        self._http.close()

    def _deliver(self, target: _Target, message: Message) -> None:
        try:
            status: int | None = self._http.post(
                target.endpoint, json=envelope(message, target.subscription)
            ).status_code
        except httpx.HTTPError as exc:
            status = None
            log.warning("push relay: no answer from %s (%s)", target.endpoint, type(exc).__name__)
        if status is not None and 200 <= status < 300:
            message.ack()
            return
        # Comes again once its deadline, set to the backoff, runs out; dropped from the flow control meanwhile,
        # so a refused message holds no delivery slot while it waits, as with push.
        message.modify_ack_deadline(int(backoff_seconds(self._retry, message.delivery_attempt or 1)))
        message.drop()
