"""Response and message models every service shares: the error body, health, the Pub/Sub push envelope."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field


class StrictIn(BaseModel):
    """Base of every request model: strict types ("30" is no integer) and no unknown fields."""

    model_config = ConfigDict(strict=True, extra="forbid")


class QueryIn(BaseModel):
    """Base of every query string model: strings only, and parameters it does not name are left alone."""

    model_config = ConfigDict(strict=True, extra="ignore")


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    """Every 4xx: what is wrong, in words the caller can act on."""

    error: ErrorBody


class HealthOut(BaseModel):
    status: str
    service: str


class PushMessageIn(BaseModel):
    data: str = Field(description="Base64 of the event's JSON object.")
    messageId: str = Field(min_length=1)  # noqa: N815 - Pub/Sub's own field name
    attributes: dict[str, str] | None = None
    publishTime: str | None = None  # noqa: N815


class PushEnvelopeIn(BaseModel):
    """What Pub/Sub pushes (documentation only: shared.envelope parses it, leniently about extra fields)."""

    message: PushMessageIn
    subscription: str | None = None


class Ack(BaseModel):
    """A push or task handled: 2xx acks; the fields say what was done."""

    model_config = ConfigDict(extra="allow")


PUSH_ANSWERS: Mapping[int, type[BaseModel] | None] = {200: Ack, 204: None}
"""A push route's 2xx (both ack): 200 says what was done, 204 a message not for this worker (shared.envelope)."""
