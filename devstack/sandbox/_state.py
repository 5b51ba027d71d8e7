"""In-memory state of the provider sandbox.

Everything lives in one `SandboxState` guarded by one re-entrant lock, so the threaded server
never sees a half-made grant or meeting. The sandbox has its own clock (real time plus an
offset) so tests can expire tokens and roll the Zoom daily limit without sleeping.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

Provider = Literal["zoom", "google"]
PROVIDERS: tuple[Provider, ...] = ("zoom", "google")

DEFAULT_ACCESS_TOKEN_LIFETIME = 3600
DEFAULT_ZOOM_DAILY_WRITE_LIMIT = 100
AUTH_CODE_LIFETIME = 600


def iso_z(ts: float) -> str:
    """RFC 3339 in UTC with a Z, the form both providers answer with."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def pkce_matches(challenge: str, method: str, verifier: str) -> bool:
    """RFC 7636 check shared by both providers' token endpoints."""
    if method == "S256":
        digest = hashlib.sha256(verifier.encode("ascii")).digest()
        expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    else:
        expected = verifier
    return secrets.compare_digest(expected, challenge)


@dataclass
class ZoomUser:
    id: str
    email: str
    first_name: str
    last_name: str
    timezone: str
    account_id: str
    type: int
    pmi: int
    created_at: float


@dataclass
class GoogleUser:
    sub: str
    email: str


@dataclass
class AuthCode:
    provider: Provider
    client_id: str
    redirect_uri: str
    user_email: str
    scopes: list[str]
    code_challenge: str
    code_challenge_method: str
    expires_at: float
    offline: bool = False
    prompt_consent: bool = False


@dataclass
class Grant:
    """One user's consent to one client; revoking it kills every token issued under it."""

    id: str
    provider: Provider
    user_email: str
    client_id: str
    scopes: list[str]
    refresh_token: str | None = None
    revoked: bool = False


@dataclass
class AccessToken:
    id: str
    grant_id: str
    expires_at: float


@dataclass
class Fault:
    id: str
    provider: str
    method: str | None
    path: re.Pattern[str]
    status: int | None
    body: Any
    headers: dict[str, str]
    latency_seconds: float
    timeout_seconds: float
    timeout_action: Literal["drop", "504"]
    remaining: int | None
    probability: float | None
    after_call: bool = False
    """The call is carried out first and only its answer is replaced: a create whose response was lost."""

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "provider": self.provider,
            "method": self.method,
            "path": self.path.pattern,
            "status": self.status,
            "body": self.body,
            "headers": self.headers,
            "latency_seconds": self.latency_seconds,
            "timeout_seconds": self.timeout_seconds,
            "timeout_action": self.timeout_action,
            "remaining": self.remaining,
            "probability": self.probability,
            "after_call": self.after_call,
        }


@dataclass
class StoredMeeting:
    host_id: str
    data: dict[str, Any]


@dataclass
class StoredEvent:
    owner_email: str
    data: dict[str, Any]


@dataclass
class Settings:
    access_token_lifetime: int = DEFAULT_ACCESS_TOKEN_LIFETIME
    zoom_daily_write_limit: int = DEFAULT_ZOOM_DAILY_WRITE_LIMIT
    zoom_rate_limit_headers: bool = True
    zoom_app_scopes: list[str] | None = None
    """The scopes the Zoom app's Marketplace configuration grants (None: the usual meeting and user scopes)."""
    google_meet_pending_seconds: int = 0
    """How long a new Meet stays `pending` (no link yet) after the write that asked for it, as Google's
    conference creation sometimes is; 0 makes it at once."""


@dataclass
class SandboxState:
    """All sandbox data; callers hold `lock` while reading or changing it."""

    lock: threading.RLock = field(default_factory=threading.RLock)
    clock_offset: float = 0.0
    settings: Settings = field(default_factory=Settings)
    zoom_users: dict[str, ZoomUser] = field(default_factory=dict)
    google_users: dict[str, GoogleUser] = field(default_factory=dict)
    codes: dict[str, AuthCode] = field(default_factory=dict)
    grants: dict[str, Grant] = field(default_factory=dict)
    access_tokens: dict[str, AccessToken] = field(default_factory=dict)
    # refresh token value -> grant id; rotated-out Zoom refresh tokens stay here mapped to None.
    refresh_tokens: dict[str, str | None] = field(default_factory=dict)
    meetings: dict[int, StoredMeeting] = field(default_factory=dict)
    events: dict[str, StoredEvent] = field(default_factory=dict)
    meets_ready_at: dict[str, float] = field(default_factory=dict)
    """Events (by key) whose Meet is still pending, and when it is made."""
    busy_blocks: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    zoom_writes: dict[tuple[str, str], int] = field(default_factory=dict)
    page_tokens: dict[str, tuple[str, int]] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)
    _serial: int = 0

    def reset(self) -> None:
        with self.lock:
            fresh = SandboxState()
            for name in self.__dataclass_fields__:
                if name != "lock":
                    setattr(self, name, getattr(fresh, name))

    def now(self) -> float:
        return time.time() + self.clock_offset

    def next_id(self, prefix: str) -> str:
        with self.lock:
            self._serial += 1
            return f"{prefix}_{self._serial}"

    def secret(self, nbytes: int = 32) -> str:
        """A fresh token-like value, remembered so tests can scan logs for leaks."""
        value = secrets.token_urlsafe(nbytes)
        with self.lock:
            self.issued.append(value)
        return value

    # -- users ---------------------------------------------------------------------------

    def zoom_user(self, email: str, **fields: Any) -> ZoomUser:
        """The Zoom user with this email, created on first sight (as signing in creates it)."""
        with self.lock:
            for user in self.zoom_users.values():
                if user.email.lower() == email.lower():
                    return user
            local = email.split("@", 1)[0]
            user = ZoomUser(
                id=secrets.token_urlsafe(16)[:22],
                email=email,
                first_name=str(fields.get("first_name") or local.capitalize()),
                last_name=str(fields.get("last_name") or "Sandbox"),
                timezone=str(fields.get("timezone") or "UTC"),
                account_id=secrets.token_urlsafe(16)[:22],
                type=int(fields.get("type") or 2),
                pmi=secrets.randbelow(9 * 10**9) + 10**9,
                created_at=self.now(),
            )
            self.zoom_users[user.id] = user
            return user

    def google_user(self, email: str) -> GoogleUser:
        with self.lock:
            key = email.lower()
            if key not in self.google_users:
                self.google_users[key] = GoogleUser(sub=str(10**20 + secrets.randbelow(10**20)), email=key)
            return self.google_users[key]

    # -- OAuth ---------------------------------------------------------------------------

    def issue_code(self, code: AuthCode) -> str:
        value = self.secret(24)
        with self.lock:
            self.codes[value] = code
        return value

    def take_code(self, value: str) -> AuthCode | None:
        """Codes are single use and short lived."""
        with self.lock:
            code = self.codes.pop(value, None)
            if code is None or code.expires_at < self.now():
                return None
            return code

    def new_grant(self, provider: Provider, user_email: str, client_id: str, scopes: list[str]) -> Grant:
        with self.lock:
            grant = Grant(self.next_id("grant"), provider, user_email, client_id, scopes)
            self.grants[grant.id] = grant
            return grant

    def issue_access_token(self, grant: Grant) -> str:
        value = self.secret()
        with self.lock:
            expires = self.now() + self.settings.access_token_lifetime
            self.access_tokens[value] = AccessToken(self.next_id("tok"), grant.id, expires)
        return value

    def issue_refresh_token(self, grant: Grant) -> str:
        """A new refresh token for the grant; the previous one stops working (Zoom rotation)."""
        value = self.secret()
        with self.lock:
            if grant.refresh_token is not None:
                self.refresh_tokens[grant.refresh_token] = None
            grant.refresh_token = value
            self.refresh_tokens[value] = grant.id
        return value

    def grant_for_refresh(self, provider: Provider, value: str) -> Grant | None:
        with self.lock:
            grant_id = self.refresh_tokens.get(value)
            grant = self.grants.get(grant_id) if grant_id else None
            if grant is None or grant.revoked or grant.provider != provider:
                return None
            return grant

    def check_access(self, provider: Provider, value: str) -> tuple[Grant, AccessToken] | None:
        """The live grant and token behind a bearer token, or None when it must answer 401."""
        with self.lock:
            token = self.access_tokens.get(value)
            if token is None or token.expires_at <= self.now():
                return None
            grant = self.grants[token.grant_id]
            if grant.revoked or grant.provider != provider:
                return None
            return grant, token

    def grant_for_any_token(self, provider: Provider, value: str) -> Grant | None:
        with self.lock:
            token = self.access_tokens.get(value)
            grant_id = token.grant_id if token else self.refresh_tokens.get(value)
            grant = self.grants.get(grant_id) if grant_id else None
            return grant if grant is not None and grant.provider == provider else None

    def revoke_user(self, provider: Provider, email: str) -> int:
        with self.lock:
            hits = [
                g
                for g in self.grants.values()
                if g.provider == provider and g.user_email.lower() == email.lower() and not g.revoked
            ]
            for grant in hits:
                grant.revoked = True
            return len(hits)

    def has_live_grant(self, provider: Provider, email: str, client_id: str) -> bool:
        with self.lock:
            return any(
                g.provider == provider
                and g.user_email == email
                and g.client_id == client_id
                and not g.revoked
                and g.refresh_token is not None
                for g in self.grants.values()
            )

    def expire_access_tokens(self, provider: str | None) -> int:
        with self.lock:
            now = self.now()
            count = 0
            for token in self.access_tokens.values():
                if provider is None or self.grants[token.grant_id].provider == provider:
                    token.expires_at = min(token.expires_at, now)
                    count += 1
            return count

    # -- Zoom daily limit ----------------------------------------------------------------

    def count_zoom_write(self, user_id: str) -> bool:
        """Count a meeting create/update; False once the user's daily limit is spent."""
        with self.lock:
            day = iso_z(self.now())[:10]
            used = self.zoom_writes.get((user_id, day), 0)
            if used >= self.settings.zoom_daily_write_limit:
                return False
            self.zoom_writes[(user_id, day)] = used + 1
            return True

    # -- faults --------------------------------------------------------------------------

    def pick_fault(self, provider: str, method: str, path: str, roll: float) -> Fault | None:
        """The first fault matching this call, its budget spent by one."""
        with self.lock:
            for fault in self.faults:
                if fault.provider not in ("*", provider):
                    continue
                if fault.method is not None and fault.method != method:
                    continue
                if not fault.path.search(path):
                    continue
                if fault.probability is not None and roll >= fault.probability:
                    continue
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self.faults.remove(fault)
                return fault
            return None
