"""Keys, Google-style ID tokens and a certificate endpoint made by the tests themselves (never Google's)."""

from __future__ import annotations

import datetime
import time
from collections.abc import Mapping
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import crypt, jwt

from shared.oidc import GoogleCertSource
from tests.certs import private_pem, self_signed

AUDIENCE = "https://book.flo.example/services/meetings"
PUSH_SA = "pubsub-push-invoker@proj.iam.gserviceaccount.com"
SCHEDULER_SA = "scheduler-invoker@proj.iam.gserviceaccount.com"
KEY_ID = "key-1"


def key_and_cert() -> tuple[bytes, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = self_signed(key, "test-signer", datetime.timedelta(days=1))
    return private_pem(key), cert.public_bytes(serialization.Encoding.PEM).decode()


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    result: dict[str, Any] = {
        "iss": "https://accounts.google.com",
        "aud": AUDIENCE,
        "sub": "112233445566778899",
        "email": PUSH_SA,
        "email_verified": True,
        "iat": now - 10,
        "exp": now + 3600,
    }
    result.update(overrides)
    return result


def sign(private_pem: bytes, token_claims: Mapping[str, Any], key_id: str = KEY_ID) -> str:
    # google-auth's signing helpers have no annotations.
    signer = crypt.RSASigner.from_string(private_pem, key_id=key_id)  # type: ignore[no-untyped-call]
    token: bytes = jwt.encode(signer, dict(token_claims))  # type: ignore[no-untyped-call]
    return token.decode()


class CertificateServer:
    """Plays Google's certificate endpoint over httpx: serves our certificates, or fails with ``status``."""

    def __init__(self, certs: Mapping[str, object] | list[object], status: int = 200) -> None:
        self.certs = certs
        self.status = status
        self.urls: list[str] = []
        self.client_options: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(str(request.url))
        return httpx.Response(self.status, json=self.certs)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self))

    def source(self, url: str) -> GoogleCertSource:
        """Production's certificate source for ``url``, fetching from this server."""
        return GoogleCertSource(url, client=self.client())

    def replace_the_network(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Every httpx.Client built from now on (production's own) talks to this server; their options are kept."""
        client = self.client()

        def build(**options: Any) -> httpx.Client:
            self.client_options.append(options)
            return client

        monkeypatch.setattr(httpx, "Client", build)
