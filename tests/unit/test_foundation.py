"""Config, push envelopes, the web layer, log redaction and the topology declaration."""

from __future__ import annotations

import base64
import json
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import BaseModel, model_validator
from werkzeug.test import Client, create_environ
from werkzeug.wrappers import Request, Response

from shared.clock import SystemClock
from shared.config import ConfigError, Settings
from shared.envelope import parse_push
from shared.errors import DomainError, InvalidInputError
from shared.logs import JsonFormatter, _SecretRegistry, configure_logging, redact, register_secret, request_trace
from shared.topology import load_topology
from shared.web import ApiError, LazyApp, WebApp, json_response, parse_body, route, status_of
from tests.fakes.pubsub import encode_push
from tests.unit.test_production_keys_and_auth import PROJECT, TRACE, _Lines

LOCAL = {"FLO_ENV": "local", "FLO_BASE_URL": "http://127.0.0.1:8080/", "GOOGLE_CLOUD_PROJECT": "p"}


def test_settings_read_the_contract_variables() -> None:
    settings = Settings.from_env({**LOCAL, "SMTP_PORT": "2525", "LINK_DEADLINE_SECONDS": "60"})
    assert settings.local and settings.base_url == "http://127.0.0.1:8080"
    assert settings.smtp_port == 2525 and settings.link_deadline_seconds == 60


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"FLO_ENV": "staging"}, "FLO_ENV"),
        ({"FLO_BASE_URL": "not a url"}, "FLO_BASE_URL"),
        ({"GOOGLE_CLOUD_PROJECT": ""}, "GOOGLE_CLOUD_PROJECT"),
        ({"SMTP_PORT": "abc"}, "SMTP_PORT"),
        ({"FLO_ENV": "production"}, "OIDC_SERVICE_ACCOUNTS"),
    ],
)
def test_settings_fail_fast_naming_the_bad_variable(override: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        Settings.from_env({**LOCAL, **override})


def _push_request(body: object) -> Request:
    from werkzeug.test import EnvironBuilder

    return Request(EnvironBuilder(method="POST", data=json.dumps(body), content_type="application/json").get_environ())


def test_push_envelope_becomes_a_typed_message() -> None:
    message = parse_push(_push_request(encode_push({"booking_id": "b1", "revision": 2}, "m-1", "sub")))
    assert message.message_id == "m-1" and message.data == {"booking_id": "b1", "revision": 2}
    assert message.subscription == "sub"


@pytest.mark.parametrize(
    "body",
    [
        None,
        {"message": "x"},
        {"message": {"data": "!!!", "messageId": "m"}},
        {"message": {"data": base64.b64encode(b"[1]").decode(), "messageId": "m"}},
        {"message": {"data": base64.b64encode(b"{}").decode()}},
    ],
)
def test_malformed_envelopes_are_a_400_and_one_log_line(body: object, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING), pytest.raises(InvalidInputError) as raised:
        parse_push(_push_request(body))
    assert status_of(raised.value) == 400
    assert len([r for r in caplog.records if r.getMessage() == "malformed push envelope"]) == 1


def _app() -> WebApp:
    @route("/boom")
    def boom(request: Request) -> Response:
        raise RuntimeError("unexpected")

    @route("/items/<item_id>", "POST")
    def item(request: Request, item_id: str) -> Response:
        if item_id == "bad":
            raise ApiError(422, "bad_item", "That item is bad.")
        return json_response({"id": item_id}, 201)

    return WebApp("demo", [boom, item])


def test_web_app_routes_and_errors_are_json() -> None:
    client = Client(_app())
    assert client.get("/health").json == {"status": "ok", "service": "demo"}
    assert client.get("/health/demo").status_code == 200
    assert client.post("/items/7").json == {"id": "7"}
    assert client.post("/items/bad").json == {"error": {"code": "bad_item", "message": "That item is bad."}}
    missing = client.get("/nope")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"
    assert client.get("/items/7").status_code == 405
    crash = client.get("/boom")
    assert crash.status_code == 500 and crash.get_json() == {
        "error": {"code": "internal", "message": "Something went wrong on our side; nothing was lost."}
    }


class _Window(BaseModel):
    first: int
    last: int

    @model_validator(mode="after")
    def _in_order(self) -> _Window:
        if self.last < self.first:
            raise ValueError("The last day must not come before the first.")
        return self


def test_a_refused_body_names_what_is_wrong_and_an_unmapped_domain_error_is_a_400() -> None:
    @route("/windows", "POST")
    def window(request: Request) -> Response:
        parse_body(request, _Window)
        raise DomainError("not_today", "Not today.")

    client = Client(WebApp("demo", [window]))
    backwards = client.post("/windows", json={"first": 3, "last": 1})
    refused = client.post("/windows", json={"first": 1, "last": 3})

    assert (backwards.status_code, backwards.get_json()) == (
        400,
        {"error": {"code": "invalid_request", "message": "body: The last day must not come before the first."}},
    )
    assert (refused.status_code, refused.get_json()) == (400, {"error": {"code": "not_today", "message": "Not today."}})


def test_a_service_is_built_on_its_first_request_and_one_that_cannot_start_answers_503_and_tries_again() -> None:
    attempts: list[int] = []

    def build() -> WebApp:
        attempts.append(len(attempts) + 1)
        if len(attempts) == 1:
            raise RuntimeError("a secret is not readable yet")
        return _app()

    def post_item() -> Request:
        return Request(create_environ("/items/7", method="POST", headers={"X-Cloud-Trace-Context": f"{TRACE}/1"}))

    service = LazyApp(build)
    lines = _Lines()
    logging.getLogger("shared.web").addHandler(lines)
    try:
        assert attempts == []  # importing a service's main.py builds nothing
        failed = service.handle(post_item())
    finally:
        logging.getLogger("shared.web").removeHandler(lines)
    started = service.handle(post_item())
    again = service.handle(post_item())

    assert failed.status_code == 503 and failed.get_json() == {
        "error": {"code": "starting_failed", "message": "The service could not start; see its logs."}
    }
    assert [(line["message"], line["logging.googleapis.com/trace"]) for line in lines.lines] == [
        ("the service could not start", f"projects/{PROJECT}/traces/{TRACE}")
    ]
    assert (started.status_code, started.get_json(), again.get_json()) == (201, {"id": "7"}, {"id": "7"})
    assert attempts == [1, 2]  # built once it could be, then kept


def test_log_lines_are_json_for_cloud_logging_and_never_carry_secrets() -> None:
    register_secret("super-secret-token-value")
    record = logging.makeLogRecord(
        {
            "msg": "called with super-secret-token-value and Bearer abc.def and access_token=xyz123",
            "levelname": "INFO",
            "booking_id": "b1",
            "trace": "t1",
        }
    )
    line = json.loads(JsonFormatter("svc", "proj").format(record))
    assert line["severity"] == "INFO" and line["booking_id"] == "b1"
    assert line["logging.googleapis.com/trace"] == "projects/proj/traces/t1"
    assert "super-secret-token-value" not in line["message"]
    assert "abc.def" not in line["message"] and "xyz123" not in line["message"]


def test_topology_declares_every_push_target_and_route() -> None:
    topology = load_topology()
    assert set(topology.services) == {"bookings", "connect", "meetings", "notify", "reminders"}
    for sub in topology.subscriptions:
        assert sub.topic in topology.topics and sub.service in topology.services
        assert sub.dead_letter_topic == f"{sub.name}-dead-letter"
    assert topology.service_for("/api/public/bookings") == "bookings"
    assert topology.service_for("/oauth/zoom/callback") == "connect"
    assert topology.service_for("/health/meetings") == "meetings"
    assert topology.service_for("/elsewhere") is None


def test_redaction_keeps_the_field_and_scheme_names_and_cuts_only_the_values() -> None:
    line = "GET /cb?access_token=abc123&state=s1 Authorization: Bearer abc.def, password: hunter22"
    assert redact(line) == (
        "GET /cb?access_token=[redacted]&state=s1 Authorization: Bearer [redacted], password: [redacted]"
    )


def test_a_registered_secret_containing_another_is_scrubbed_whole() -> None:
    """Values under 6 characters are not taken: they would scrub ordinary words."""
    registry = _SecretRegistry()
    for value in ("zz-secret-one", "AAzz-secret-one", "sixsix", "short", "", None):
        registry.add(value)
    assert registry.scrub("keys AAzz-secret-one and zz-secret-one, sixsix, short") == (
        "keys [redacted] and [redacted], [redacted], short"
    )


def test_a_log_line_has_exactly_the_cloud_logging_fields_and_the_public_extras() -> None:
    record = logging.makeLogRecord(
        {"msg": "booked %s", "args": ("b1",), "levelname": "WARNING", "name": "flo.bookings", "created": 1748779200.5}
    )
    record.booking_id = "b1"
    record.starts = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    record._private = "never logged"
    assert json.loads(JsonFormatter("bookings").format(record)) == {
        "severity": "WARNING",
        "message": "booked b1",
        "time": "2025-06-01T12:00:00.500000+00:00",
        "service": "bookings",
        "logger": "flo.bookings",
        "booking_id": "b1",
        "starts": "2025-06-01 12:00:00+00:00",
    }


def test_a_logged_exception_carries_its_traceback() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.makeLogRecord({"msg": "failed", "exc_info": sys.exc_info()})
    exception = json.loads(JsonFormatter("svc").format(record))["exception"]
    assert exception.startswith("Traceback") and exception.endswith("ValueError: boom")


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """configure_logging changes process-wide logging: put it back for the other tests."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    noisy = {name: logging.getLogger(name).level for name in NOISY_LIBRARIES}
    yield
    root.handlers[:], root.level = handlers, level
    for name, saved in noisy.items():
        logging.getLogger(name).setLevel(saved)


NOISY_LIBRARIES = ("urllib3", "httpx", "httpcore", "googleapiclient", "google")


@pytest.mark.usefixtures("restored_logging")
def test_configured_logging_writes_json_lines_to_stdout_and_quiets_the_libraries(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("bookings", "proj", level=logging.DEBUG)
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    with request_trace({"traceparent": f"00-{trace}-00f067aa0ba902b7-01"}):
        logging.getLogger("flo.test").debug("hello")
    logging.getLogger("httpx").info("library chatter")
    (line,) = capsys.readouterr().out.splitlines()
    entry = json.loads(line)
    assert (entry["service"], entry["message"], entry["severity"]) == ("bookings", "hello", "DEBUG")
    assert entry["logging.googleapis.com/trace"] == f"projects/proj/traces/{trace}"
    assert len(logging.getLogger().handlers) == 1
    assert {name: logging.getLogger(name).level for name in NOISY_LIBRARIES} == dict.fromkeys(
        NOISY_LIBRARIES, logging.WARNING
    )


def test_the_system_clock_tells_aware_utc_time() -> None:
    assert SystemClock().now().utcoffset() == timedelta(0)
