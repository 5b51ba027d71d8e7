"""Structured JSON logs for Cloud Logging, with a redaction guard so no token or secret is ever written."""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

_SECRET_FIELD = re.compile(
    r"(?i)(access_token|refresh_token|id_token|client_secret|password|code_verifier|token)"
    r"(\"?\s*[:=]\s*\"?)([^\"&\s,}]+)"
)
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
_MANAGE_PATH = re.compile(r"(/manage/)[^/\s\"?#]+")
"""A fan's manage link is their key to the booking: its token never reaches a log line, whatever logged the path."""
_REDACTED = "[redacted]"


class _SecretRegistry:
    """Values known to be secret (configured secrets, tokens seen at runtime) are scrubbed wherever they appear."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()

    def add(self, value: str | None) -> None:
        if value and len(value) >= 6:
            with self._lock:
                self._values.add(value)

    def scrub(self, text: str) -> str:
        with self._lock:
            values = sorted(self._values, key=len, reverse=True)
        for value in values:
            if value in text:
                text = text.replace(value, _REDACTED)
        text = _BEARER.sub(lambda m: f"{m.group(1)} {_REDACTED}", text)
        text = _MANAGE_PATH.sub(lambda m: f"{m.group(1)}{_REDACTED}", text)
        return _SECRET_FIELD.sub(lambda m: f"{m.group(1)}{m.group(2)}{_REDACTED}", text)


secrets_registry = _SecretRegistry()


def register_secret(value: str | None) -> None:
    """Mark a value as secret so every later log line has it scrubbed."""
    secrets_registry.add(value)


def redact(text: str) -> str:
    return secrets_registry.scrub(text)


_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line, in the field names Cloud Logging reads (severity, message, trace)."""

    def __init__(self, service: str, project_id: str | None = None) -> None:
        super().__init__()
        self._service = service
        self._project_id = project_id

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": record.levelname,
            "message": record.getMessage(),
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "service": self._service,
            "logger": record.name,
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        trace = entry.pop("trace", None) or _current_trace.get()
        if trace and self._project_id:
            entry["logging.googleapis.com/trace"] = f"projects/{self._project_id}/traces/{trace}"
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(entry, default=str))


def configure_logging(service: str, project_id: str | None = None, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service, project_id))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("urllib3", "httpx", "httpcore", "googleapiclient", "google"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


_TRACE_ID = re.compile(r"[0-9a-f]{32}")
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")

_current_trace: ContextVar[str | None] = ContextVar("flo_trace_id", default=None)


def trace_id(headers: Mapping[str, str] | Any) -> str | None:
    """The request's Cloud Trace id: from X-Cloud-Trace-Context ("TRACE/SPAN;o=1", what Cloud Run's front
    end sends) or else W3C traceparent ("00-TRACE-SPAN-01"); anything malformed is ignored."""
    cloud = (headers.get("X-Cloud-Trace-Context") or "").split("/", 1)[0].strip().lower()
    if _TRACE_ID.fullmatch(cloud) and cloud != "0" * 32:
        return cloud
    parent = _TRACEPARENT.fullmatch((headers.get("traceparent") or "").strip().lower())
    if parent and parent.group(1) != "0" * 32:
        return parent.group(1)
    return None


@contextmanager
def request_trace(headers: Mapping[str, str] | Any) -> Iterator[None]:
    """Every line logged while handling the request carries its trace id, so Cloud Logging groups them."""
    token = _current_trace.set(trace_id(headers))
    try:
        yield
    finally:
        _current_trace.reset(token)
