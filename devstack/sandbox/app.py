"""The sandbox WSGI app and a threaded server for tests and the local stack."""

from __future__ import annotations

import logging
import random
import socket
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, g, request
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from devstack.sandbox import _control, _google, _zoom
from devstack.sandbox._http import SECRET_KEYS, json_response, sandbox
from devstack.sandbox._state import PROVIDERS, Fault, SandboxState, iso_z

log = logging.getLogger("devstack.sandbox")
# Request bodies of these API paths are recorded in the call log (they hold no secrets).
_API_PREFIXES = ("/zoom/v2/", "/google/calendar/v3/")


def create_app(state: SandboxState | None = None) -> Flask:
    """The WSGI app; pass a state to share or inspect it directly (tests, several apps)."""
    app = Flask(__name__, template_folder="templates")
    app.extensions["sandbox"] = state if state is not None else SandboxState()
    app.register_blueprint(_zoom.bp)
    app.register_blueprint(_google.bp)
    app.register_blueprint(_control.bp)
    app.before_request(_inject_fault)
    app.after_request(_record_call)
    app.after_request(_lose_answer)  # registered last, so it runs first and the call log shows the answer sent
    return app


def _provider_of(path: str) -> str | None:
    head = path.split("/", 2)[1] if path.count("/") >= 1 else ""
    return head if head in PROVIDERS else None


def _fault_response(fault: Fault) -> Response | None:
    """Apply a fault outside the state lock: latency, then a timeout or a canned answer."""
    time.sleep(fault.latency_seconds)
    if fault.timeout_seconds:
        time.sleep(fault.timeout_seconds)
        if fault.timeout_action == "drop":
            sock = request.environ.get("werkzeug.socket")
            if isinstance(sock, socket.socket):
                sock.shutdown(socket.SHUT_RDWR)
            g.dropped = True
        return Response("upstream request timeout", status=504, mimetype="text/plain")
    if fault.status is None:
        return None
    if fault.body is None or isinstance(fault.body, str):
        response = Response(fault.body or "", status=fault.status, mimetype="text/plain")
        response.headers.update(fault.headers)
        return response
    return json_response(fault.body, fault.status, fault.headers)


def _inject_fault() -> Response | None:
    provider = _provider_of(request.path)
    if provider is None:
        return None
    state = sandbox()
    fault = state.pick_fault(provider, request.method, request.path, random.random())
    if fault is None:
        return None
    g.fault_id = fault.id
    if fault.after_call:
        g.after_call_fault = fault
        return None
    return _fault_response(fault)


def _lose_answer(response: Response) -> Response:
    """An after_call fault: the call happened; now its answer is replaced by the fault's."""
    fault = g.pop("after_call_fault", None)
    if fault is None:
        return response
    return _fault_response(fault) or response


def _record_call(response: Response) -> Response:
    provider = _provider_of(request.path)
    if provider is None:
        return response
    entry: dict[str, Any] = {
        "provider": provider,
        "method": request.method,
        "path": request.path,
        "query": {k: v for k, v in request.args.items() if k not in SECRET_KEYS},
        "status": response.status_code,
        "grant_id": g.get("grant_id"),
        "token_id": g.get("token_id"),
        "user": g.get("user"),
        "fault_id": g.get("fault_id"),
        "dropped": bool(g.get("dropped")),
    }
    if request.path.startswith(_API_PREFIXES) and request.is_json:
        entry["body"] = request.get_json(silent=True)
    state = sandbox()
    with state.lock:
        entry["time"] = iso_z(state.now())
        entry["seq"] = len(state.calls) + 1
        state.calls.append(entry)
    return response


class _QuietHandler(WSGIRequestHandler):
    """Logs method, path and status only: query strings can carry tokens and codes."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.info("%s %s %s", self.command, urlsplit(self.path).path, code)


class SandboxServer:
    """A running sandbox: `.url` is the PROVIDER_SANDBOX_URL, `.state` its data, `.stop()` ends it."""

    def __init__(self, server: BaseWSGIServer, app: Flask) -> None:
        self._server = server
        self.app = app
        self.state: SandboxState = app.extensions["sandbox"]
        self.url = f"http://{server.host}:{server.port}"
        self._thread = threading.Thread(target=server.serve_forever, name="provider-sandbox", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        if self._thread.is_alive():
            self._thread.join()
        self._server.server_close()


def make_sandbox_server(host: str = "127.0.0.1", port: int = 0, app: Flask | None = None) -> SandboxServer:
    """Bind a threaded server (port 0 picks a free one) without starting it."""
    app = app if app is not None else create_app()
    server = make_server(host, port, app, threaded=True, request_handler=_QuietHandler)
    return SandboxServer(server, app)


def serve_in_thread(port: int = 0, host: str = "127.0.0.1") -> SandboxServer:
    """Start a sandbox on a background thread, for tests and the local stack."""
    sandbox_server = make_sandbox_server(host, port)
    sandbox_server.start()
    return sandbox_server
