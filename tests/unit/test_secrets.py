"""Secret sources: env locally, Secret Manager (a fake client here) in production, cached, never leaked."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass

import pytest

from shared import secrets
from shared.secrets import (
    EnvSecretSource,
    SecretManagerSource,
    SecretUnavailableError,
    secret_source_from_env,
)

VALUE = "s3cr3t-value-that-must-not-leak"


@dataclass
class _Payload:
    data: bytes


@dataclass
class _Response:
    payload: _Payload


class _FakeClient:
    """Stands in for SecretManagerServiceClient.access_secret_version."""

    def __init__(self, values: dict[str, bytes], error: Exception | None = None) -> None:
        self.values = values
        self.error = error
        self.calls: list[str] = []

    def access_secret_version(self, *, name: str) -> _Response:
        self.calls.append(name)
        if self.error is not None:
            raise self.error
        return _Response(_Payload(self.values[name]))


def _path(secret: str) -> str:
    return f"projects/flo-prod/secrets/{secret}/versions/latest"


def test_env_source_reads_the_variable_of_that_name() -> None:
    source = EnvSecretSource({"ZOOM_CLIENT_SECRET": VALUE})
    assert source.get("ZOOM_CLIENT_SECRET") == VALUE


@pytest.mark.parametrize("environ", [{}, {"ZOOM_CLIENT_SECRET": ""}])
def test_env_source_missing_secret_names_it(environ: dict[str, str]) -> None:
    with pytest.raises(SecretUnavailableError) as caught:
        EnvSecretSource(environ).get("ZOOM_CLIENT_SECRET")
    assert caught.value.name == "ZOOM_CLIENT_SECRET"
    assert str(caught.value) == "secret ZOOM_CLIENT_SECRET is not available: environment variable is not set"


def test_env_source_defaults_to_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAUTH_STATE_SECRET", VALUE)
    assert EnvSecretSource().get("OAUTH_STATE_SECRET") == VALUE


def test_secret_manager_reads_latest_version_and_caches() -> None:
    client = _FakeClient({_path("SMTP_PASSWORD"): VALUE.encode(), _path("ZOOM_CLIENT_ID"): b"zoom-id"})
    source = SecretManagerSource("flo-prod", client_factory=lambda: client)
    assert source.get("SMTP_PASSWORD") == VALUE
    assert source.get("SMTP_PASSWORD") == VALUE
    assert source.get("ZOOM_CLIENT_ID") == "zoom-id"
    assert client.calls == [_path("SMTP_PASSWORD"), _path("ZOOM_CLIENT_ID")]


def test_secret_manager_client_is_built_lazily_once() -> None:
    built: list[_FakeClient] = []

    def factory() -> _FakeClient:
        client = _FakeClient({_path("A_SECRET"): b"a", _path("B_SECRET"): b"b"})
        built.append(client)
        return client

    source = SecretManagerSource("flo-prod", client_factory=factory)
    assert built == []
    source.get("A_SECRET")
    source.get("B_SECRET")
    assert len(built) == 1


def test_secret_manager_error_names_secret_and_is_not_cached(caplog: pytest.LogCaptureFixture) -> None:
    client = _FakeClient({}, error=PermissionError("denied on projects/flo-prod/secrets/ZOOM_WEBHOOK_SECRET"))
    source = SecretManagerSource("flo-prod", client_factory=lambda: client)
    with caplog.at_level(logging.DEBUG), pytest.raises(SecretUnavailableError) as caught:
        source.get("ZOOM_WEBHOOK_SECRET")
    assert caught.value.name == "ZOOM_WEBHOOK_SECRET"
    assert str(caught.value) == "secret ZOOM_WEBHOOK_SECRET is not available: Secret Manager error PermissionError"
    client.error = None
    client.values[_path("ZOOM_WEBHOOK_SECRET")] = VALUE.encode()
    assert source.get("ZOOM_WEBHOOK_SECRET") == VALUE  # the failure was not cached
    assert len(client.calls) == 2
    assert VALUE not in caplog.text


def test_secret_manager_undecodable_value_never_appears_in_error() -> None:
    raw = b"\xff\xfe" + VALUE.encode()
    source = SecretManagerSource("flo-prod", client_factory=lambda: _FakeClient({_path("TOKEN_ENCRYPTION_KEYS"): raw}))
    with pytest.raises(SecretUnavailableError) as caught:
        source.get("TOKEN_ENCRYPTION_KEYS")
    error = caught.value
    assert str(error) == "secret TOKEN_ENCRYPTION_KEYS is not available: value is not UTF-8 text"
    assert VALUE not in str(error)
    assert error.__cause__ is None
    assert error.__suppress_context__


def test_secret_manager_empty_value_is_an_error() -> None:
    source = SecretManagerSource("flo-prod", client_factory=lambda: _FakeClient({_path("GOOGLE_CLIENT_ID"): b""}))
    with pytest.raises(SecretUnavailableError) as caught:
        source.get("GOOGLE_CLIENT_ID")
    assert str(caught.value) == "secret GOOGLE_CLIENT_ID is not available: latest version is empty"


def test_secret_manager_repr_hides_cached_values() -> None:
    source = SecretManagerSource("flo-prod", client_factory=lambda: _FakeClient({_path("X_SECRET"): VALUE.encode()}))
    source.get("X_SECRET")
    assert VALUE not in repr(source)
    assert VALUE not in str(source)


def test_secret_manager_needs_a_project() -> None:
    with pytest.raises(ValueError) as caught:
        SecretManagerSource("")
    assert str(caught.value) == "project_id is required to read secrets from Secret Manager"


def test_source_from_env_picks_env_locally_and_secret_manager_otherwise() -> None:
    local = secret_source_from_env({"FLO_ENV": "local", "SMTP_PASSWORD": VALUE})
    assert isinstance(local, EnvSecretSource)
    assert local.get("SMTP_PASSWORD") == VALUE
    production = secret_source_from_env({"GOOGLE_CLOUD_PROJECT": "flo-prod"})
    assert isinstance(production, SecretManagerSource)
    assert repr(production) == "SecretManagerSource(project_id='flo-prod')"
    with pytest.raises(ValueError) as caught:
        secret_source_from_env({"FLO_ENV": "production"})
    assert str(caught.value) == "GOOGLE_CLOUD_PROJECT must be set to read secrets from Secret Manager"


def test_source_from_env_defaults_to_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLO_ENV", "local")
    monkeypatch.setenv("SMTP_PASSWORD", VALUE)
    assert secret_source_from_env().get("SMTP_PASSWORD") == VALUE


def _real_client_stand_in(monkeypatch: pytest.MonkeyPatch, secret: str) -> list[Mapping[str, str]]:
    """_default_client (the real Google client) replaced by a fake client; the environments it was built from."""
    built_from: list[Mapping[str, str]] = []

    def default_client(environ: Mapping[str, str]) -> _FakeClient:
        built_from.append(environ)
        return _FakeClient({_path(secret): VALUE.encode()})

    monkeypatch.setattr(secrets, "_default_client", default_client)
    return built_from


def test_secret_manager_builds_the_real_client_from_the_given_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The emulator host is read from the environment the source was picked from, not the process's."""
    built_from = _real_client_stand_in(monkeypatch, "SMTP_PASSWORD")
    environ = {"GOOGLE_CLOUD_PROJECT": "flo-prod", secrets.EMULATOR_HOST_VAR: "localhost:8086"}
    assert secret_source_from_env(environ).get("SMTP_PASSWORD") == VALUE
    assert built_from == [environ]


def test_secret_manager_without_a_factory_builds_the_real_client_from_the_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built_from = _real_client_stand_in(monkeypatch, "SMTP_PASSWORD")
    assert SecretManagerSource("flo-prod").get("SMTP_PASSWORD") == VALUE
    assert len(built_from) == 1 and built_from[0] is os.environ


def test_with_the_emulator_host_set_the_real_client_talks_plain_grpc_to_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests' Secret Manager stand-in needs no credentials: an insecure channel to the host the environment names."""
    import grpc
    from google.cloud.secretmanager import SecretManagerServiceClient
    from google.cloud.secretmanager_v1.services.secret_manager_service.transports import (
        SecretManagerServiceGrpcTransport,
    )

    opened: list[tuple[str, grpc.Channel]] = []
    insecure_channel = grpc.insecure_channel

    def recorded(target: str) -> grpc.Channel:
        opened.append((target, insecure_channel(target)))
        return opened[-1][1]

    monkeypatch.setattr(grpc, "insecure_channel", recorded)
    client = secrets._default_client({secrets.EMULATOR_HOST_VAR: "localhost:8086"})
    assert isinstance(client, SecretManagerServiceClient)
    transport = client.transport
    assert isinstance(transport, SecretManagerServiceGrpcTransport)
    assert [target for target, _ in opened] == ["localhost:8086"]
    assert transport.grpc_channel is opened[0][1]
    opened[0][1].close()
