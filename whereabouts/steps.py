"""Inputs and results of the case workflow's activities: one model per activity.

One model each (as in Temporal's samples) so a field can be added later without breaking the
histories of cases already running.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from whereabouts.models import CaseInput, ChronologyEntry, RiskAssessment, VisitRecord
from whereabouts.school_time import Sessions


class CaseRef(BaseModel):
    """Which case and which step: the key of every Message-ID and MIS outbox line."""

    case_id: str
    run_id: str
    step: str

    @property
    def key(self) -> str:
        return f"{self.case_id}/{self.run_id}"


class Sent(BaseModel):
    """What became of one message: the mail server accepted it, or refused it for good.

    The chronology is written from these, so it says "notified" only of a message the server took,
    and names whom by role; ``address`` lets the office task for a refused message name the
    address to fix (it travels encrypted, in the step's result, never in a failure message).
    """

    role: str
    to_label: str
    address: str
    message_id: str
    accepted: bool
    refused: str | None = None  # the server's reply, e.g. "550 5.1.1 mailbox unavailable"


class ScheduleRequest(BaseModel):
    school_urn: str
    first_day_absent: date
    started_at: datetime
    first_session: str | None = None


class MoreDaysRequest(BaseModel):
    """The school days after the ones a case has recorded."""

    school_urn: str
    after: Sessions
    count: int


class ChaseRequest(BaseModel):
    """When to chase the LA: ``days`` working days (Monday to Friday less bank holidays) after."""

    after: datetime
    days: int


class NoticeRequest(BaseModel):
    ref: CaseRef
    kind: str
    case: CaseInput
    due_at: datetime | None = None
    facts: dict[str, str] = Field(default_factory=dict)
    assessment: RiskAssessment | None = None
    to: list[str] | None = None  # recipient roles instead of the kind's own (a task routed to the DSL)


class CallTried(BaseModel):
    """A call staff recorded as unanswered, at the time they made it: what the letter lists."""

    at: datetime
    label: str


class LetterRequest(BaseModel):
    ref: CaseRef
    case: CaseInput
    calls: list[CallTried]
    deadline: datetime  # the schedule's; the letter names a later one if it goes late
    sessions: Sessions  # the case's school days: the family's 3 working days run from when it goes


class LetterResult(BaseModel):
    emailed: int
    printed: int
    languages: list[str]
    interpreter_needed: list[str] = Field(default_factory=list)
    message_ids: list[str] = Field(default_factory=list)
    sent: list[Sent] = Field(default_factory=list)  # every message: each parent's, the office's
    posted: list[str] = Field(default_factory=list)  # "Sam Testperson (father) (no e-mail address...)"
    deadline: datetime | None = None  # the deadline the letter names
    visit_day: date | None = None  # the day the letter says the home visit will be

    @property
    def language_words(self) -> str:
        return " + ".join(self.languages) or "English"


class VisitBookingRequest(BaseModel):
    ref: CaseRef
    case: CaseInput
    slot: datetime  # the one the letter named; a later one is booked if this one is already past
    latest: datetime
    risk_summary: str
    sessions: Sessions


class VisitBooking(BaseModel):
    slot: datetime
    staff: list[str]
    message_ids: list[str]
    latest: datetime | None = None
    sent: list[Sent] = Field(default_factory=list)


class ContactAttempt(BaseModel):
    """One call staff recorded, as an LA referral form asks for it: when, who, which number, how."""

    label: str  # "Day 1 call"
    at: datetime
    by: str
    number: str | None = None
    outcome: str  # in words: "no answer"
    note: str | None = None


class ReferralRequest(BaseModel):
    ref: CaseRef
    case: CaseInput
    last_attended: date | None
    last_attended_assumed: bool = False  # the MIS did not send it: the school day before Day 1
    assessment: RiskAssessment | None
    visit: VisitRecord | None
    visit_booking: VisitBooking | None
    chronology: list[ChronologyEntry]
    reason: str
    attempts: list[ContactAttempt] = Field(default_factory=list)
    letter: LetterResult | None = None
    told: list[str] = Field(default_factory=list)  # who was told outside the school, how and when


class MisLine(BaseModel):
    """One line of the structured MIS write-back (``schemas/mis-writeback.schema.json``).

    ``mark_change``: a register mark to change (``mark_date``, session, old code, new code, why);
    ``reason``: a reason for an absence recorded without a code to put in the register;
    ``case_outcome`` and ``note``: what became of the case (``value``), for the pupil's record.
    ``step`` makes the line's stable ID with its case and run, so a retried step never writes a
    line twice and a consumer can acknowledge a line by its ID.
    """

    step: str
    kind: Literal["mark_change", "reason", "case_outcome", "note"]
    mark_date: date | None = None  # written as "date"
    session: Literal["AM", "PM"] | None = None  # None: the day's mark(s), both sessions
    old_code: str | None = None
    new_code: str | None = None
    value: str | None = None
    comment: str | None = None


class MisBatch(BaseModel):
    """The lines one step of a case writes back, together: all of them are written, or none."""

    ref: CaseRef
    school_urn: str
    upn: str
    mis_pupil_id: str | None = None  # the MIS's own pupil ID, when the feed sent one
    lines: list[MisLine]
    at: datetime


class RosterRequest(BaseModel):
    school_urn: str
