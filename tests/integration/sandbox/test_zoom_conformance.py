"""The sandbox's Zoom answers, and the bodies sent through it, against Zoom's OpenAPI documents.

ZOOM_OPENAPI_DIR must name the folder of Zoom's documents; without it these tests fail (never skip).
"""

from __future__ import annotations

import httpx
import pytest

from devstack.sandbox.client import SandboxControl
from devstack.sandbox.conformance import ConformanceError, ZoomOpenAPI
from tests.integration.sandbox.helpers import ZoomTokens

BODY = {
    "topic": "Session",
    "type": 2,
    "start_time": "2030-05-01T10:00:00",
    "timezone": "America/New_York",
    "duration": 30,
    "agenda": "a",
}


@pytest.fixture(scope="module")
def spec() -> ZoomOpenAPI:
    try:
        return ZoomOpenAPI.from_env()
    except ConformanceError as exc:
        pytest.fail(str(exc))


def test_users_me_matches_schema(spec: ZoomOpenAPI, http: httpx.Client, base_url: str, zoom: ZoomTokens) -> None:
    answer = http.get(base_url + "/zoom/v2/users/me", headers=zoom.headers)
    spec.validate_response("GET", "/users/me", answer.status_code, answer.json())


def test_meeting_answers_and_bodies_match_schema(
    spec: ZoomOpenAPI, http: httpx.Client, base_url: str, control: SandboxControl, zoom: ZoomTokens
) -> None:
    created = http.post(base_url + "/zoom/v2/users/me/meetings", headers=zoom.headers, json=BODY)
    spec.validate_response("POST", "/users/me/meetings", created.status_code, created.json())
    meeting_id = created.json()["id"]
    got = http.get(f"{base_url}/zoom/v2/meetings/{meeting_id}", headers=zoom.headers)
    spec.validate_response("GET", f"/meetings/{meeting_id}", got.status_code, got.json())
    listed = http.get(base_url + "/zoom/v2/users/me/meetings", headers=zoom.headers)
    spec.validate_response("GET", "/users/me/meetings", listed.status_code, listed.json())
    patched = http.patch(f"{base_url}/zoom/v2/meetings/{meeting_id}", headers=zoom.headers, json={"duration": 40})
    spec.validate_response("PATCH", f"/meetings/{meeting_id}", patched.status_code, None)
    deleted = http.delete(f"{base_url}/zoom/v2/meetings/{meeting_id}", headers=zoom.headers)
    spec.validate_response("DELETE", f"/meetings/{meeting_id}", deleted.status_code, None)
    missing = http.delete(f"{base_url}/zoom/v2/meetings/{meeting_id}", headers=zoom.headers)
    assert missing.status_code == 404
    spec.validate_response("DELETE", f"/meetings/{meeting_id}", missing.status_code, None)

    # Every body that went through the sandbox is one Zoom's documents accept.
    sent = [(c["method"], c["path"].removeprefix("/zoom/v2"), c["body"]) for c in control.calls("zoom") if "body" in c]
    assert len(sent) == 2
    for method, path, body in sent:
        spec.validate_request(method, path, body)


def test_validator_rejects_what_zoom_would_not_send(spec: ZoomOpenAPI) -> None:
    with pytest.raises(ConformanceError, match="id"):
        spec.validate_response("GET", "/meetings/1", 200, {"id": "not-an-integer"})
    with pytest.raises(ConformanceError, match="start_time"):
        spec.validate_response("POST", "/users/me/meetings", 201, {"id": 1, "start_time": "tomorrow"})
    with pytest.raises(ConformanceError, match="topic"):
        spec.validate_request("POST", "/users/me/meetings", {"topic": "x" * 201})
    with pytest.raises(ConformanceError, match="status 418"):
        spec.validate_response("GET", "/users/me", 418, {})
