"""Typed helpers other tests use to drive the sandbox: the control API and the consent pages."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import httpx

Provider = Literal["zoom", "google"]
Decision = Literal["allow", "deny"]


class SandboxError(RuntimeError):
    """The sandbox refused a control or consent request."""


def authorize(
    authorize_url: str,
    user: str,
    decision: Decision = "allow",
    granted_scopes: Iterable[str] | None = None,
    *,
    client: httpx.Client | None = None,
) -> str:
    """Drive a sandbox consent page as a browser would and return the redirect Location.

    Works for the Zoom and the Google page alike: it loads the page (as the browser shows it),
    then posts the form back with the original query parameters, the signing-in `user`, the
    `decision` and, for Google's granular consent, the ticked `granted_scopes` (None = all).
    """
    parts = urlsplit(authorize_url)
    form: list[tuple[str, str]] = parse_qsl(parts.query, keep_blank_values=True)
    form += [("user", user), ("decision", decision)]
    form += [("granted_scope", scope) for scope in granted_scopes or ()]
    post_url = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    http = client if client is not None else httpx.Client(timeout=10.0)
    try:
        page = http.get(authorize_url)
        if page.status_code != 200:
            raise SandboxError(f"authorize page answered {page.status_code}: {page.text[:200]}")
        answer = http.post(post_url, data=_grouped(form), follow_redirects=False)
    finally:
        if client is None:
            http.close()
    if answer.status_code != 302:
        raise SandboxError(f"consent answered {answer.status_code}: {answer.text[:200]}")
    return answer.headers["Location"]


def _grouped(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Form pairs grouped by name, so repeated fields (granted_scope) post as repeated fields."""
    grouped: dict[str, list[str]] = {}
    for key, value in pairs:
        grouped.setdefault(key, []).append(value)
    return grouped


class SandboxControl:
    """The /_sandbox control and inspection API of a running sandbox."""

    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url + "/_sandbox", timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SandboxControl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(
        self, method: str, path: str, body: dict[str, Any] | None = None, params: dict[str, str] | None = None
    ) -> Any:
        response = self._http.request(method, path, json=body, params=params)
        if response.status_code >= 400:
            raise SandboxError(f"{method} /_sandbox{path} answered {response.status_code}: {response.text}")
        return response.json()

    # -- setup ---------------------------------------------------------------------------

    def reset(self) -> None:
        self._call("POST", "/reset")

    def create_zoom_user(self, email: str, **fields: Any) -> dict[str, Any]:
        """fields: first_name, last_name, timezone, type."""
        result: dict[str, Any] = self._call("POST", "/zoom/users", {"email": email, **fields})
        return result

    def create_google_user(self, email: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/google/users", {"email": email})
        return result

    def add_busy(self, email: str, start: str, end: str) -> list[dict[str, str]]:
        result: list[dict[str, str]] = self._call("POST", f"/google/users/{email}/busy", {"start": start, "end": end})[
            "busy"
        ]
        return result

    def clear_busy(self, email: str) -> None:
        self._call("DELETE", f"/google/users/{email}/busy")

    def settings(self, **changes: Any) -> dict[str, Any]:
        """Read, or change: access_token_lifetime, zoom_daily_write_limit, zoom_rate_limit_headers, zoom_app_scopes,
        google_meet_pending_seconds."""
        result: dict[str, Any] = self._call("POST", "/settings", changes) if changes else self._call("GET", "/settings")
        return result

    # -- grants and clock ----------------------------------------------------------------

    def revoke(self, provider: Provider, email: str) -> int:
        count: int = self._call("POST", f"/{provider}/users/{email}/revoke")["revoked_grants"]
        return count

    def expire_access_tokens(self, provider: Provider | None = None) -> int:
        count: int = self._call("POST", "/tokens/expire", {"provider": provider} if provider else {})["expired"]
        return count

    def issued_tokens(self) -> list[str]:
        tokens: list[str] = self._call("GET", "/tokens")["tokens"]
        return tokens

    def now(self) -> str:
        now: str = self._call("GET", "/clock")["now"]
        return now

    def advance_clock(self, seconds: float) -> str:
        now: str = self._call("POST", "/clock", {"advance_seconds": seconds})["now"]
        return now

    def set_clock(self, instant: str) -> str:
        now: str = self._call("POST", "/clock", {"set": instant})["now"]
        return now

    # -- faults --------------------------------------------------------------------------

    def add_fault(
        self,
        provider: Provider | Literal["*"],
        path: str,
        *,
        method: str | None = None,
        status: int | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        latency_seconds: float = 0.0,
        timeout_seconds: float = 0.0,
        timeout_action: Literal["drop", "504"] = "504",
        times: int | None = None,
        probability: float | None = None,
        after_call: bool = False,
    ) -> dict[str, Any]:
        """Make calls matching method and path (a regex searched in the request path) misbehave.

        after_call: carry the call out, then answer as the fault says (the caller never hears it happened).
        """
        spec = {
            "provider": provider,
            "path": path,
            "method": method,
            "status": status,
            "body": body,
            "headers": headers or {},
            "latency_seconds": latency_seconds,
            "timeout_seconds": timeout_seconds,
            "timeout_action": timeout_action,
            "times": times,
            "probability": probability,
            "after_call": after_call,
        }
        result: dict[str, Any] = self._call("POST", "/faults", spec)
        return result

    def faults(self) -> list[dict[str, Any]]:
        faults: list[dict[str, Any]] = self._call("GET", "/faults")["faults"]
        return faults

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    # -- inspection ----------------------------------------------------------------------

    def zoom_meetings(self, email: str | None = None) -> dict[str, list[dict[str, Any]]]:
        """Live meetings per host email."""
        params = {"user": email} if email else {}
        meetings: dict[str, list[dict[str, Any]]] = self._call("GET", "/zoom/meetings", params=params)["meetings"]
        return meetings

    def google_events(self, email: str | None = None) -> dict[str, list[dict[str, Any]]]:
        """Non-cancelled events per calendar owner."""
        params = {"user": email} if email else {}
        events: dict[str, list[dict[str, Any]]] = self._call("GET", "/google/events", params=params)["events"]
        return events

    def calls(self, provider: Provider | None = None) -> list[dict[str, Any]]:
        params: dict[str, str] = {"provider": provider} if provider else {}
        calls: list[dict[str, Any]] = self._call("GET", "/calls", params=params)["calls"]
        return calls

    def clear_calls(self) -> None:
        self._call("DELETE", "/calls")

    # -- Zoom webhooks -------------------------------------------------------------------

    def send_zoom_deauthorization(
        self,
        url: str,
        secret: str,
        user: str,
        *,
        client_id: str | None = None,
        revoke: bool = True,
        user_data_retention: bool = True,
    ) -> dict[str, Any]:
        """Send a signed app_deauthorized for `user` to `url`; answers {status, response_body, event}."""
        body: dict[str, Any] = {
            "url": url,
            "secret": secret,
            "user": user,
            "revoke": revoke,
            "user_data_retention": user_data_retention,
        }
        if client_id:
            body["client_id"] = client_id
        result: dict[str, Any] = self._call("POST", "/zoom/webhooks/deauthorization", body)
        return result

    def send_zoom_url_validation(self, url: str, secret: str) -> dict[str, Any]:
        """Send a signed endpoint.url_validation; answers {status, valid, response_body, plain_token}."""
        result: dict[str, Any] = self._call("POST", "/zoom/webhooks/url-validation", {"url": url, "secret": secret})
        return result
