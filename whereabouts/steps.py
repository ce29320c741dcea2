"""Inputs and results of the case workflow's activities: one model per activity.

One model each (as in Temporal's samples) so a field can be added later without breaking the
histories of cases already running.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from whereabouts.models import CaseInput, ChronologyEntry, RiskAssessment, VisitRecord


class CaseRef(BaseModel):
    """Which case and which step: the key of every Message-ID and MIS outbox line."""

    case_id: str
    run_id: str
    step: str

    @property
    def key(self) -> str:
        return f"{self.case_id}/{self.run_id}"


class ScheduleRequest(BaseModel):
    school_urn: str
    first_day_absent: date
    started_at: datetime


class WorkingDaysRequest(BaseModel):
    school_urn: str
    after: datetime
    days: int


class NoticeRequest(BaseModel):
    ref: CaseRef
    kind: str
    case: CaseInput
    due_at: datetime | None = None
    facts: dict[str, str] = Field(default_factory=dict)
    assessment: RiskAssessment | None = None


class NoticeResult(BaseModel):
    sent: int
    message_ids: list[str]


class CallTried(BaseModel):
    at: datetime
    label: str


class LetterRequest(BaseModel):
    ref: CaseRef
    case: CaseInput
    calls: list[CallTried]
    deadline: datetime


class LetterResult(BaseModel):
    emailed: int
    printed: int
    languages: list[str]
    interpreter_needed: list[str] = Field(default_factory=list)
    message_ids: list[str] = Field(default_factory=list)

    def describe(self) -> str:
        langs = " + ".join(self.languages) or "English"
        parts = [f"Day 3 letter ({langs})"]
        if self.emailed:
            parts.append(f"e-mailed to {self.emailed} contact(s)")
        if self.printed:
            parts.append(f"{self.printed} printable copy/copies sent to the office to post")
        if self.interpreter_needed:
            parts.append("interpreter needed: " + ", ".join(self.interpreter_needed))
        return "; ".join(parts)


class VisitBookingRequest(BaseModel):
    ref: CaseRef
    case: CaseInput
    slot: datetime
    latest: datetime
    risk_summary: str


class VisitBooking(BaseModel):
    slot: datetime
    staff: list[str]
    message_ids: list[str]


class ReferralRequest(BaseModel):
    ref: CaseRef
    case: CaseInput
    last_attended: date | None
    assessment: RiskAssessment | None
    visit: VisitRecord | None
    visit_booking: VisitBooking | None
    chronology: list[ChronologyEntry]
    reason: str


class MisRecord(BaseModel):
    ref: CaseRef
    school_urn: str
    upn: str
    kind: str  # "absence_reason" | "case_outcome" | "note"
    value: str
    detail: str | None = None
    at: datetime
