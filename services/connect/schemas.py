"""The connect service's request and response models: what its routes parse, answer and document."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from shared.bookings.trial import StepStatus, TrialReport
from shared.schemas import QueryIn


class TileOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    status: Literal["not_connected", "connected", "reconnect_required"]
    account_email: str | None
    connected_at: str | None
    configure_url: str | None


class IntegrationsOut(BaseModel):
    zoom: TileOut
    google: TileOut


class AuthorizeOut(BaseModel):
    authorize_url: str


class CallbackQuery(QueryIn):
    """What the provider sends back; any problem (a bad state, no code) ends on the settings page with the
    failure text, so nothing here is refused with a 4xx."""

    state: str = ""
    code: str = ""
    error: str = ""


class ZoomWebhookIn(BaseModel):
    """Zoom's event envelope; events other than the two handled are acknowledged and ignored."""

    model_config = ConfigDict(extra="allow")

    event: str = Field(max_length=200)
    payload: dict[str, Any] = {}


class UrlValidationOut(BaseModel):
    plainToken: str  # noqa: N815 - Zoom's field names
    encryptedToken: str  # noqa: N815


class WebhookAckOut(BaseModel):
    ok: bool
    connections: int | None = None
    ignored: str | None = None


class ZoomWebhookOut(RootModel[UrlValidationOut | WebhookAckOut]):
    pass


class TrialStepOut(BaseModel):
    name: str
    status: StepStatus
    detail: str


class TrialReportOut(BaseModel):
    """`POST /api/integrations/test-booking`: each step of the test booking and how it went."""

    booking_id: str | None
    start: str | None
    ok: bool
    steps: list[TrialStepOut]

    @classmethod
    def of(cls, report: TrialReport) -> TrialReportOut:
        steps = [TrialStepOut(name=s.name, status=s.status, detail=s.detail) for s in report.steps]
        return cls(
            booking_id=report.booking_id,
            start=report.start,
            ok=all(s.status != "failed" for s in steps),
            steps=steps,
        )
