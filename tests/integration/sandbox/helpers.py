"""Helpers the sandbox tests share: PKCE pairs and the Zoom connect flow."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from devstack.sandbox.client import authorize

ZOOM_CLIENT = ("flo-zoom-client", "flo-zoom-secret")
REDIRECT_URI = "http://127.0.0.1:9/oauth/zoom/callback"


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


@dataclass
class ZoomTokens:
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": "Bearer " + self.access_token}


def zoom_authorize_url(base_url: str, challenge: str, state: str = "st-1") -> str:
    params = {
        "response_type": "code",
        "client_id": ZOOM_CLIENT[0],
        "redirect_uri": REDIRECT_URI,
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    return f"{base_url}/zoom/oauth/authorize?{urlencode(params)}"


def zoom_connect(http: httpx.Client, base_url: str, email: str) -> ZoomTokens:
    """The whole Zoom connect flow as the project's connect service runs it."""
    verifier, challenge = pkce_pair()
    location = authorize(zoom_authorize_url(base_url, challenge), email)
    answer = http.post(
        base_url + "/zoom/oauth/token",
        auth=ZOOM_CLIENT,
        data={
            "grant_type": "authorization_code",
            "code": query_of(location)["code"],
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
        },
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return ZoomTokens(body["access_token"], body["refresh_token"])
