"""The one way services read secrets: env vars locally, Secret Manager in production.

Values are cached in memory and never logged; errors name the secret, never its value.
Secret names are the Secret Manager secret ids declared in infra/terraform/locals.tf
(ZOOM_CLIENT_SECRET, TOKEN_ENCRYPTION_KEYS, ...), which are also the local env var names.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from typing import Protocol

__all__ = [
    "EnvSecretSource",
    "SecretManagerClient",
    "SecretManagerSource",
    "SecretSource",
    "SecretUnavailableError",
    "secret_source_from_env",
]


class SecretUnavailableError(LookupError):
    """A secret could not be read; the message names the secret and never holds a value."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"secret {name} is not available: {reason}")
        self.name = name


class SecretSource(Protocol):
    """Where a service's secrets come from, so callers never know which environment they run in."""

    def get(self, name: str) -> str:
        """Return the secret's value or raise SecretUnavailableError."""
        ...


class EnvSecretSource:
    """Local development: each secret is the environment variable of the same name."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    def get(self, name: str) -> str:
        value = self._environ.get(name)
        if not value:
            raise SecretUnavailableError(name, "environment variable is not set")
        return value


class _Payload(Protocol):
    @property
    def data(self) -> bytes: ...


class _AccessResponse(Protocol):
    @property
    def payload(self) -> _Payload: ...


class SecretManagerClient(Protocol):
    """The part of google.cloud.secretmanager.SecretManagerServiceClient this module uses."""

    def access_secret_version(self, *, name: str) -> _AccessResponse: ...


EMULATOR_HOST_VAR = "SECRET_MANAGER_EMULATOR_HOST"
"""host:port of a local Secret Manager stand-in (plain gRPC, no credentials), as FIRESTORE_EMULATOR_HOST
is for Firestore; only tests set it. Cloud Run never does, so production always talks to Google."""


def _default_client(environ: Mapping[str, str]) -> SecretManagerClient:
    """Build the real client; imported here so merely importing this module needs no credentials."""
    from google.cloud import secretmanager

    emulator = environ.get(EMULATOR_HOST_VAR)
    if not emulator:
        return secretmanager.SecretManagerServiceClient()
    import grpc
    from google.cloud.secretmanager_v1.services.secret_manager_service.transports import (
        SecretManagerServiceGrpcTransport,
    )

    channel = grpc.insecure_channel(emulator)
    return secretmanager.SecretManagerServiceClient(transport=SecretManagerServiceGrpcTransport(channel=channel))


class SecretManagerSource:
    """Production: the latest version of each secret, fetched once per instance and kept in memory.

    The client is built on first use (not at import or construction) so tests and cold paths that
    never read a secret need no Google credentials; tests pass a fake through client_factory.
    """

    def __init__(
        self,
        project_id: str,
        client_factory: Callable[[], SecretManagerClient] | None = None,
    ) -> None:
        if not project_id:
            raise ValueError("project_id is required to read secrets from Secret Manager")
        self._project_id = project_id
        self._client_factory = client_factory or (lambda: _default_client(os.environ))
        self._client: SecretManagerClient | None = None
        self._cache: dict[str, str] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SecretManagerSource(project_id={self._project_id!r})"

    def get(self, name: str) -> str:
        with self._lock:
            cached = self._cache.get(name)
            if cached is not None:
                return cached
            value = self._fetch(name)
            self._cache[name] = value
            return value

    def _fetch(self, name: str) -> str:
        if self._client is None:
            self._client = self._client_factory()
        resource = f"projects/{self._project_id}/secrets/{name}/versions/latest"
        try:
            response = self._client.access_secret_version(name=resource)
        except Exception as exc:
            # API errors describe the request (resource name, permission), never the value.
            raise SecretUnavailableError(name, f"Secret Manager error {type(exc).__name__}") from exc
        try:
            value = response.payload.data.decode("utf-8")
        except UnicodeDecodeError:
            # The decode error quotes the offending bytes, so it must not be chained.
            raise SecretUnavailableError(name, "value is not UTF-8 text") from None
        if not value:
            raise SecretUnavailableError(name, "latest version is empty")
        return value


def secret_source_from_env(environ: Mapping[str, str] | None = None) -> SecretSource:
    """Pick the source from FLO_ENV (contract default: production) and GOOGLE_CLOUD_PROJECT."""
    env = os.environ if environ is None else environ
    if env.get("FLO_ENV", "production") == "local":
        return EnvSecretSource(env)
    project_id = env.get("GOOGLE_CLOUD_PROJECT", "")
    if not project_id:
        raise ValueError("GOOGLE_CLOUD_PROJECT must be set to read secrets from Secret Manager")
    return SecretManagerSource(project_id, lambda: _default_client(env))
