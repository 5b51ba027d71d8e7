"""The local gateway stands in for the load balancer: it routes by the topology's path map and keeps no cookies."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.test import Client
from werkzeug.wrappers import Request, Response

from devstack.gateway import Gateway
from devstack.upstream import IDLE_EXPIRY_SECONDS, SERVER_KEEPALIVE_SECONDS
from shared.topology import load_topology


@pytest.fixture
def upstream() -> Iterator[str]:
    """A service that sets a cookie on /manage/... and echoes the Cookie header it is sent."""

    @Request.application
    def app(request: Request) -> Response:
        response = Response(request.headers.get("Cookie", "(none)"))
        response.set_cookie("flo_session", "one-browsers-session")
        return response

    server: BaseWSGIServer = make_server("127.0.0.1", 0, app)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


def test_one_browsers_cookie_never_reaches_another_browser(upstream: str) -> None:
    gateway = Gateway(load_topology(), {"bookings": upstream, "connect": upstream})
    first, second = Client(gateway), Client(gateway)

    answered = first.get("/manage/abc")
    assert "flo_session=one-browsers-session" in answered.headers["Set-Cookie"]  # handed back to its browser

    assert second.get("/manage/abc").get_data(as_text=True) == "(none)"
    assert first.get("/manage/abc").get_data(as_text=True) == "flo_session=one-browsers-session"


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/dashboard/settings/integrations", "connect"),
        ("/dashboard/settings/integrations/zoom/connect", "connect"),
        ("/dashboard/bookings", "bookings"),
        ("/dashboard/notices/n1/dismiss", "bookings"),
        ("/book/c1/o1", "bookings"),
        ("/manage/t1", "bookings"),
        ("/dev/sign-in", "bookings"),
        ("/sign-in", "bookings"),
        ("/assets/pages.css", "bookings"),
        ("/oauth/zoom/callback", "connect"),
    ],
)
def test_the_pages_are_on_the_path_map(path: str, service: str) -> None:
    assert load_topology().service_for(path) == service


def test_the_stacks_relays_drop_an_idle_connection_before_the_service_closes_it() -> None:
    """A request sent on a connection gunicorn is closing gets no answer: a fan's booking answered 502."""
    assert 0 < IDLE_EXPIRY_SECONDS < SERVER_KEEPALIVE_SECONDS
