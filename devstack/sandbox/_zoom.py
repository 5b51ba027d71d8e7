"""Zoom OAuth and the Meetings API as Zoom answers them, under /zoom."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Blueprint, Response, g, request

from devstack.sandbox._http import (
    authorize_params,
    authorize_problem,
    bearer_token,
    client_credentials,
    consent_page,
    json_response,
    note_grant,
    redirect_to,
    sandbox,
)
from devstack.sandbox._state import (
    AUTH_CODE_LIFETIME,
    AuthCode,
    Grant,
    StoredMeeting,
    ZoomUser,
    iso_z,
    pkce_matches,
)

DEFAULT_SCOPES = ["meeting:write", "meeting:read", "user:read"]
MEETING_TYPES = (1, 2, 3, 8, 10)
_UTC_START = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
_LOCAL_START = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")
_LIST_FIELDS = (
    "uuid",
    "id",
    "host_id",
    "topic",
    "type",
    "start_time",
    "duration",
    "timezone",
    "agenda",
    "created_at",
    "join_url",
)
DEFAULT_SETTINGS: dict[str, Any] = {
    "host_video": False,
    "participant_video": False,
    "join_before_host": False,
    "jbh_time": 0,
    "mute_upon_entry": False,
    "watermark": False,
    "use_pmi": False,
    "approval_type": 2,
    "audio": "voip",
    "auto_recording": "none",
    "waiting_room": True,
    "meeting_authentication": False,
    "private_meeting": False,
    "email_notification": True,
    "host_save_video_order": False,
    "alternative_hosts": "",
    "alternative_hosts_email_notification": True,
}

bp = Blueprint("zoom", __name__, url_prefix="/zoom")


def zoom_error(status: int, code: int, message: str, **extra: Any) -> Response:
    return json_response({"code": code, "message": message, **extra}, status)


def oauth_error(status: int, error: str, reason: str) -> Response:
    return json_response({"reason": reason, "error": error}, status)


def invalid_token() -> Response:
    return zoom_error(401, 124, "Invalid access token.")


# -- OAuth ---------------------------------------------------------------------------------


def _app_scopes(params: dict[str, str]) -> list[str]:
    """What a Zoom grant carries: the app's configured scopes (the sandbox's switch), else those asked for."""
    configured = sandbox().settings.zoom_app_scopes
    return configured if configured is not None else params.get("scope", "").split() or DEFAULT_SCOPES


@bp.get("/oauth/authorize")
def authorize_page() -> Response | str:
    params = authorize_params()
    problem = authorize_problem(params)
    if problem is not None:
        return problem
    return consent_page("Zoom", params, _app_scopes(params), granular=False)


@bp.post("/oauth/authorize")
def authorize_decision() -> Response:
    params = authorize_params()
    problem = authorize_problem(params)
    if problem is not None:
        return problem
    state = sandbox()
    redirect_uri, oauth_state = params["redirect_uri"], params.get("state", "")
    if request.form.get("decision") != "allow":
        return redirect_to(redirect_uri, {"error": "access_denied", "state": oauth_state})
    email = request.form.get("user", "").strip()
    if "@" not in email:
        return Response("Sign in with an email address.", status=400, mimetype="text/plain")
    state.zoom_user(email)
    g.user = email
    code = state.issue_code(
        AuthCode(
            provider="zoom",
            client_id=params["client_id"],
            redirect_uri=redirect_uri,
            user_email=email,
            scopes=_app_scopes(params),
            code_challenge=params.get("code_challenge", ""),
            code_challenge_method=params.get("code_challenge_method", "plain"),
            expires_at=state.now() + AUTH_CODE_LIFETIME,
        )
    )
    return redirect_to(redirect_uri, {"code": code, "state": oauth_state})


def _token_answer(grant: Grant) -> Response:
    state = sandbox()
    note_grant(grant)
    return json_response(
        {
            "access_token": state.issue_access_token(grant),
            "token_type": "bearer",
            "refresh_token": state.issue_refresh_token(grant),
            "expires_in": state.settings.access_token_lifetime,
            "scope": " ".join(grant.scopes),
            "api_url": request.host_url.rstrip("/") + "/zoom",
        }
    )


@bp.post("/oauth/token")
def token() -> Response:
    auth = request.authorization
    if auth is None or auth.type != "basic" or not auth.username or not auth.password:
        return oauth_error(401, "invalid_client", "Invalid client_id or client_secret")
    client_id = auth.username
    state = sandbox()
    grant_type = request.form.get("grant_type", "")
    if grant_type == "authorization_code":
        code = state.take_code(request.form.get("code", ""))
        if code is None or code.provider != "zoom" or code.client_id != client_id:
            return oauth_error(400, "invalid_grant", "Invalid authorization code")
        if request.form.get("redirect_uri") != code.redirect_uri:
            return oauth_error(400, "invalid_request", "Redirect URI mismatch.")
        if code.code_challenge and not pkce_matches(
            code.code_challenge, code.code_challenge_method, request.form.get("code_verifier", "")
        ):
            return oauth_error(400, "invalid_request", "Invalid code_verifier")
        return _token_answer(state.new_grant("zoom", code.user_email, client_id, code.scopes))
    if grant_type == "refresh_token":
        grant = state.grant_for_refresh("zoom", request.form.get("refresh_token", ""))
        if grant is None or grant.client_id != client_id:
            return oauth_error(400, "invalid_grant", "Invalid Token!")
        return _token_answer(grant)
    return oauth_error(400, "unsupported_grant_type", "Unsupported grant type")


@bp.post("/oauth/revoke")
def revoke() -> Response:
    client_id, client_secret = client_credentials()
    if request.authorization is None or not client_id or not client_secret:
        return oauth_error(401, "invalid_client", "Invalid client_id or client_secret")
    state = sandbox()
    grant = state.grant_for_any_token("zoom", request.args.get("token") or request.form.get("token", ""))
    if grant is None or grant.client_id != client_id:
        return oauth_error(400, "invalid_request", "Invalid Token!")
    with state.lock:
        grant.revoked = True
    note_grant(grant)
    return json_response({"status": "success"})


# -- API -----------------------------------------------------------------------------------


def _caller() -> tuple[Grant, ZoomUser] | Response:
    """The grant and user behind the bearer token; tokens in the query string are refused."""
    if "access_token" in request.args:
        return invalid_token()
    value = bearer_token()
    state = sandbox()
    found = state.check_access("zoom", value) if value else None
    if found is None:
        return invalid_token()
    grant, access = found
    note_grant(grant, access.id)
    return grant, state.zoom_user(grant.user_email)


def _target_user(me: ZoomUser, user_id: str) -> ZoomUser | Response:
    if user_id in ("me", me.id) or user_id.lower() == me.email.lower():
        return me
    return zoom_error(404, 1001, f"User does not exist: {user_id}.")


def _user_body(user: ZoomUser) -> dict[str, Any]:
    return {
        "id": user.id,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "display_name": f"{user.first_name} {user.last_name}",
        "email": user.email,
        "type": user.type,
        "role_name": "Owner",
        "pmi": user.pmi,
        "use_pmi": False,
        "personal_meeting_url": f"https://us05web.zoom.us/j/{user.pmi}",
        "timezone": user.timezone,
        "verified": 1,
        "dept": "",
        "created_at": iso_z(user.created_at),
        "last_login_time": iso_z(sandbox().now()),
        "pic_url": "",
        "language": "en-US",
        "phone_number": "",
        "status": "active",
        "role_id": "0",
        "account_id": user.account_id,
        "account_number": int(user.pmi // 10),
        "cluster": "us05",
        "user_created_at": iso_z(user.created_at),
    }


@bp.get("/v2/users/<user_id>")
def get_user(user_id: str) -> Response:
    caller = _caller()
    if isinstance(caller, Response):
        return caller
    user = _target_user(caller[1], user_id)
    return user if isinstance(user, Response) else json_response(_user_body(user))


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _validate_meeting(body: Any) -> dict[str, Any] | Response:
    """The body as a dict, or Zoom's code-300 answer for a body it would refuse."""
    if not isinstance(body, dict):
        return zoom_error(400, 300, "Request Body should be a valid JSON object.")
    problems: list[tuple[str, str]] = []
    kind = body.get("type", 2)
    if isinstance(kind, bool) or kind not in MEETING_TYPES:
        problems.append(("type", "Invalid field."))
    topic = body.get("topic", "")
    if not isinstance(topic, str) or len(topic) > 200:
        problems.append(("topic", "Invalid field: topic must be a string of at most 200 characters."))
    agenda = body.get("agenda", "")
    if not isinstance(agenda, str) or len(agenda) > 2000:
        problems.append(("agenda", "Invalid field: agenda must be a string of at most 2000 characters."))
    duration = body.get("duration", 60)
    if isinstance(duration, bool) or not isinstance(duration, int) or not 1 <= duration <= 1440:
        problems.append(("duration", "Invalid field: duration must be an integer from 1 to 1440."))
    zone = body.get("timezone")
    if zone is not None and (not isinstance(zone, str) or _zone(zone) is None):
        problems.append(("timezone", "Invalid field."))
    start = body.get("start_time")
    if start is not None and not (isinstance(start, str) and (_UTC_START.match(start) or _LOCAL_START.match(start))):
        problems.append(("start_time", "Invalid field: use yyyy-MM-ddTHH:mm:ssZ or yyyy-MM-ddTHH:mm:ss."))
    if "settings" in body and not isinstance(body["settings"], dict):
        problems.append(("settings", "Invalid field."))
    password = body.get("password", "")
    if not isinstance(password, str) or len(password) > 10:
        problems.append(("password", "Invalid field."))
    if problems:
        errors = [{"field": name, "message": text} for name, text in problems]
        return zoom_error(400, 300, "Validation Failed.", errors=errors)
    return body


def _start_utc(start: str, zone_name: str) -> str:
    """Zoom's two start_time forms: UTC with Z, or wall time in the meeting's timezone."""
    if start.endswith("Z"):
        return start
    zone = _zone(zone_name) or UTC
    local = datetime.strptime(start, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=zone)
    return local.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _apply(data: dict[str, Any], body: dict[str, Any]) -> None:
    for key in ("topic", "agenda", "duration", "type", "password"):
        if key in body:
            data[key] = body[key]
    if "timezone" in body:
        data["timezone"] = body["timezone"]
    if "start_time" in body:
        data["start_time"] = _start_utc(body["start_time"], data["timezone"])
    if "settings" in body:
        data["settings"] = {**data["settings"], **body["settings"]}


def _rate_limited() -> Response:
    state = sandbox()
    limit = state.settings.zoom_daily_write_limit
    headers: dict[str, str] = {}
    if state.settings.zoom_rate_limit_headers:
        tomorrow = datetime.fromtimestamp(state.now() + 86400, UTC).strftime("%Y-%m-%dT00:00:00Z")
        headers = {
            "X-RateLimit-Category": "Heavy",
            "X-RateLimit-Type": "Daily-limit",
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": "0",
            "Retry-After": tomorrow,
        }
    message = (
        f"You have exceeded the daily rate limit ({limit}) of Meeting Create/Update API requests "
        "permitted for this particular user. You may resume these requests at GMT 00:00:00."
    )
    return json_response({"code": 429, "message": message}, 429, headers)


def _new_meeting_id() -> int:
    state = sandbox()
    while True:
        candidate = 10**10 + secrets.randbelow(9 * 10**10)
        if candidate not in state.meetings:
            return candidate


@bp.post("/v2/users/<user_id>/meetings")
def create_meeting(user_id: str) -> Response:
    caller = _caller()
    if isinstance(caller, Response):
        return caller
    host = _target_user(caller[1], user_id)
    if isinstance(host, Response):
        return host
    state = sandbox()
    if not state.count_zoom_write(host.id):
        return _rate_limited()
    body = _validate_meeting(request.get_json(silent=True))
    if isinstance(body, Response):
        return body
    with state.lock:
        meeting_id = _new_meeting_id()
        password = secrets.token_hex(3)
        encrypted = secrets.token_urlsafe(24)
        data: dict[str, Any] = {
            "uuid": secrets.token_urlsafe(16)[:22] + "==",
            "id": meeting_id,
            "host_id": host.id,
            "host_email": host.email,
            "topic": "Zoom meeting",
            "type": 2,
            "status": "waiting",
            "start_time": iso_z(state.now()),
            "duration": 60,
            "timezone": host.timezone,
            "agenda": "",
            "created_at": iso_z(state.now()),
            "start_url": f"https://us05web.zoom.us/s/{meeting_id}?zak={state.secret()}",
            "join_url": f"https://us05web.zoom.us/j/{meeting_id}?pwd={encrypted}",
            "password": password,
            "h323_password": password,
            "pstn_password": password,
            "encrypted_password": encrypted,
            "settings": dict(DEFAULT_SETTINGS),
            "pre_schedule": False,
            "creation_source": "open_api",
        }
        _apply(data, body)
        state.meetings[meeting_id] = StoredMeeting(host.id, data)
        return json_response(data, 201)


def _owned_meeting(meeting_id: str, host: ZoomUser) -> StoredMeeting | Response:
    stored = sandbox().meetings.get(int(meeting_id)) if meeting_id.isdigit() else None
    if stored is None or stored.host_id != host.id:
        return zoom_error(404, 3001, f"Meeting does not exist: {meeting_id}.")
    return stored


@bp.get("/v2/meetings/<meeting_id>")
def get_meeting(meeting_id: str) -> Response:
    caller = _caller()
    if isinstance(caller, Response):
        return caller
    with sandbox().lock:
        stored = _owned_meeting(meeting_id, caller[1])
        return stored if isinstance(stored, Response) else json_response(stored.data)


@bp.patch("/v2/meetings/<meeting_id>")
def update_meeting(meeting_id: str) -> Response:
    caller = _caller()
    if isinstance(caller, Response):
        return caller
    state = sandbox()
    with state.lock:
        stored = _owned_meeting(meeting_id, caller[1])
        if isinstance(stored, Response):
            return stored
        if not state.count_zoom_write(caller[1].id):
            return _rate_limited()
        body = _validate_meeting(request.get_json(silent=True))
        if isinstance(body, Response):
            return body
        _apply(stored.data, body)
        return Response(status=204)


@bp.delete("/v2/meetings/<meeting_id>")
def delete_meeting(meeting_id: str) -> Response:
    caller = _caller()
    if isinstance(caller, Response):
        return caller
    state = sandbox()
    with state.lock:
        stored = _owned_meeting(meeting_id, caller[1])
        if isinstance(stored, Response):
            return stored
        del state.meetings[int(meeting_id)]
        return Response(status=204)


@bp.get("/v2/users/<user_id>/meetings")
def list_meetings(user_id: str) -> Response:
    caller = _caller()
    if isinstance(caller, Response):
        return caller
    host = _target_user(caller[1], user_id)
    if isinstance(host, Response):
        return host
    state = sandbox()
    raw_size = request.args.get("page_size", "30")
    if not raw_size.isdigit() or int(raw_size) < 1:
        return zoom_error(400, 300, "Invalid field: page_size.")
    size = min(int(raw_size), 300)
    with state.lock:
        offset = 0
        page_token = request.args.get("next_page_token")
        if page_token:
            owner, offset = state.page_tokens.get(page_token, ("", -1))
            if owner != host.id:
                return zoom_error(400, 300, "Invalid next_page_token.")
        mine = sorted(
            (m.data for m in state.meetings.values() if m.host_id == host.id),
            key=lambda d: (d["start_time"], d["id"]),
        )
        page = mine[offset : offset + size]
        next_token = ""
        if offset + size < len(mine):
            next_token = secrets.token_urlsafe(24)
            state.page_tokens[next_token] = (host.id, offset + size)
        return json_response(
            {
                "page_size": size,
                "total_records": len(mine),
                "next_page_token": next_token,
                "meetings": [{k: d[k] for k in _LIST_FIELDS} for d in page],
            }
        )
