"""Config, push envelopes, the web layer, log redaction and the topology declaration."""

from __future__ import annotations

import base64
import json
import logging
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import BaseModel, model_validator
from werkzeug.test import Client, create_environ
from werkzeug.wrappers import Request, Response

from shared.clock import SystemClock
from shared.config import ConfigError, Settings
from shared.envelope import PushMessage, booking_id_of, parse_push
from shared.errors import DomainError, InvalidInputError, NotForUs
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


def test_settings_left_unset_take_the_contracts_defaults() -> None:
    settings = Settings.from_env(LOCAL)
    assert settings == Settings(
        env="local",
        base_url="http://127.0.0.1:8080",
        project_id="p",
        environ=LOCAL,
        smtp_host=None,
        smtp_port=587,
        smtp_tls="none",  # the local mail sink speaks plain SMTP
        smtp_username=None,
        mail_from="Flo <bookings@flo.local>",
        link_deadline_seconds=900,
        confirmation_grace_seconds=8,
        payment_hold_minutes=15,
        booking_horizon_days=365,
        oidc_audience=None,
        oidc_service_accounts=frozenset(),
    )
    assert Settings.from_env({**LOCAL, "SMTP_PORT": "", "SMTP_HOST": "", "OIDC_AUDIENCE": ""}) == replace(
        settings, environ={**LOCAL, "SMTP_PORT": "", "SMTP_HOST": "", "OIDC_AUDIENCE": ""}
    )


def test_settings_read_from_production_s_environment() -> None:
    environ = {
        "FLO_BASE_URL": "https://flo.example",
        "GOOGLE_CLOUD_PROJECT": "flo-prod",
        "OIDC_SERVICE_ACCOUNTS": " push@flo-prod.iam , ,scheduler@flo-prod.iam",
        "OIDC_AUDIENCE": "https://meetings.flo.example",
        "SMTP_HOST": "smtp.example",
        "SMTP_USERNAME": "flo",
        "MAIL_FROM": "Flo <hello@flo.example>",
        "CONFIRMATION_GRACE_SECONDS": "0",
        "PAYMENT_HOLD_MINUTES": "1",
        "BOOKING_HORIZON_DAYS": "1",
        "LINK_DEADLINE_SECONDS": "1",
    }
    settings = Settings.from_env(environ)
    assert (settings.env, settings.local) == ("production", False)  # production unless FLO_ENV says local
    assert settings.oidc_service_accounts == {"push@flo-prod.iam", "scheduler@flo-prod.iam"}
    assert (settings.oidc_audience, settings.smtp_host, settings.smtp_username) == (
        "https://meetings.flo.example",
        "smtp.example",
        "flo",
    )
    assert (settings.smtp_port, settings.smtp_tls, settings.mail_from) == (587, "starttls", "Flo <hello@flo.example>")
    assert (settings.confirmation_grace_seconds, settings.payment_hold_minutes) == (0, 1)
    assert (settings.booking_horizon_days, settings.link_deadline_seconds) == (1, 1)
    assert Settings.from_env({**environ, "SMTP_PORT": "465"}).smtp_tls == "implicit"
    assert Settings.from_env({**environ, "SMTP_PORT": "465", "SMTP_TLS": "starttls"}).smtp_tls == "starttls"
    assert Settings.from_env({**LOCAL, "SMTP_TLS": "implicit"}).smtp_tls == "implicit"


def test_settings_read_the_process_environment_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in LOCAL.items():
        monkeypatch.setenv(name, value)
    assert Settings.from_env().project_id == "p"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"FLO_ENV": "staging"}, "FLO_ENV must be 'local' or 'production', got 'staging'"),
        ({"FLO_BASE_URL": ""}, "FLO_BASE_URL must be set (an http(s) URL)"),
        ({"FLO_BASE_URL": "not a url"}, "FLO_BASE_URL must be an http(s) URL, got 'not a url'"),
        ({"FLO_BASE_URL": "ftp://flo.example"}, "FLO_BASE_URL must be an http(s) URL, got 'ftp://flo.example'"),
        ({"FLO_BASE_URL": "https://"}, "FLO_BASE_URL must be an http(s) URL, got 'https://'"),
        ({"GOOGLE_CLOUD_PROJECT": ""}, "GOOGLE_CLOUD_PROJECT must be set (any id works with the emulators)"),
        ({"SMTP_PORT": "abc"}, "SMTP_PORT must be a whole number, got 'abc'"),
        ({"SMTP_PORT": "0"}, "SMTP_PORT must be at least 1, got 0"),
        ({"LINK_DEADLINE_SECONDS": "0"}, "LINK_DEADLINE_SECONDS must be at least 1, got 0"),
        ({"CONFIRMATION_GRACE_SECONDS": "-1"}, "CONFIRMATION_GRACE_SECONDS must be at least 0, got -1"),
        ({"PAYMENT_HOLD_MINUTES": "0"}, "PAYMENT_HOLD_MINUTES must be at least 1, got 0"),
        ({"BOOKING_HORIZON_DAYS": "0"}, "BOOKING_HORIZON_DAYS must be at least 1, got 0"),
        ({"SMTP_TLS": "ssl"}, "SMTP_TLS must be one of none, starttls, implicit, got 'ssl'"),
        (
            {"FLO_ENV": "production", "OIDC_SERVICE_ACCOUNTS": "push@p.iam", "SMTP_TLS": "none"},
            "SMTP_TLS=none is only allowed with FLO_ENV=local: production mail must use TLS",
        ),
        (
            {"FLO_ENV": "production", "OIDC_SERVICE_ACCOUNTS": " , "},
            "OIDC_SERVICE_ACCOUNTS must list the push and scheduler accounts in production",
        ),
    ],
)
def test_settings_fail_fast_naming_the_bad_variable(override: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({**LOCAL, **override})
    assert str(refused.value) == message


@pytest.mark.parametrize("name", ["FLO_BASE_URL", "GOOGLE_CLOUD_PROJECT"])
def test_settings_without_a_required_variable_say_it_must_be_set(name: str) -> None:
    with pytest.raises(ConfigError, match=f"^{name} must be set"):
        Settings.from_env({key: value for key, value in LOCAL.items() if key != name})


def _raw_push_request(data: bytes) -> Request:
    from werkzeug.test import EnvironBuilder

    return Request(EnvironBuilder(method="POST", data=data, content_type="application/json").get_environ())


def _push_request(body: object) -> Request:
    return _raw_push_request(json.dumps(body).encode())


def test_push_envelope_becomes_a_typed_message() -> None:
    message = parse_push(_push_request(encode_push({"booking_id": "b1", "revision": 2}, "m-1", "sub")))
    assert message.message_id == "m-1" and message.data == {"booking_id": "b1", "revision": 2}
    assert message.subscription == "sub"


def test_push_envelope_fields_are_read_under_either_spelling_with_text_attributes() -> None:
    data = base64.b64encode(b'{"a": 1}').decode()
    snake = {"message": {"data": data, "message_id": "m-2", "attributes": {"n": 1}, "publish_time": "t"}}
    assert parse_push(_push_request(snake)) == PushMessage("m-2", "", {"a": 1}, {"n": "1"}, "t")
    camel = {"message": {"data": data, "messageId": "m-3", "attributes": None, "publishTime": "T"}, "subscription": "s"}
    assert parse_push(_push_request(camel)) == PushMessage("m-3", "s", {"a": 1}, {}, "T")


@pytest.mark.parametrize(
    "data",
    [
        {"type": "booking.changed"},
        {"type": "payment.succeeded", "booking_id": "b1"},
        {"type": "booking.changed", "booking_id": "a/b"},
        {"type": "booking.changed", "booking_id": 5},
    ],
)
def test_an_event_without_a_booking_or_of_another_type_is_not_for_this_worker(data: dict[str, object]) -> None:
    with pytest.raises(NotForUs):
        booking_id_of(_push_request(encode_push(data, "m-1")), "booking.changed")


def test_an_event_names_its_booking_for_the_worker_of_its_type_or_of_any_type() -> None:
    changed = encode_push({"type": "booking.changed", "booking_id": "b1"}, "m-1")
    assert booking_id_of(_push_request(changed), "booking.changed") == "b1"
    assert booking_id_of(_push_request(encode_push({"booking_id": "b2"}, "m-2"))) == "b2"


def test_an_empty_push_body_is_a_400_saying_what_the_body_must_be() -> None:
    with pytest.raises(InvalidInputError) as raised:
        parse_push(_raw_push_request(b""))
    assert raised.value.message == (
        "Malformed Pub/Sub push envelope: the body must be a JSON object with a 'message' object"
    )


@pytest.mark.parametrize(
    ("body", "reason", "logged_id"),
    [
        (None, "the body must be a JSON object with a 'message' object", "unknown"),
        ({"message": "x"}, "the body must be a JSON object with a 'message' object", "unknown"),
        ({"message": {"data": "!!!", "messageId": "m"}}, "Only base64 data is allowed", "m"),
        ({"message": {"data": 5, "messageId": "m"}}, "message.data must be base64 text", "m"),
        (
            {"message": {"data": base64.b64encode(b"[1]").decode(), "messageId": "m"}},
            "message.data must decode to a JSON object",
            "m",
        ),
        ({"message": {"data": base64.b64encode(b"{}").decode()}}, "message.messageId is missing", "unknown"),
        (
            {"message": {"data": base64.b64encode(b"{}").decode(), "messageId": "m", "attributes": [1]}},
            "message.attributes must be an object",
            "m",
        ),
    ],
)
def test_malformed_envelopes_are_a_400_and_one_log_line_naming_the_message(
    body: object, reason: str, logged_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING), pytest.raises(InvalidInputError) as raised:
        parse_push(_push_request(body))
    assert status_of(raised.value) == 400
    assert (raised.value.code, raised.value.message) == (
        "malformed_envelope",
        f"Malformed Pub/Sub push envelope: {reason}",
    )
    [logged] = [r for r in caplog.records if r.getMessage() == "malformed push envelope"]
    assert getattr(logged, "message_id", None) == logged_id


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
