"""Local mail sink: an SMTP server that keeps every message, and an HTTP API/page to read them.

The local stack points SMTP_HOST/SMTP_PORT here so no real mail leaves the machine, and tests read
what was "sent" over HTTP. Run ``python -m devstack.mailsink --smtp-port N --http-port M`` (0 picks
a free port) or call ``start_mailsink()`` in-process.

It offers SMTPUTF8 (internationalized addresses such as zoë@example.com), and ``PUT /policy`` with
``{"refuse": "<regex>", "smtputf8": false}`` makes it act like a stricter server for the tests that need
one: RCPT of an address matching the pattern gets ``550 5.1.1``, and new connections are not offered
SMTPUTF8. ``DELETE /policy`` (or a PUT without them) puts both back.

``PUT /held/<address>`` holds one mailbox: RCPT to it gets ``451 4.2.1`` (the sender retries later) until
``DELETE /held/<address>`` releases it, so a test decides when a message may arrive.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import itertools
import json
import re
import signal
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_string, policy
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult
from werkzeug.exceptions import BadRequest, HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """One message as the SMTP server got it, envelope included."""

    id: str
    received_at: datetime
    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes

    def parse(self) -> EmailMessage:
        # UTF-8, not ASCII with escapes: SMTPUTF8 messages carry non-ASCII addresses in their headers.
        parsed = message_from_string(self.raw.decode("utf-8", "replace"), policy=policy.default)
        assert isinstance(parsed, EmailMessage)  # policy.default always builds EmailMessage
        return parsed

    def to_json(self) -> dict[str, Any]:
        parsed = self.parse()
        return {
            "id": self.id,
            "received_at": self.received_at.isoformat(),
            "mail_from": self.mail_from,
            "rcpt_tos": list(self.rcpt_tos),
            "subject": str(parsed.get("Subject", "")).strip(),
            # One value per header name (the last one), which is all the X-Flo-* checks need.
            "headers": {name: str(value) for name, value in parsed.items()},
            "raw": self.raw.decode("utf-8", "replace"),
        }


class _Store:
    """Messages shared by the SMTP thread and the HTTP threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: list[ReceivedMessage] = []
        self._ids = itertools.count(1)
        self._held: set[str] = set()

    def hold(self, address: str, held: bool) -> None:
        """While an address is held, mail to it is refused with a 4xx, as a busy mailbox would answer."""
        with self._lock:
            if held:
                self._held.add(address.lower())
            else:
                self._held.discard(address.lower())

    def held(self, address: str) -> bool:
        with self._lock:
            return address.lower() in self._held

    def add(self, mail_from: str, rcpt_tos: Sequence[str], raw: bytes) -> None:
        with self._lock:
            self._messages.append(
                ReceivedMessage(str(next(self._ids)), datetime.now(UTC), mail_from, tuple(rcpt_tos), raw)
            )

    def all(self) -> list[ReceivedMessage]:
        with self._lock:
            return list(self._messages)

    def get(self, message_id: str) -> ReceivedMessage:
        with self._lock:
            for message in self._messages:
                if message.id == message_id:
                    return message
        raise NotFound(f"no message {message_id}")

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()


@dataclass(frozen=True, slots=True)
class _Policy:
    """What the server accepts: by default every recipient, and SMTPUTF8 offered."""

    refuse: re.Pattern[str] | None = None
    smtputf8: bool = True

    @classmethod
    def from_json(cls, body: Any) -> _Policy:
        if not isinstance(body, dict) or set(body) - {"refuse", "smtputf8"}:
            raise BadRequest('expected {"refuse": "<regex>" | null, "smtputf8": true | false}')
        pattern, smtputf8 = body.get("refuse"), body.get("smtputf8", True)
        if not isinstance(pattern, str | None) or not isinstance(smtputf8, bool):
            raise BadRequest("refuse must be a string or null, smtputf8 a boolean")
        try:
            return cls(re.compile(pattern) if pattern else None, smtputf8)
        except re.error as exc:
            raise BadRequest(f"refuse is not a regular expression: {exc}") from None

    def to_json(self) -> dict[str, Any]:
        return {"refuse": self.refuse.pattern if self.refuse else None, "smtputf8": self.smtputf8}


class _SmtpHandler:
    """aiosmtpd handler: accept every recipient the policy does not refuse and the test does not hold, and keep
    every message."""

    def __init__(self, store: _Store) -> None:
        self._store = store
        self.policy = _Policy()

    async def handle_RCPT(  # noqa: N802 (aiosmtpd hook)
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        refuse = self.policy.refuse
        if refuse is not None and refuse.search(address):
            return f"550 5.1.1 <{address}>: mailbox refused by the mail sink's policy"
        if self._store.held(address):
            return "451 4.2.1 Mailbox held by the test, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd hook)
        self._store.add(envelope.mail_from, envelope.rcpt_tos, envelope.original_content)
        return "250 Message accepted for delivery"


def _accept_any_login(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    """Let senders configured with production-like credentials work against the sink."""
    return AuthResult(success=True)


class _Controller(Controller):
    """aiosmtpd's Controller, but port 0 binds a free port instead of failing its self-check, and each
    connection is offered SMTPUTF8 as the sink's policy says at that moment."""

    def factory(self) -> SMTP:
        assert isinstance(self.handler, _SmtpHandler)
        return SMTP(self.handler, **{**self.SMTP_kwargs, "enable_SMTPUTF8": self.handler.policy.smtputf8})

    def _trigger_server(self) -> None:
        # Called once the socket is bound and before the self-check connects to self.port.
        if self.port == 0:
            assert isinstance(self.server, asyncio.Server)
            self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


class _HttpApp:
    """The sink's HTTP API (JSON) and a page a person can read."""

    def __init__(self, store: _Store, smtp: _SmtpHandler) -> None:
        self._store = store
        self._smtp = smtp
        self._urls = Map(
            [
                Rule("/", endpoint=self._index, methods=["GET"]),
                Rule("/messages", endpoint=self._list, methods=["GET"]),
                Rule("/messages", endpoint=self._clear, methods=["DELETE"]),
                Rule("/policy", endpoint=self._policy, methods=["GET", "PUT", "DELETE"]),
                Rule("/messages/<message_id>/raw", endpoint=self._raw, methods=["GET"]),
                Rule("/messages/<message_id>/html", endpoint=self._html, methods=["GET"]),
                Rule("/held/<address>", endpoint=self._hold, methods=["PUT"]),
                Rule("/held/<address>", endpoint=self._release, methods=["DELETE"]),
            ]
        )

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        try:
            endpoint, args = self._urls.bind_to_environ(environ).match()
            if endpoint == self._policy:  # the one endpoint that reads a body
                args = {"request": Request(environ)}
            response: Response = endpoint(**args)
        except HTTPException as exc:  # 400/404/405 with werkzeug's own body
            return exc(environ, start_response)
        return response(environ, start_response)

    def _policy(self, request: Request) -> Response:
        if request.method == "PUT":
            self._smtp.policy = _Policy.from_json(request.get_json(silent=True))
        elif request.method == "DELETE":
            self._smtp.policy = _Policy()
        return Response(json.dumps(self._smtp.policy.to_json()), mimetype="application/json")

    def _list(self) -> Response:
        body = json.dumps([message.to_json() for message in self._store.all()])
        return Response(body, mimetype="application/json")

    def _clear(self) -> Response:
        self._store.clear()
        return Response(status=204)

    def _hold(self, address: str) -> Response:
        self._store.hold(address, held=True)
        return Response(status=204)

    def _release(self, address: str) -> Response:
        self._store.hold(address, held=False)
        return Response(status=204)

    def _raw(self, message_id: str) -> Response:
        return Response(self._store.get(message_id).raw, mimetype="text/plain")

    def _html(self, message_id: str) -> Response:
        body = self._store.get(message_id).parse().get_body(("html",))
        if body is None:
            raise NotFound("message has no HTML part")
        return Response(body.get_content(), mimetype="text/html")

    def _index(self) -> Response:
        rows = []
        for message in reversed(self._store.all()):
            parsed = message.parse()
            cells = (
                message.received_at.strftime("%Y-%m-%d %H:%M:%S"),
                str(parsed.get("X-Flo-Email-Kind", "")),
                ", ".join(message.rcpt_tos),
                str(parsed.get("Subject", "")),
            )
            links = f'<a href="messages/{message.id}/html">html</a> <a href="messages/{message.id}/raw">raw</a>'
            rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + f"<td>{links}</td></tr>")
        page = (
            "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Flo mail sink</title></head><body>"
            f"<h1>Flo mail sink: {len(rows)} message(s)</h1>"
            "<table border='1' cellpadding='4'><tr><th>Received (UTC)</th><th>Kind</th><th>To</th>"
            "<th>Subject</th><th></th></tr>" + "".join(rows) + "</table></body></html>"
        )
        return Response(page, mimetype="text/html")


class MailSink:
    """A running sink; stop() shuts both servers down and frees their ports."""

    def __init__(self, host: str, smtp: _Controller, http: BaseWSGIServer, store: _Store) -> None:
        self.smtp_host = host
        self._smtp = smtp
        self._http = http
        self._store = store
        self._http_thread = threading.Thread(target=http.serve_forever, name="mailsink-http", daemon=True)
        self._http_thread.start()

    @property
    def smtp_port(self) -> int:
        port: int = self._smtp.port
        return port

    @property
    def http_url(self) -> str:
        return f"http://{self.smtp_host}:{self._http.server_port}"

    def messages(self) -> list[EmailMessage]:
        """Everything received so far, oldest first."""
        return [message.parse() for message in self._store.all()]

    def clear(self) -> None:
        self._store.clear()

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._http_thread.join()
        self._smtp.stop()

    def __enter__(self) -> MailSink:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_mailsink(smtp_port: int = 0, http_port: int = 0, host: str = "127.0.0.1") -> MailSink:
    """Start the SMTP and HTTP servers in background threads; port 0 picks a free port."""
    store = _Store()
    handler = _SmtpHandler(store)
    smtp = _Controller(
        handler,
        hostname=host,
        port=smtp_port,
        authenticator=_accept_any_login,
        auth_require_tls=False,
    )
    smtp.start()
    try:
        http = make_server(host, http_port, _HttpApp(store, handler), threaded=True)
    except BaseException:
        smtp.stop()
        raise
    return MailSink(host, smtp, http, store)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack.mailsink", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--smtp-port", type=int, default=1025)
    parser.add_argument("--http-port", type=int, default=8025)
    args = parser.parse_args(argv)

    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    sink = start_mailsink(args.smtp_port, args.http_port, args.host)
    try:
        print(f"mailsink listening: smtp={sink.smtp_host}:{sink.smtp_port} http={sink.http_url}", flush=True)
        stopping.wait()
    finally:
        sink.stop()
    print("mailsink stopped", flush=True)


if __name__ == "__main__":
    main()
