"""The local stand-in for the production load balancer: one base URL, the path map of topology.yaml."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any
from urllib.parse import quote

import httpx
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from devstack.ratelimit import RateLimiter
from devstack.upstream import service_client
from shared.topology import Topology

log = logging.getLogger(__name__)

_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "content-length",
    "content-encoding",
    "host",
}


class Gateway:
    """Forwards each request to the service that owns its path prefix, as the URL map does in production."""

    def __init__(self, topology: Topology, service_urls: Mapping[str, str], limiter: RateLimiter | None = None) -> None:
        self._topology = topology
        self._service_urls = dict(service_urls)
        # A load balancer keeps no cookies: each browser's own Cookie header goes through, and a Set-Cookie goes
        # back to that browser only (a shared jar would hand one browser's session to every other).
        no_cookies = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
        self._client = service_client(timeout=60, follow_redirects=False, cookies=no_cookies)
        self._limiter = limiter

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        served = self._topology.route_for(request.path)
        if served is None:
            response = Response(
                '{"error": {"code": "not_found", "message": "No service serves this path."}}',
                status=404,
                mimetype="application/json",
            )
            return response(environ, start_response)
        wait = self._limiter.retry_after(request.remote_addr or "") if self._limiter and served.public else None
        if wait is not None:
            response = Response(
                '{"error": {"code": "rate_limited", "message": "Too many requests; try again shortly."}}',
                status=429,
                mimetype="application/json",
                headers={"Retry-After": str(wait)},
            )
            return response(environ, start_response)
        service = served.service
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        try:
            upstream = self._client.request(
                request.method,
                self._service_urls[service] + _raw_target(environ),
                headers=headers,
                content=request.get_data(),
            )
        except httpx.HTTPError as exc:
            log.warning("service not answering", extra={"service": service, "error": type(exc).__name__})
            response = Response(
                '{"error": {"code": "unavailable", "message": "The service is not answering."}}',
                status=502,
                mimetype="application/json",
            )
            return response(environ, start_response)
        out_headers = [(k, v) for k, v in upstream.headers.multi_items() if k.lower() not in _HOP_BY_HOP]
        return Response(upstream.content, status=upstream.status_code, headers=out_headers)(environ, start_response)


def _raw_target(environ: dict[str, Any]) -> str:
    """The path and query as the client sent them (still percent-encoded), so any byte in them reaches the
    service as it would behind the load balancer, rather than failing here as a decoded control character."""
    query = environ.get("QUERY_STRING", "")
    return quote(environ.get("PATH_INFO", ""), safe="/;:@&=+$,!~*'()", encoding="latin-1") + (
        f"?{query}" if query else ""
    )


def serve_gateway(gateway: Gateway, port: int) -> BaseWSGIServer:
    """Bind the port now (a clear OSError if it is taken) and serve in a background thread."""
    server = make_server("127.0.0.1", port, gateway, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True, name="gateway").start()
    return server
