"""Control API: faults, clock, webhooks, and the command-line start."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from devstack.sandbox.client import SandboxControl, SandboxError
from tests.integration.sandbox.helpers import ZoomTokens

SECRET = "webhook-secret-token"


def test_fault_with_status_body_and_headers_for_next_n_calls(
    http: httpx.Client, base_url: str, control: SandboxControl, zoom: ZoomTokens
) -> None:
    control.add_fault(
        "zoom",
        r"^/zoom/v2/users/[^/]+/meetings$",
        method="POST",
        status=503,
        body={"code": 503, "message": "down"},
        headers={"Retry-After": "7"},
        times=2,
    )
    url = base_url + "/zoom/v2/users/me/meetings"
    answers = [http.post(url, headers=zoom.headers, json={"topic": "t"}) for _ in range(3)]
    assert [a.status_code for a in answers] == [503, 503, 201]
    assert answers[0].json() == {"code": 503, "message": "down"} and answers[0].headers["Retry-After"] == "7"
    assert http.get(base_url + "/zoom/v2/users/me", headers=zoom.headers).status_code == 200
    assert control.faults() == []
    assert [c["fault_id"] is not None for c in control.calls("zoom")][-4:] == [True, True, False, False]


def test_fault_probability_zero_and_one(
    http: httpx.Client, base_url: str, control: SandboxControl, zoom: ZoomTokens
) -> None:
    control.add_fault("zoom", "/users/me$", status=500, probability=0.0)
    assert http.get(base_url + "/zoom/v2/users/me", headers=zoom.headers).status_code == 200
    control.clear_faults()
    control.add_fault("*", "/users/me$", status=500, probability=1.0)
    assert http.get(base_url + "/zoom/v2/users/me", headers=zoom.headers).status_code == 500


def test_timeout_fault_answers_504_or_drops(
    http: httpx.Client, base_url: str, control: SandboxControl, zoom: ZoomTokens
) -> None:
    control.add_fault("zoom", "/users/me$", timeout_seconds=0.2, times=1)
    assert http.get(base_url + "/zoom/v2/users/me", headers=zoom.headers).status_code == 504
    control.add_fault("zoom", "/users/me$", timeout_seconds=0.2, timeout_action="drop", times=1)
    with pytest.raises(httpx.TransportError):
        http.get(base_url + "/zoom/v2/users/me", headers=zoom.headers)
    assert http.get(base_url + "/zoom/v2/users/me", headers=zoom.headers).status_code == 200
    # The dropped call is logged once its handler returns, which on a loaded machine can be after the next
    # call's: look for it among the last three, in any order, for a moment.
    deadline = time.monotonic() + 5
    while not any(call["dropped"] for call in control.calls("zoom")[-3:]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [call["dropped"] for call in control.calls("zoom")[-3:]].count(True) == 1


def test_after_call_fault_carries_the_call_out_and_loses_its_answer(
    http: httpx.Client, base_url: str, control: SandboxControl, zoom: ZoomTokens
) -> None:
    control.add_fault("zoom", "/meetings$", method="POST", timeout_seconds=0.1, after_call=True, times=1)
    answer = http.post(base_url + "/zoom/v2/users/me/meetings", headers=zoom.headers, json={"topic": "lost answer"})
    assert answer.status_code == 504
    assert [m["topic"] for m in control.zoom_meetings("host@example.com")["host@example.com"]] == ["lost answer"]
    assert control.calls("zoom")[-1]["status"] == 504


def test_latency_fault_still_answers(
    http: httpx.Client, base_url: str, control: SandboxControl, zoom: ZoomTokens
) -> None:
    fault = control.add_fault("zoom", "/users/me$", latency_seconds=0.05)
    assert fault["latency_seconds"] == 0.05
    assert http.get(base_url + "/zoom/v2/users/me", headers=zoom.headers).status_code == 200
    assert control.calls("zoom")[-1]["fault_id"] == fault["id"]


def test_bad_control_requests_are_refused(control: SandboxControl) -> None:
    with pytest.raises(SandboxError, match="regex"):
        control.add_fault("zoom", "(", status=500)
    with pytest.raises(SandboxError, match="provider"):
        control.add_fault("teams", "x", status=500)  # type: ignore[arg-type]
    with pytest.raises(SandboxError, match="advance_seconds"):
        control._call("POST", "/clock", {})


def test_clock_moves(control: SandboxControl) -> None:
    assert control.set_clock("2031-06-01T12:00:00+02:00") == "2031-06-01T10:00:00Z"
    assert control.advance_clock(3600) == "2031-06-01T11:00:00Z"


def test_users_created_by_control_keep_their_fields(control: SandboxControl) -> None:
    user = control.create_zoom_user("tz@example.com", timezone="Asia/Tokyo", first_name="Kei")
    assert (user["timezone"], user["first_name"]) == ("Asia/Tokyo", "Kei")
    assert control.create_google_user("G@Example.com")["email"] == "g@example.com"


class _Receiver:
    """A stand-in webhook endpoint that checks Zoom's signature like the connect service must."""

    def __init__(self, answer_correctly: bool) -> None:
        self.answer_correctly = answer_correctly
        self.events: list[dict[str, Any]] = []
        self.server = make_server("127.0.0.1", 0, self)
        self.url = f"http://127.0.0.1:{self.server.port}/webhooks/zoom"

    def __call__(self, environ: Any, start_response: Any) -> Any:
        request = Request(environ)
        raw = request.get_data()
        stamp = request.headers["x-zm-request-timestamp"]
        expected = "v0=" + hmac.new(SECRET.encode(), f"v0:{stamp}:".encode() + raw, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, request.headers["x-zm-signature"]):
            return Response("bad signature", status=401)(environ, start_response)
        event = json.loads(raw)
        self.events.append(event)
        if event["event"] == "endpoint.url_validation":
            plain = event["payload"]["plainToken"]
            key = SECRET if self.answer_correctly else "wrong"
            encrypted = hmac.new(key.encode(), plain.encode(), hashlib.sha256).hexdigest()
            body = json.dumps({"plainToken": plain, "encryptedToken": encrypted})
            return Response(body, mimetype="application/json")(environ, start_response)
        return Response("", status=200)(environ, start_response)


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    hook = _Receiver(answer_correctly=True)
    thread = threading.Thread(target=hook.server.serve_forever, daemon=True)
    thread.start()
    yield hook
    hook.server.shutdown()
    thread.join()
    hook.server.server_close()


def test_deauthorization_webhook_is_signed_and_revokes(
    http: httpx.Client, base_url: str, control: SandboxControl, zoom: ZoomTokens, receiver: _Receiver
) -> None:
    result = control.send_zoom_deauthorization(receiver.url, SECRET, "host@example.com")
    assert result["status"] == 200
    event = receiver.events[0]
    assert event["event"] == "app_deauthorized"
    me = control.create_zoom_user("host@example.com")
    assert event["payload"]["user_id"] == me["id"] and event["payload"]["account_id"] == me["account_id"]
    assert event["payload"]["client_id"] == "flo-zoom-client"
    assert {"signature", "deauthorization_time"} <= event["payload"].keys()
    assert http.get(base_url + "/zoom/v2/users/me", headers=zoom.headers).status_code == 401
    wrong = control.send_zoom_deauthorization(receiver.url, "not-the-secret", "host@example.com")
    assert wrong["status"] == 401


def test_url_validation_checks_the_answer(control: SandboxControl, receiver: _Receiver) -> None:
    good = control.send_zoom_url_validation(receiver.url, SECRET)
    assert (good["status"], good["valid"]) == (200, True)
    receiver.answer_correctly = False
    bad = control.send_zoom_url_validation(receiver.url, SECRET)
    assert (bad["status"], bad["valid"]) == (200, False)


def test_command_line_start_prints_its_url() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack.sandbox", "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        answer = httpx.get(url + "/zoom/v2/users/me", timeout=10.0)
        assert answer.status_code == 401 and answer.json()["code"] == 124
    finally:
        process.terminate()
        process.wait(timeout=10)
