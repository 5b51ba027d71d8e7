"""How the local stack serves each service: Cloud Run's server settings, and more push-worker instances on ask."""

from __future__ import annotations

import pytest

from devstack.stack import _server_env


def test_every_service_gets_cloud_runs_threads_and_one_instance_by_default() -> None:
    for service in ("bookings", "connect", "meetings", "notify", "reminders"):
        assert _server_env(service, {}) == {"WORKERS": "1", "THREADS": "4"}


def test_more_instances_are_started_only_for_the_push_workers() -> None:
    env = {"FLO_WORKER_INSTANCES": "3"}
    assert _server_env("meetings", env)["WORKERS"] == "3"
    assert _server_env("notify", env)["WORKERS"] == "3"
    assert _server_env("bookings", env)["WORKERS"] == "1"


@pytest.mark.parametrize("value", ["0", "-1", "two", ""])
def test_a_bad_instance_count_stops_the_stack_with_a_message(value: str) -> None:
    with pytest.raises(RuntimeError, match="FLO_WORKER_INSTANCES"):
        _server_env("meetings", {"FLO_WORKER_INSTANCES": value})
