"""A local SMTP server that speaks only TLS (STARTTLS or implicit) and demands AUTH, with a certificate
the test makes: what production's relay is like, on loopback."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from devstack.emulators import free_port
from tests.certs import private_pem, self_signed

HOST = "127.0.0.1"


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost; returns (certificate, key) PEM paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    names = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST)), x509.DNSName("localhost")])
    extensions = ((names, False), (x509.BasicConstraints(ca=True, path_length=None), True))
    cert = self_signed(key, "flo-test-smtp", datetime.timedelta(minutes=5), extensions)
    cert_path, key_path = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(private_pem(key))
    return cert_path, key_path


def client_context(cert_path: Path) -> ssl.SSLContext:
    """What a client that trusts only the test's certificate uses (host name checked, as in production)."""
    return ssl.create_default_context(cafile=str(cert_path))


@dataclass
class _Recorder:
    username: str
    password: str
    messages: list[EmailMessage] = field(default_factory=list)
    tls_seen: list[bool] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == self.username
            and auth_data.password.decode() == self.password
        )
        if ok:
            self.logins.append(self.username)
        return AuthResult(success=ok)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        self.tls_seen.append(server.transport.get_extra_info("ssl_object") is not None)
        parsed = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 OK"


@dataclass(frozen=True)
class TlsSmtp:
    port: int
    recorder: _Recorder

    @property
    def messages(self) -> list[EmailMessage]:
        return self.recorder.messages

    @property
    def tls_seen(self) -> list[bool]:
        return self.recorder.tls_seen


@contextmanager
def tls_smtp_server(
    cert_path: Path, key_path: Path, mode: Literal["starttls", "implicit"], username: str, password: str
) -> Iterator[TlsSmtp]:
    """STARTTLS mode refuses MAIL and AUTH before STARTTLS; implicit mode is TLS from the first byte."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    recorder = _Recorder(username, password)
    common: dict[str, Any] = {
        "hostname": HOST,
        "port": free_port(),
        "authenticator": recorder.authenticate,
        "auth_required": True,
        "auth_require_tls": True,
    }
    if mode == "starttls":
        controller = Controller(recorder, tls_context=context, require_starttls=True, **common)
    else:
        # aiosmtpd counts only STARTTLS as TLS for AUTH; here the socket is TLS from the first byte.
        controller = Controller(recorder, ssl_context=context, **{**common, "auth_require_tls": False})
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")  # implicit TLS: it is TLS
        controller.start()
    try:
        yield TlsSmtp(int(common["port"]), recorder)
    finally:
        controller.stop()
