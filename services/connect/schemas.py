"""The connect service's response shapes that are not the contract's tiles: one place for them."""

from __future__ import annotations

from pydantic import BaseModel

from shared.bookings.trial import StepStatus, TrialReport


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
