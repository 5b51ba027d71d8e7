"""The notify and reminders apps as build_app wires them: real SMTP (the local mail sink), fakes elsewhere."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator, Mapping

import pytest
from werkzeug.test import Client

from devstack.emulators import free_port
from devstack.mailsink import MailSink, start_mailsink
from services.notify.app import build_app as notify_app
from services.reminders.app import build_app as reminders_app
from shared.bootstrap import Runtime
from shared.config import ConfigError, Settings
from shared.secrets import EnvSecretSource, SecretUnavailableError
from tests.fakes.pubsub import encode_push
from tests.unit.test_bookings_harness import ENV, KEYS, MANAGE_KEYS, OAUTH_CLIENTS
from tests.unit.test_notify_harness import CREATOR, FAN, NotifyHarness

PASSWORD = "sink-password-never-logged"


@pytest.fixture
def sink() -> Iterator[MailSink]:
    with start_mailsink() as running:
        yield running


SECRETS = {"MANAGE_TOKEN_KEYS": MANAGE_KEYS, "SMTP_PASSWORD": PASSWORD}
"""notify holds only the manage-token key and the SMTP password, as Terraform grants them."""
REMINDERS_SECRETS = {**SECRETS, "TOKEN_ENCRYPTION_KEYS": KEYS, **OAUTH_CLIENTS}
"""reminders also refreshes creators' tokens ahead of expiry, so it holds their key and the OAuth clients."""


def runtime(h: NotifyHarness, service: str, env: Mapping[str, str], secrets: Mapping[str, str] = SECRETS) -> Runtime:
    return Runtime(
        service=service,
        settings=Settings.from_env({**ENV, **env}),
        store=h.store,
        publisher=h.publisher,
        clock=h.clock,
        secrets=EnvSecretSource(secrets),
    )


def smtp_env(port: int) -> dict[str, str]:
    return {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port), "SMTP_USERNAME": "flo"}


def test_a_booking_event_reaches_the_mail_sink_over_smtp(sink: MailSink) -> None:
    h = NotifyHarness()
    booking_id = h.new_booking()
    h.settle_link(booking_id)
    client = Client(notify_app(runtime(h, "notify", smtp_env(sink.smtp_port))))

    response = client.post("/pubsub/booking-events", json=encode_push({"booking_id": booking_id, "revision": 1}, "1"))
    assert response.status_code == 200, response.get_data(as_text=True)
    received = sorted((str(m["X-Flo-Email-Kind"]), m["To"].addresses[0].addr_spec) for m in sink.messages())
    assert received == [("confirmation", FAN), ("creator_notification", CREATOR)]


def test_smtp_down_is_a_503_and_the_password_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    h = NotifyHarness()
    booking_id = h.new_booking()
    h.settle_link(booking_id)
    client = Client(notify_app(runtime(h, "notify", smtp_env(free_port()))))

    with caplog.at_level(logging.DEBUG):
        response = client.post("/pubsub/link-events", json=encode_push({"booking_id": booking_id}, "1"))
    assert response.status_code == 503
    assert caplog.records  # the failure was logged ...
    assert all(PASSWORD not in record.getMessage() + str(record.__dict__) for record in caplog.records)
    assert PASSWORD not in response.get_data(as_text=True)  # ... without the password


def test_the_reminders_app_answers_the_scheduler_with_counts(sink: MailSink) -> None:
    h = NotifyHarness()
    booking_id = h.new_booking()  # in an hour: its 1h reminder is due as soon as the confirmation went
    h.clock.advance(h.doc(booking_id)["mail_due_at"] - h.clock.now())
    client = Client(reminders_app(runtime(h, "reminders", smtp_env(sink.smtp_port), REMINDERS_SECRETS)))

    response = client.post("/tasks/reminders")
    assert response.status_code == 200
    assert (response.get_json()["owed_settled"], response.get_json()["reminders_sent"]) == (1, 1)
    kinds = [str(m["X-Flo-Email-Kind"]) for m in sink.messages()]
    assert sorted(kinds) == ["confirmation", "creator_notification", "reminder", "reminder"]


def test_a_missing_smtp_host_fails_the_build_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match="SMTP_HOST"):
        notify_app(runtime(NotifyHarness(), "notify", {}))


def test_the_smtp_password_is_a_secret_not_an_environment_variable() -> None:
    h = NotifyHarness()
    env = {"SMTP_HOST": "127.0.0.1", "SMTP_USERNAME": "flo", "SMTP_PASSWORD": PASSWORD}
    with pytest.raises(SecretUnavailableError, match="SMTP_PASSWORD"):
        notify_app(runtime(h, "notify", env, {"MANAGE_TOKEN_KEYS": MANAGE_KEYS}))


def test_the_reminders_app_reseals_fans_manage_tokens_off_a_retired_key() -> None:
    h = NotifyHarness()
    booking_id = h.new_booking()
    new_key = "m9:" + base64.urlsafe_b64encode(bytes(range(200, 232))).decode().rstrip("=")
    rotated = {**REMINDERS_SECRETS, "MANAGE_TOKEN_KEYS": f"{new_key},{MANAGE_KEYS}"}
    client = Client(reminders_app(runtime(h, "reminders", smtp_env(free_port()), rotated)))

    assert client.post("/tasks/reseal").get_json() == {"resealed": 1}
    assert client.post("/tasks/reseal").get_json() == {"resealed": 0}
    assert h.doc(booking_id)["manage_token_sealed"]["key_version"] == "m9"
