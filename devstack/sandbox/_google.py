"""Google OAuth, userinfo and Calendar v3 as Google answers them, under /google."""

from __future__ import annotations

import base64
import re
import secrets
import string
from datetime import UTC, datetime, timedelta
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
    GoogleUser,
    Grant,
    StoredEvent,
    iso_z,
    pkce_matches,
)

_AUTH = "https://www.googleapis.com/auth/"
# Google answers the short sign-in scopes under their long names, and never lets them be unticked.
SCOPE_ALIASES = {"email": _AUTH + "userinfo.email", "profile": _AUTH + "userinfo.profile"}
SIGN_IN_SCOPES = frozenset({"openid", _AUTH + "userinfo.email", _AUTH + "userinfo.profile"})
# Accepted scopes per Calendar method, from the calendar v3 discovery document.
WRITE_SCOPES = frozenset(
    _AUTH + s for s in ("calendar", "calendar.app.created", "calendar.events", "calendar.events.owned")
)
READ_SCOPES = WRITE_SCOPES | frozenset(
    _AUTH + s
    for s in (
        "calendar.events.freebusy",
        "calendar.events.owned.readonly",
        "calendar.events.public.readonly",
        "calendar.events.readonly",
        "calendar.readonly",
    )
)
FREEBUSY_SCOPES = frozenset(
    _AUTH + s for s in ("calendar", "calendar.events.freebusy", "calendar.freebusy", "calendar.readonly")
)
MAX_FREEBUSY_RANGE = timedelta(days=90)
_EVENT_ID = re.compile(r"^[a-v0-9]{5,1024}$")
_BASE32HEX = "0123456789abcdefghijklmnopqrstuv"
_MEET_ICON = (
    "https://fonts.gstatic.com/s/i/productlogos/meet_2020q4/v6/web-512dp/logo_meet_2020q4_color_2x_web_512dp.png"
)

bp = Blueprint("google", __name__, url_prefix="/google")


def api_error(code: int, message: str, reason: str, domain: str = "global", status: str | None = None) -> Response:
    """Google's JSON error envelope, as googleapiclient's HttpError reads it."""
    error: dict[str, Any] = {
        "code": code,
        "message": message,
        "errors": [{"domain": domain, "reason": reason, "message": message}],
    }
    if status is not None:
        error["status"] = status
    return json_response({"error": error}, code)


def oauth_error(status: int, error: str, description: str) -> Response:
    return json_response({"error": error, "error_description": description}, status)


def _expand(scopes: list[str]) -> list[str]:
    return list(dict.fromkeys(SCOPE_ALIASES.get(s, s) for s in scopes))


# -- OAuth ---------------------------------------------------------------------------------


@bp.get("/o/oauth2/v2/auth")
def authorize_page() -> Response | str:
    params = authorize_params()
    problem = authorize_problem(params)
    if problem is not None:
        return problem
    if not params.get("scope"):
        return Response("Missing required parameter: scope", status=400, mimetype="text/plain")
    return consent_page("Google", params, params["scope"].split(), granular=True)


@bp.post("/o/oauth2/v2/auth")
def authorize_decision() -> Response:
    params = authorize_params()
    problem = authorize_problem(params)
    if problem is not None:
        return problem
    redirect_uri, oauth_state = params["redirect_uri"], params.get("state", "")
    if request.form.get("decision") != "allow":
        return redirect_to(redirect_uri, {"error": "access_denied", "state": oauth_state})
    email = request.form.get("user", "").strip().lower()
    if "@" not in email:
        return Response("Sign in with an email address.", status=400, mimetype="text/plain")
    state = sandbox()
    state.google_user(email)
    g.user = email
    requested = _expand(params.get("scope", "").split())
    ticked = set(_expand(request.form.getlist("granted_scope")))
    granted = [s for s in requested if not ticked or s in ticked or s in SIGN_IN_SCOPES]
    prompt = params.get("prompt", "").split()
    code = state.issue_code(
        AuthCode(
            provider="google",
            client_id=params["client_id"],
            redirect_uri=redirect_uri,
            user_email=email,
            scopes=granted,
            code_challenge=params.get("code_challenge", ""),
            code_challenge_method=params.get("code_challenge_method", "plain"),
            expires_at=state.now() + AUTH_CODE_LIFETIME,
            offline=params.get("access_type") == "offline",
            prompt_consent="consent" in prompt,
        )
    )
    return redirect_to(redirect_uri, {"code": code, "state": oauth_state, "scope": " ".join(granted)})


def _exchange_code(client_id: str) -> Response:
    state = sandbox()
    code = state.take_code(request.form.get("code", ""))
    if code is None or code.provider != "google" or code.client_id != client_id:
        return oauth_error(400, "invalid_grant", "Bad Request")
    if request.form.get("redirect_uri") != code.redirect_uri:
        return oauth_error(400, "redirect_uri_mismatch", "Bad Request")
    if code.code_challenge and not pkce_matches(
        code.code_challenge, code.code_challenge_method, request.form.get("code_verifier", "")
    ):
        return oauth_error(400, "invalid_grant", "Invalid code verifier.")
    wants_refresh = code.offline and (
        code.prompt_consent or not state.has_live_grant("google", code.user_email, client_id)
    )
    grant = state.new_grant("google", code.user_email, client_id, code.scopes)
    note_grant(grant)
    body = _access_body(grant)
    if wants_refresh:
        body["refresh_token"] = state.issue_refresh_token(grant)
    return json_response(body)


def _access_body(grant: Grant) -> dict[str, Any]:
    state = sandbox()
    return {
        "access_token": state.issue_access_token(grant),
        "expires_in": state.settings.access_token_lifetime,
        "scope": " ".join(grant.scopes),
        "token_type": "Bearer",
    }


@bp.post("/token")
def token() -> Response:
    client_id, client_secret = client_credentials()
    if not client_id or not client_secret:
        return oauth_error(401, "invalid_client", "Unauthorized")
    grant_type = request.form.get("grant_type", "")
    if grant_type == "authorization_code":
        return _exchange_code(client_id)
    if grant_type == "refresh_token":
        grant = sandbox().grant_for_refresh("google", request.form.get("refresh_token", ""))
        if grant is None or grant.client_id != client_id:
            return oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
        note_grant(grant)
        return json_response(_access_body(grant))
    return oauth_error(400, "unsupported_grant_type", "Invalid grant_type: " + grant_type[:40])


@bp.post("/revoke")
def revoke() -> Response:
    state = sandbox()
    grant = state.grant_for_any_token("google", request.args.get("token") or request.form.get("token", ""))
    if grant is None or grant.revoked:
        return oauth_error(400, "invalid_token", "Token expired or revoked")
    with state.lock:
        grant.revoked = True
    note_grant(grant)
    return json_response({})


def _caller() -> tuple[Grant, GoogleUser] | None:
    state = sandbox()
    value = bearer_token()
    found = state.check_access("google", value) if value else None
    if found is None:
        return None
    grant, access = found
    note_grant(grant, access.id)
    return grant, state.google_user(grant.user_email)


@bp.get("/v1/userinfo")
def userinfo() -> Response:
    caller = _caller()
    if caller is None:
        return oauth_error(401, "invalid_request", "Invalid Credentials")
    return json_response({"sub": caller[1].sub, "email": caller[1].email, "email_verified": True})


# -- Calendar v3 ---------------------------------------------------------------------------


def _calendar_caller(accepted: frozenset[str]) -> GoogleUser | Response:
    caller = _caller()
    if caller is None:
        response = api_error(
            401,
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
            "cookie or other valid authentication credential.",
            "authError",
            status="UNAUTHENTICATED",
        )
        response.headers["WWW-Authenticate"] = 'Bearer realm="https://accounts.google.com/", error="invalid_token"'
        return response
    grant, user = caller
    if not accepted.intersection(grant.scopes):
        return api_error(
            403,
            "Request had insufficient authentication scopes.",
            "insufficientPermissions",
            status="PERMISSION_DENIED",
        )
    return user


def _calendar_owner(user: GoogleUser, calendar_id: str) -> str | Response:
    if calendar_id == "primary" or calendar_id.lower() == user.email:
        return user.email
    return api_error(404, "Not Found", "notFound")


def _parse_instant(value: Any, zone_name: str | None = None) -> datetime | None:
    """An RFC 3339 instant; a wall time without offset needs zone_name (Google's timeZone)."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None and zone_name:
            moment = moment.replace(tzinfo=ZoneInfo(zone_name))
    except (ValueError, ZoneInfoNotFoundError):
        return None
    return moment if moment.tzinfo is not None else None


def _when(value: Any) -> datetime | None:
    """The instant of an event's start or end ({dateTime, timeZone} or all-day {date})."""
    if not isinstance(value, dict):
        return None
    if "date" in value and "dateTime" not in value:
        return _parse_instant(str(value["date"]) + "T00:00:00+00:00")
    return _parse_instant(value.get("dateTime"), value.get("timeZone"))


def _span(data: dict[str, Any]) -> tuple[datetime, datetime]:
    start, end = _when(data["start"]), _when(data["end"])
    assert start is not None and end is not None  # stored events were validated on write
    return start, end


def _check_times(data: dict[str, Any]) -> Response | None:
    for key, label in (("start", "Missing start time."), ("end", "Missing end time.")):
        if key not in data:
            return api_error(400, label, "required")
        if _when(data[key]) is None:
            return api_error(400, "Invalid " + key + " time.", "invalid")
    start, end = _span(data)
    if end <= start:
        return api_error(400, "The specified time range is empty.", "timeRangeEmpty", domain="calendar")
    return None


def _meet(create_request: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    letters = string.ascii_lowercase
    code = "-".join("".join(secrets.choice(letters) for _ in range(n)) for n in (3, 4, 3))
    link = "https://meet.google.com/" + code
    conference = {
        "createRequest": {**create_request, "status": {"statusCode": "success"}},
        "entryPoints": [{"entryPointType": "video", "uri": link, "label": "meet.google.com/" + code}],
        "conferenceSolution": {"key": {"type": "hangoutsMeet"}, "name": "Google Meet", "iconUri": _MEET_ICON},
        "conferenceId": code,
    }
    return link, conference


def _apply_conference(key: str, data: dict[str, Any], body: dict[str, Any]) -> None:
    """Google keeps conferenceData only with conferenceDataVersion=1, and makes a Meet on createRequest (at
    once, or `pending` for a while when the sandbox is set so)."""
    conference = body.get("conferenceData")
    if request.args.get("conferenceDataVersion") != "1" or not isinstance(conference, dict):
        return
    create = conference.get("createRequest")
    state = sandbox()
    if isinstance(create, dict) and "conferenceId" not in data.get("conferenceData", {}):
        if key in state.meets_ready_at:
            return  # the same request again: Google goes on making the Meet it started
        delay = state.settings.google_meet_pending_seconds
        if delay:
            data["conferenceData"] = {"createRequest": {**create, "status": {"statusCode": "pending"}}}
            state.meets_ready_at[key] = state.now() + delay
        else:
            data["hangoutLink"], data["conferenceData"] = _meet(create)
    elif not isinstance(create, dict):
        data["conferenceData"] = conference


def _finish_pending_meet(key: str, data: dict[str, Any]) -> None:
    """A pending Meet whose time has come gets its link, as the next read of the event shows."""
    state = sandbox()
    ready_at = state.meets_ready_at.get(key)
    if ready_at is not None and state.now() >= ready_at:
        del state.meets_ready_at[key]
        data["hangoutLink"], data["conferenceData"] = _meet(data["conferenceData"]["createRequest"])


def _touch(data: dict[str, Any]) -> None:
    """A fresh etag and updated stamp after every write, as clients use them for change checks."""
    data["etag"] = '"' + str(3_400_000_000_000_000 + secrets.randbelow(10**15)) + '"'
    data["updated"] = datetime.fromtimestamp(sandbox().now(), UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


_EDITABLE = (
    "summary",
    "description",
    "location",
    "start",
    "end",
    "status",
    "transparency",
    "attendees",
    "reminders",
    "visibility",
    "colorId",
    "extendedProperties",
)


@bp.post("/calendar/v3/calendars/<calendar_id>/events")
def insert_event(calendar_id: str) -> Response:
    user = _calendar_caller(WRITE_SCOPES)
    if isinstance(user, Response):
        return user
    owner = _calendar_owner(user, calendar_id)
    if isinstance(owner, Response):
        return owner
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return api_error(400, "Bad Request", "badRequest")
    problem = _check_times(body)
    if problem is not None:
        return problem
    event_id = body.get("id") or "".join(secrets.choice(_BASE32HEX) for _ in range(26))
    if not isinstance(event_id, str) or not _EVENT_ID.match(event_id):
        return api_error(400, "Invalid resource id value.", "invalid")
    state = sandbox()
    with state.lock:
        key = owner + "/" + event_id
        if key in state.events:
            return api_error(409, "The requested identifier already exists.", "duplicate")
        eid = base64.urlsafe_b64encode(f"{event_id} {owner}".encode()).decode().rstrip("=")
        data: dict[str, Any] = {
            "kind": "calendar#event",
            "id": event_id,
            "status": "confirmed",
            "htmlLink": "https://www.google.com/calendar/event?eid=" + eid,
            "created": datetime.fromtimestamp(state.now(), UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "creator": {"email": owner, "self": True},
            "organizer": {"email": owner, "self": True},
            "iCalUID": event_id + "@google.com",
            "sequence": 0,
            "reminders": {"useDefault": True},
            "eventType": "default",
        }
        data.update({k: body[k] for k in _EDITABLE if k in body})
        _apply_conference(key, data, body)
        _touch(data)
        state.events[key] = StoredEvent(owner, data)
        return json_response(data)


def _stored_event(user: GoogleUser, calendar_id: str, event_id: str) -> StoredEvent | Response:
    owner = _calendar_owner(user, calendar_id)
    if isinstance(owner, Response):
        return owner
    stored = sandbox().events.get(owner + "/" + event_id)
    return stored if stored is not None else api_error(404, "Not Found", "notFound")


@bp.get("/calendar/v3/calendars/<calendar_id>/events/<event_id>")
def get_event(calendar_id: str, event_id: str) -> Response:
    user = _calendar_caller(READ_SCOPES)
    if isinstance(user, Response):
        return user
    with sandbox().lock:
        stored = _stored_event(user, calendar_id, event_id)
        if isinstance(stored, Response):
            return stored
        _finish_pending_meet(stored.owner_email + "/" + event_id, stored.data)
        return json_response(stored.data)


@bp.patch("/calendar/v3/calendars/<calendar_id>/events/<event_id>")
def patch_event(calendar_id: str, event_id: str) -> Response:
    user = _calendar_caller(WRITE_SCOPES)
    if isinstance(user, Response):
        return user
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return api_error(400, "Bad Request", "badRequest")
    with sandbox().lock:
        stored = _stored_event(user, calendar_id, event_id)
        if isinstance(stored, Response):
            return stored
        merged = {**stored.data, **{k: body[k] for k in _EDITABLE if k in body}}
        problem = _check_times(merged)
        if problem is not None:
            return problem
        if merged["start"] != stored.data["start"] or merged["end"] != stored.data["end"]:
            merged["sequence"] = stored.data["sequence"] + 1
        key = stored.owner_email + "/" + event_id
        _finish_pending_meet(key, merged)
        _apply_conference(key, merged, body)
        _touch(merged)
        stored.data = merged
        return json_response(merged)


@bp.delete("/calendar/v3/calendars/<calendar_id>/events/<event_id>")
def delete_event(calendar_id: str, event_id: str) -> Response:
    user = _calendar_caller(WRITE_SCOPES)
    if isinstance(user, Response):
        return user
    with sandbox().lock:
        stored = _stored_event(user, calendar_id, event_id)
        if isinstance(stored, Response):
            return stored
        if stored.data["status"] == "cancelled":
            return api_error(410, "Resource has been deleted", "deleted")
        stored.data["status"] = "cancelled"
        _touch(stored.data)
        return Response(status=204)


def _range_args(source: dict[str, Any]) -> tuple[datetime | None, datetime | None] | Response:
    bounds: list[datetime | None] = []
    for key in ("timeMin", "timeMax"):
        raw = source.get(key)
        moment = _parse_instant(raw) if raw is not None else None
        if raw is not None and moment is None:
            return api_error(400, "Bad Request", "badRequest")
        bounds.append(moment)
    return bounds[0], bounds[1]


@bp.get("/calendar/v3/calendars/<calendar_id>/events")
def list_events(calendar_id: str) -> Response:
    user = _calendar_caller(READ_SCOPES)
    if isinstance(user, Response):
        return user
    owner = _calendar_owner(user, calendar_id)
    if isinstance(owner, Response):
        return owner
    bounds = _range_args(request.args.to_dict())
    if isinstance(bounds, Response):
        return bounds
    low, high = bounds
    show_deleted = request.args.get("showDeleted") == "true"
    size = min(int(request.args.get("maxResults", "250") or 250), 2500)
    state = sandbox()
    with state.lock:
        picked = []
        for stored in state.events.values():
            if stored.owner_email != owner or (stored.data["status"] == "cancelled" and not show_deleted):
                continue
            start, end = _span(stored.data)
            if (low is None or end > low) and (high is None or start < high):
                picked.append((start, stored.data))
        picked.sort(key=lambda pair: (pair[0], pair[1]["id"]))
        offset = 0
        if request.args.get("pageToken"):
            token_owner, offset = state.page_tokens.get(request.args["pageToken"], ("", -1))
            if token_owner != owner:
                return api_error(400, "Invalid page token value.", "invalid")
        body: dict[str, Any] = {
            "kind": "calendar#events",
            "etag": '"' + str(secrets.randbelow(10**15)) + '"',
            "summary": owner,
            "updated": iso_z(state.now()),
            "timeZone": "UTC",
            "accessRole": "owner",
            "defaultReminders": [],
            "items": [data for _, data in picked[offset : offset + size]],
        }
        if offset + size < len(picked):
            token = secrets.token_urlsafe(24)
            state.page_tokens[token] = (owner, offset + size)
            body["nextPageToken"] = token
        return json_response(body)


def _busy(email: str, low: datetime, high: datetime) -> list[dict[str, str]]:
    """Merged busy intervals of a calendar inside [low, high), from events and test busy blocks."""
    state = sandbox()
    spans = [
        _span(s.data)
        for s in state.events.values()
        if s.owner_email == email and s.data["status"] != "cancelled" and s.data.get("transparency") != "transparent"
    ]
    spans += [
        (datetime.fromtimestamp(a, UTC), datetime.fromtimestamp(b, UTC)) for a, b in state.busy_blocks.get(email, [])
    ]
    clipped = sorted((max(a, low), min(b, high)) for a, b in spans if b > low and a < high)
    merged: list[list[datetime]] = []
    for start, end in clipped:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [{"start": iso_z(a.timestamp()), "end": iso_z(b.timestamp())} for a, b in merged]


@bp.post("/calendar/v3/freeBusy")
def free_busy() -> Response:
    user = _calendar_caller(FREEBUSY_SCOPES)
    if isinstance(user, Response):
        return user
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return api_error(400, "Bad Request", "badRequest")
    for key in ("timeMin", "timeMax"):
        if key not in body:
            return api_error(400, f"Missing {key} parameter.", "required")
    bounds = _range_args(body)
    if isinstance(bounds, Response):
        return bounds
    low, high = bounds
    assert low is not None and high is not None
    if high <= low:
        return api_error(400, "The specified time range is empty.", "timeRangeEmpty", domain="calendar")
    if high - low > MAX_FREEBUSY_RANGE:
        return api_error(400, "The requested time range is too long.", "timeRangeTooLong", domain="calendar")
    state = sandbox()
    calendars: dict[str, Any] = {}
    with state.lock:
        for item in body.get("items") or []:
            raw = str(item.get("id", "")) if isinstance(item, dict) else ""
            email = user.email if raw == "primary" else raw.lower()
            if email not in state.google_users:
                calendars[raw] = {"errors": [{"domain": "global", "reason": "notFound"}], "busy": []}
            else:
                calendars[raw] = {"busy": _busy(email, low, high)}
    return json_response(
        {
            "kind": "calendar#freeBusy",
            "timeMin": iso_z(low.timestamp()),
            "timeMax": iso_z(high.timestamp()),
            "calendars": calendars,
        }
    )
