"""Creates the topics, push subscriptions and dead-letter topics of topology.yaml in the Pub/Sub emulator."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from google.api_core import exceptions as gexc
from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient
from google.protobuf import duration_pb2

from shared.topology import Topology


def ensure_topology(
    project_id: str, topology: Topology, service_url: Callable[[str], str], *, push: bool = True
) -> None:
    """Idempotently declare everything; push endpoints point at each service's own local URL (or, with
    `push` off, the subscriptions are pulled by the push relay, devstack/pushrelay.py)."""
    publisher = PublisherClient()
    subscriber = SubscriberClient()
    topic_names = set(topology.topics) | {s.dead_letter_topic for s in topology.subscriptions}
    for name in sorted(topic_names):
        with contextlib.suppress(gexc.AlreadyExists):
            publisher.create_topic(name=publisher.topic_path(project_id, name))
    retry = topology.retry
    for sub in topology.subscriptions:
        requests = [
            {
                "name": subscriber.subscription_path(project_id, sub.name),
                "topic": publisher.topic_path(project_id, sub.topic),
                "push_config": {"push_endpoint": service_url(sub.service) + sub.path} if push else {},
                "ack_deadline_seconds": retry.ack_deadline_seconds,
                "retry_policy": {
                    "minimum_backoff": duration_pb2.Duration(seconds=retry.minimum_backoff_seconds),
                    "maximum_backoff": duration_pb2.Duration(seconds=retry.maximum_backoff_seconds),
                },
                "dead_letter_policy": {
                    "dead_letter_topic": publisher.topic_path(project_id, sub.dead_letter_topic),
                    "max_delivery_attempts": retry.max_delivery_attempts,
                },
            },
            {
                "name": subscriber.subscription_path(project_id, sub.dead_letter_subscription),
                "topic": publisher.topic_path(project_id, sub.dead_letter_topic),
            },
        ]
        for request in requests:
            with contextlib.suppress(gexc.AlreadyExists):
                subscriber.create_subscription(request=request)
    subscriber.close()
