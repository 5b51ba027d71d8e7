"""The sandbox-only control and inspection API under /_sandbox (see README.md)."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from datetime import UTC, datetime
from typing import Any

import httpx
from flask import Blueprint, Response, request

from devstack.sandbox._http import json_response, sandbox
from devstack.sandbox._state import PROVIDERS, Fault, Provider, ZoomUser, iso_z

bp = Blueprint("control", __name__, url_prefix="/_sandbox")
WEBHOOK_TIMEOUT_SECONDS = 10.0


class ControlError(Exception):
    """A bad control request; answered 400 with its message."""


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if body is None and not request.data:
        return {}
    if not isinstance(body, dict):
        raise ControlError("the body must be a JSON object")
    return body


def _instant(value: Any, name: str) -> float:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise ControlError(f"{name} must be an RFC 3339 time with an offset") from exc
    if moment.tzinfo is None:
        raise ControlError(f"{name} must be an RFC 3339 time with an offset")
    return moment.timestamp()


def _provider(name: str) -> Provider:
    for provider in PROVIDERS:
        if provider == name:
            return provider
    raise ControlError("provider must be zoom or google")


@bp.errorhandler(ControlError)
def _control_error(exc: ControlError) -> Response:
    return json_response({"error": str(exc)}, 400)


def zoom_user_json(user: ZoomUser) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "timezone": user.timezone,
        "account_id": user.account_id,
        "type": user.type,
    }


@bp.post("/reset")
def reset() -> Response:
    sandbox().reset()
    return json_response({"ok": True})


@bp.get("/settings")
def get_settings() -> Response:
    settings = sandbox().settings
    return json_response(
        {
            "access_token_lifetime": settings.access_token_lifetime,
            "zoom_daily_write_limit": settings.zoom_daily_write_limit,
            "zoom_rate_limit_headers": settings.zoom_rate_limit_headers,
            "zoom_app_scopes": settings.zoom_app_scopes,
            "google_meet_pending_seconds": settings.google_meet_pending_seconds,
        }
    )


@bp.post("/settings")
def set_settings() -> Response:
    body = _body()
    state = sandbox()
    with state.lock:
        for key in ("access_token_lifetime", "zoom_daily_write_limit", "google_meet_pending_seconds"):
            if key in body:
                if not isinstance(body[key], int) or body[key] < 0:
                    raise ControlError(f"{key} must be a non-negative integer")
                setattr(state.settings, key, body[key])
        if "zoom_app_scopes" in body:
            scopes = body["zoom_app_scopes"]
            if scopes is not None and not (isinstance(scopes, list) and all(isinstance(x, str) for x in scopes)):
                raise ControlError("zoom_app_scopes must be a list of scope names or null")
            state.settings.zoom_app_scopes = scopes
        if "zoom_rate_limit_headers" in body:
            state.settings.zoom_rate_limit_headers = bool(body["zoom_rate_limit_headers"])
    return get_settings()


@bp.get("/clock")
def get_clock() -> Response:
    state = sandbox()
    return json_response({"now": iso_z(state.now()), "offset_seconds": state.clock_offset})


@bp.post("/clock")
def set_clock() -> Response:
    """Move the sandbox clock: {"advance_seconds": n} or {"set": "<RFC 3339>"}."""
    body = _body()
    state = sandbox()
    with state.lock:
        if "set" in body:
            state.clock_offset += _instant(body["set"], "set") - state.now()
        elif isinstance(body.get("advance_seconds"), int | float):
            state.clock_offset += float(body["advance_seconds"])
        else:
            raise ControlError("give advance_seconds (number) or set (RFC 3339 time)")
    return get_clock()


@bp.post("/zoom/users")
def create_zoom_user() -> Response:
    body = _body()
    if "@" not in str(body.get("email", "")):
        raise ControlError("email is required")
    fields = {k: body[k] for k in ("first_name", "last_name", "timezone", "type") if k in body}
    return json_response(zoom_user_json(sandbox().zoom_user(str(body["email"]), **fields)), 201)


@bp.post("/google/users")
def create_google_user() -> Response:
    body = _body()
    if "@" not in str(body.get("email", "")):
        raise ControlError("email is required")
    user = sandbox().google_user(str(body["email"]))
    return json_response({"sub": user.sub, "email": user.email}, 201)


@bp.post("/google/users/<email>/busy")
def add_busy(email: str) -> Response:
    body = _body()
    start, end = _instant(body.get("start"), "start"), _instant(body.get("end"), "end")
    if end <= start:
        raise ControlError("end must be after start")
    state = sandbox()
    with state.lock:
        user = state.google_user(email)
        state.busy_blocks.setdefault(user.email, []).append((start, end))
        blocks = state.busy_blocks[user.email]
    return json_response({"busy": [{"start": iso_z(a), "end": iso_z(b)} for a, b in blocks]}, 201)


@bp.delete("/google/users/<email>/busy")
def clear_busy(email: str) -> Response:
    state = sandbox()
    with state.lock:
        state.busy_blocks.pop(email.lower(), None)
    return json_response({"busy": []})


@bp.post("/<provider>/users/<email>/revoke")
def revoke_user(provider: str, email: str) -> Response:
    count = sandbox().revoke_user(_provider(provider), email)
    return json_response({"revoked_grants": count})


@bp.post("/tokens/expire")
def expire_tokens() -> Response:
    provider = _body().get("provider")
    if provider is not None:
        _provider(str(provider))
    return json_response({"expired": sandbox().expire_access_tokens(provider)})


@bp.get("/tokens")
def issued_tokens() -> Response:
    """Every secret the sandbox handed out (codes, access and refresh tokens), for leak scans."""
    state = sandbox()
    with state.lock:
        return json_response({"tokens": list(state.issued)})


@bp.get("/faults")
def list_faults() -> Response:
    state = sandbox()
    with state.lock:
        return json_response({"faults": [f.describe() for f in state.faults]})


@bp.post("/faults")
def add_fault() -> Response:
    body = _body()
    provider = str(body.get("provider", ""))
    if provider not in (*PROVIDERS, "*"):
        raise ControlError("provider must be zoom, google or *")
    try:
        path = re.compile(str(body.get("path", "")))
    except re.error as exc:
        raise ControlError(f"path is not a valid regex: {exc}") from exc
    status = body.get("status")
    times, probability = body.get("times"), body.get("probability")
    action = body.get("timeout_action", "504")
    if status is not None and not (isinstance(status, int) and 100 <= status <= 599):
        raise ControlError("status must be an HTTP status code")
    if times is not None and not (isinstance(times, int) and times > 0):
        raise ControlError("times must be a positive integer")
    if probability is not None and not (isinstance(probability, int | float) and 0 <= probability <= 1):
        raise ControlError("probability must be between 0 and 1")
    if action not in ("drop", "504"):
        raise ControlError("timeout_action must be drop or 504")
    fault = Fault(
        id=sandbox().next_id("fault"),
        provider=provider,
        method=str(body["method"]).upper() if body.get("method") else None,
        path=path,
        status=status,
        body=body.get("body"),
        headers={str(k): str(v) for k, v in (body.get("headers") or {}).items()},
        latency_seconds=float(body.get("latency_seconds", 0)),
        timeout_seconds=float(body.get("timeout_seconds", 0)),
        timeout_action=action,
        remaining=times,
        probability=None if probability is None else float(probability),
        after_call=bool(body.get("after_call", False)),
    )
    state = sandbox()
    with state.lock:
        state.faults.append(fault)
    return json_response(fault.describe(), 201)


@bp.delete("/faults")
def clear_faults() -> Response:
    state = sandbox()
    with state.lock:
        state.faults.clear()
    return json_response({"faults": []})


@bp.get("/zoom/meetings")
def live_meetings() -> Response:
    """Live meetings grouped by host email (optionally ?user=<email>)."""
    wanted = request.args.get("user", "").lower()
    state = sandbox()
    grouped: dict[str, list[dict[str, Any]]] = {}
    with state.lock:
        for stored in state.meetings.values():
            email = state.zoom_users[stored.host_id].email
            if not wanted or email.lower() == wanted:
                grouped.setdefault(email, []).append(dict(stored.data))
    return json_response({"meetings": grouped})


@bp.get("/google/events")
def live_events() -> Response:
    """Non-cancelled events grouped by calendar owner (optionally ?user=<email>)."""
    wanted = request.args.get("user", "").lower()
    state = sandbox()
    grouped: dict[str, list[dict[str, Any]]] = {}
    with state.lock:
        for stored in state.events.values():
            if stored.data["status"] != "cancelled" and (not wanted or stored.owner_email == wanted):
                grouped.setdefault(stored.owner_email, []).append(dict(stored.data))
    return json_response({"events": grouped})


@bp.get("/calls")
def calls() -> Response:
    provider = request.args.get("provider")
    state = sandbox()
    with state.lock:
        picked = [c for c in state.calls if provider is None or c["provider"] == provider]
    return json_response({"calls": picked})


@bp.delete("/calls")
def clear_calls() -> Response:
    state = sandbox()
    with state.lock:
        state.calls.clear()
    return json_response({"calls": []})


def _signed_post(url: str, secret: str, payload: dict[str, Any], timestamp: str) -> httpx.Response:
    """POST a webhook signed the way Zoom signs: v0=HMAC-SHA256(secret, "v0:{ts}:{body}")."""
    raw = json.dumps(payload, separators=(",", ":"))
    message = f"v0:{timestamp}:{raw}".encode()
    signature = "v0=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    headers = {
        "content-type": "application/json; charset=utf-8",
        "x-zm-signature": signature,
        "x-zm-request-timestamp": timestamp,
        "user-agent": "Zoom Marketplace/1.0a",
    }
    return httpx.post(url, content=raw, headers=headers, timeout=WEBHOOK_TIMEOUT_SECONDS)


def _webhook_target(body: dict[str, Any]) -> tuple[str, str, str]:
    url, secret = body.get("url"), body.get("secret")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ControlError("url is required")
    if not isinstance(secret, str) or not secret:
        raise ControlError("secret (the webhook secret token) is required")
    timestamp = str(body.get("timestamp") or int(sandbox().now()))
    return url, secret, timestamp


def _delivery(response: httpx.Response) -> dict[str, Any]:
    return {"status": response.status_code, "response_body": response.text[:2000]}


@bp.post("/zoom/webhooks/deauthorization")
def send_deauthorization() -> Response:
    """Send app_deauthorized for a user; by default also revoke the user's grants, as Zoom does. With
    `user_data_retention` false the event asks the app to delete the user's data, as Zoom does then."""
    body = _body()
    url, secret, timestamp = _webhook_target(body)
    email = str(body.get("user", ""))
    state = sandbox()
    with state.lock:
        user = next((u for u in state.zoom_users.values() if u.email.lower() == email.lower()), None)
        if user is None:
            raise ControlError("user must be the email of a known Zoom user")
        client_ids = {g.client_id for g in state.grants.values() if g.user_email == user.email}
        client_id = str(body.get("client_id") or next(iter(sorted(client_ids)), ""))
        if body.get("revoke", True):
            state.revoke_user("zoom", user.email)
    payload = {
        "event": "app_deauthorized",
        "event_ts": int(state.now() * 1000),
        "payload": {
            "account_id": user.account_id,
            "user_id": user.id,
            "signature": secrets.token_hex(32),
            "deauthorization_time": datetime.fromtimestamp(state.now(), UTC).isoformat(timespec="milliseconds"),
            "client_id": client_id,
            "user_data_retention": "true" if body.get("user_data_retention", True) else "false",
        },
    }
    try:
        response = _signed_post(url, secret, payload, timestamp)
    except httpx.HTTPError as exc:
        return json_response({"status": None, "error": type(exc).__name__, "event": payload})
    return json_response({**_delivery(response), "event": payload})


@bp.post("/zoom/webhooks/url-validation")
def send_url_validation() -> Response:
    """Send endpoint.url_validation and check the answer as Zoom would."""
    url, secret, timestamp = _webhook_target(_body())
    plain = secrets.token_urlsafe(16)
    payload = {
        "event": "endpoint.url_validation",
        "event_ts": int(sandbox().now() * 1000),
        "payload": {"plainToken": plain},
    }
    try:
        response = _signed_post(url, secret, payload, timestamp)
    except httpx.HTTPError as exc:
        return json_response({"status": None, "valid": False, "error": type(exc).__name__})
    expected = hmac.new(secret.encode(), plain.encode(), hashlib.sha256).hexdigest()
    try:
        answer = response.json()
    except ValueError:
        answer = None
    valid = (
        response.status_code == 200
        and isinstance(answer, dict)
        and answer.get("plainToken") == plain
        and hmac.compare_digest(str(answer.get("encryptedToken", "")), expected)
    )
    return json_response({**_delivery(response), "valid": valid, "plain_token": plain})
