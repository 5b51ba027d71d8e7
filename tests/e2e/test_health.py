"""Every service answers on the one local base URL, as production serves them behind one load balancer."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.flo import Flo, StackInfo

SERVICES = ("bookings", "connect", "meetings", "notify", "reminders")


def test_the_stack_runs_every_service_of_the_topology(stack: StackInfo) -> None:
    assert sorted(stack.services) == sorted(SERVICES)


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_health_route_answers_through_the_one_base_url(flo: Flo, service: str) -> None:
    r = flo.http.get(f"/health/{service}")

    assert r.status_code == 200, r.text
    assert r.json() == {"status": "ok", "service": service}


def test_the_gateway_routes_each_health_path_to_its_own_service(flo: Flo) -> None:
    answered_by = {service: flo.http.get(f"/health/{service}").json()["service"] for service in SERVICES}

    assert answered_by == {service: service for service in SERVICES}


@pytest.mark.parametrize("path", ["/no/such/route", "/health/nosuchservice", "/api/nope"])
def test_an_unknown_path_is_a_json_404(flo: Flo, path: str) -> None:
    r = flo.http.get(path)

    assert r.status_code == 404, r.text
    assert r.headers["content-type"].startswith("application/json")
    error = r.json()["error"]
    assert error["code"] and error["message"]


def test_a_service_route_asked_with_the_wrong_method_is_a_json_error_not_a_500(stack: StackInfo) -> None:
    r = httpx.delete(f"{stack.base_url}/health/bookings", timeout=10)

    assert r.status_code == 405, r.text
    assert "error" in r.json()
