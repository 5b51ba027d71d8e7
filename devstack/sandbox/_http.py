"""Request helpers shared by the Zoom, Google and control blueprints."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Response, current_app, g, jsonify, render_template, request

from devstack.sandbox._state import Grant, SandboxState

# Query and form keys whose values are secrets: never logged, never echoed.
SECRET_KEYS = frozenset({"access_token", "token", "code", "code_verifier", "refresh_token", "client_secret", "zak"})
# Query parameters of an authorize URL that the consent form carries back as hidden fields.
AUTHORIZE_PARAMS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "access_type",
    "prompt",
    "include_granted_scopes",
    "login_hint",
)


def sandbox() -> SandboxState:
    state: SandboxState = current_app.extensions["sandbox"]
    return state


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    response = jsonify(body)
    response.status_code = status
    response.headers.update(headers or {})
    return response


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def note_grant(grant: Grant, token_id: str | None = None) -> None:
    """Tell the call log which grant (and opaque token id) served this request."""
    g.grant_id = grant.id
    g.token_id = token_id
    g.user = grant.user_email


def client_credentials() -> tuple[str, str]:
    """Client id and secret from HTTP Basic, else from the form body (Google allows both)."""
    auth = request.authorization
    if auth is not None and auth.type == "basic":
        return auth.username or "", auth.password or ""
    return request.form.get("client_id", ""), request.form.get("client_secret", "")


def redirect_to(uri: str, params: dict[str, str]) -> Response:
    sep = "&" if "?" in uri else "?"
    response = Response(status=302)
    response.headers["Location"] = uri + sep + urlencode({k: v for k, v in params.items() if v})
    return response


def authorize_params() -> dict[str, str]:
    source = request.args if request.method == "GET" else request.form
    return {key: source[key] for key in AUTHORIZE_PARAMS if source.get(key)}


def authorize_problem(params: dict[str, str]) -> Response | None:
    """The error page a broken authorize request gets (no redirect: the redirect_uri is suspect)."""
    missing = [k for k in ("client_id", "redirect_uri", "response_type") if not params.get(k)]
    if missing or params.get("response_type") != "code":
        message = f"Invalid request: missing or bad {', '.join(missing) or 'response_type'}."
        return Response(message, status=400, mimetype="text/plain")
    return None


def consent_page(provider: str, params: dict[str, str], scopes: list[str], granular: bool) -> str:
    return render_template(
        "authorize.html",
        provider=provider,
        action=request.path,
        params=params,
        scopes=scopes,
        granular=granular,
    )
