"""Production mail goes over TLS only: STARTTLS (587) and implicit TLS (465) against a local TLS server
with a certificate the test makes, verified like a real relay's; plain SMTP is refused outside local."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Literal

import pytest

from shared.config import ConfigError, Settings
from shared.mail import MailSendError, SmtpSender
from tests.tls_smtp import HOST, client_context, make_certificate, tls_smtp_server

USERNAME, PASSWORD = "apikey", "relay-Pa55word-never-logged"
PRODUCTION = {
    "FLO_ENV": "production",
    "FLO_BASE_URL": "https://book.flo.example",
    "GOOGLE_CLOUD_PROJECT": "flo-test",
    "OIDC_SERVICE_ACCOUNTS": "push@flo-test.iam.gserviceaccount.com",
}


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("smtp-tls"))


def message() -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "sessions@flo.example", "fan@example.com", "Confirmed"
    msg.set_content("See you then.")
    return msg


def sender(port: int, tls: Literal["none", "starttls", "implicit"], context: ssl.SSLContext | None) -> SmtpSender:
    return SmtpSender(HOST, port, username=USERNAME, password=PASSWORD, tls=tls, timeout=5, ssl_context=context)


@pytest.fixture(params=["starttls", "implicit"])
def mode(request: pytest.FixtureRequest) -> Iterator[Literal["starttls", "implicit"]]:
    yield request.param


def test_mail_is_sent_over_tls_with_auth(certificate: tuple[Path, Path], mode: Literal["starttls", "implicit"]) -> None:
    cert, key = certificate
    with tls_smtp_server(cert, key, mode, USERNAME, PASSWORD) as server:
        sender(server.port, mode, client_context(cert)).send(message())
        assert [m["Subject"] for m in server.messages] == ["Confirmed"]
        assert server.tls_seen == [True]
        assert server.recorder.logins == [USERNAME]


def test_an_untrusted_certificate_is_refused_permanently(
    certificate: tuple[Path, Path], mode: Literal["starttls", "implicit"]
) -> None:
    cert, key = certificate
    with tls_smtp_server(cert, key, mode, USERNAME, PASSWORD) as server:
        with pytest.raises(MailSendError) as caught:
            sender(server.port, mode, ssl.create_default_context()).send(message())  # system CAs only
        assert not caught.value.transient
        assert "certificate" in str(caught.value)
        assert server.messages == []


def test_the_wrong_tls_mode_sends_nothing(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    with tls_smtp_server(cert, key, "starttls", USERNAME, PASSWORD) as server:
        with pytest.raises(MailSendError):
            sender(server.port, "none", None).send(message())  # plain: the server demands STARTTLS first
        assert server.messages == []
    with tls_smtp_server(cert, key, "implicit", USERNAME, PASSWORD) as server:
        with pytest.raises(MailSendError):
            sender(server.port, "starttls", client_context(cert)).send(message())
        assert server.messages == []


@pytest.mark.parametrize(("port", "expected"), [("587", "starttls"), ("465", "implicit"), ("2525", "starttls")])
def test_production_picks_tls_from_the_port(port: str, expected: str) -> None:
    assert Settings.from_env({**PRODUCTION, "SMTP_PORT": port}).smtp_tls == expected


def test_plain_smtp_is_only_for_local() -> None:
    with pytest.raises(ConfigError, match="SMTP_TLS"):
        Settings.from_env({**PRODUCTION, "SMTP_TLS": "none"})
    local = {**PRODUCTION, "FLO_ENV": "local"}
    assert Settings.from_env(local).smtp_tls == "none"
    assert Settings.from_env({**local, "SMTP_TLS": "starttls"}).smtp_tls == "starttls"
