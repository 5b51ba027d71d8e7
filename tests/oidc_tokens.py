"""Keys and Google-style ID tokens made by the tests themselves, for OIDC checks (never Google's keys)."""

from __future__ import annotations

import datetime
import time
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import crypt, jwt

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
