"""Pydantic models at every boundary: the case input, staff actions, the chronology, the status.

The same classes travel from starter.py and admin.py through Temporal (pydantic data converter)
into the workflow and its activities, so a field added here is validated everywhere at once.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, EmailStr, Field, model_validator

from whereabouts.vocabulary import (
    Agency,
    CallOutcome,
    CmeOutcome,
    CmeStage,
    ContactRestriction,
    LaDecision,
    LetterPlan,
    PupilFlag,
    RiskConcern,
    RiskStatus,
    VisitOutcome,
    VisitPlan,
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# --------------------------------------------------------------------------------------------
# The case
# --------------------------------------------------------------------------------------------
class Address(_Model):
    line1: str = Field(min_length=1, max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    town: str = Field(min_length=1, max_length=100)
    postcode: str = Field(min_length=2, max_length=10)

    def lines(self) -> list[str]:
        return [x for x in (self.line1, self.line2, self.town, self.postcode) if x]


class Contact(_Model):
    name: str = Field(min_length=1, max_length=200)
    relationship: str = Field(default="parent", max_length=60)
    phones: list[str] = Field(default_factory=list)
    email: EmailStr | None = None
    language: str | None = Field(default=None, description="ISO 639-1 or DfE census language code")
    parental_responsibility: bool = True
    restriction: ContactRestriction | None = Field(
        default=None, description="must not be contacted: no letters, advice or copies"
    )
    address: Address | None = Field(
        default=None, description="where this contact lives, if not with the pupil"
    )

    @property
    def may_be_contacted(self) -> bool:
        return self.restriction is None


class Pupil(_Model):
    upn: str = Field(min_length=13, max_length=13)
    forename: str = Field(min_length=1, max_length=100)
    surname: str = Field(min_length=1, max_length=100)
    date_of_birth: date
    year_group: str = Field(min_length=1, max_length=10)
    address: Address
    flags: list[PupilFlag] = Field(default_factory=list)

    @property
    def full_name(self) -> str:
        return f"{self.forename} {self.surname}"


class CaseInput(_Model):
    """Everything the school knows when a case starts; one per episode of unexplained absence."""

    school_urn: str = Field(pattern=r"^\d{6}$")
    pupil: Pupil
    contacts: list[Contact] = Field(min_length=1)
    first_day_absent: date
    first_session: str | None = Field(
        default=None, pattern="^(AM|PM)$", description="the session of the first N mark (blank: the day)"
    )
    last_attended: date | None = Field(
        default=None, description="the pupil's last day in school, as the MIS knows it"
    )
    social_worker_email: EmailStr | None = Field(
        default=None, description="the child's social worker (a CP plan, known to social care, looked after)"
    )

    @property
    def case_id(self) -> str:
        return case_id(self.school_urn, self.pupil.upn)


def case_id(school_urn: str, upn: str) -> str:
    """Workflow ID: URN and UPN (pseudonymous references schools and LAs already exchange)."""
    return f"cme-{school_urn}-{upn.upper()}"


# --------------------------------------------------------------------------------------------
# Staff actions (updates) and MIS events (signals)
# --------------------------------------------------------------------------------------------
class _Action(_Model):
    by: str = Field(default="unknown", min_length=1, max_length=100)
    note: str | None = Field(default=None, max_length=2000)


class CallRecord(_Action):
    outcome: CallOutcome
    reason: str | None = Field(default=None, max_length=500)
    at: datetime | None = Field(default=None, description="when the call was made (default: when recorded)")
    number: str | None = Field(default=None, max_length=40, description="the number that was rung")

    @model_validator(mode="after")
    def _reason_when_safe(self) -> CallRecord:
        if self.outcome is CallOutcome.SAFE_WITH_PARENT and not self.reason:
            raise ValueError(
                "safe_with_parent needs the reason for the absence (--reason), "
                "so it can be recorded in the MIS"
            )
        return self


class RiskAssessment(_Action):
    at_risk: bool
    concerns: list[RiskConcern] = Field(default_factory=list)

    @model_validator(mode="after")
    def _concern_when_at_risk(self) -> RiskAssessment:
        if self.at_risk and not self.concerns:
            raise ValueError("an at-risk judgement needs at least one concern (--concern)")
        return self


class VisitRecord(_Action):
    outcome: VisitOutcome
    spoke_to: str | None = Field(default=None, max_length=200)
    concern: bool = Field(default=False, description="the visitors came away worried (the DSL is told)")


class SafeguardingPlan(_Action):
    """The DSL's plan once a child is judged at risk: what happens to the letter and the visit."""

    letter: LetterPlan
    visit: VisitPlan
    note: str = Field(min_length=3, max_length=2000, description="the plan, in the DSL's words")


class MissingUpdate(_Action):
    """The parent who reported the child missing says the child is still missing."""


class ParentContact(_Action):
    reason: str | None = Field(default=None, max_length=500)


class ChildSeen(_Action):
    where: str | None = Field(default=None, max_length=200)


class AgencyTold(_Action):
    """Staff told an agency by phone (or another way) what an e-mail could not deliver."""

    agency: Agency
    at: datetime | None = Field(default=None, description="when they were told (default: when recorded)")


class AdviceGiven(_Action):
    """Staff gave the parent the missing-child advice themselves, on the phone or in person."""

    at: datetime | None = Field(default=None, description="when it was given (default: when recorded)")


class LaDecisionRecord(_Action):
    decision: LaDecision


class Withdrawal(_Action):
    reason: str = Field(min_length=3, max_length=500)


# --------------------------------------------------------------------------------------------
# What the workflow shows
# --------------------------------------------------------------------------------------------
class ChronologyEntry(_Model):
    at: datetime
    by: str
    what: str
    detail: str | None = None


class CaseStatus(_Model):
    case_id: str
    school_urn: str
    stage: CmeStage
    risk: RiskStatus
    next_action: str | None = None
    next_action_at: datetime | None = None
    outcome: CmeOutcome | None = None
    opened_at: datetime
    school_day: int = 1
    letter_deadline: datetime | None = None
    visit_booked_for: datetime | None = None
    referred_at: datetime | None = None
    pending: list[str] = Field(default_factory=list)
    attention: list[str] = Field(default_factory=list)  # what went wrong that a person should know


class CaseResult(_Model):
    case_id: str
    outcome: CmeOutcome
    closed_at: datetime
    chronology: list[ChronologyEntry]


class FeedStamp(_Model):
    """A feed row for a case already open: kept in the chronology, never a second case."""

    attendance_date: date
    session: str | None = None
    attendance_code: str


class DeliveryDelay(_Model):
    """The mail server keeps refusing a step's e-mail: sent by the sending activity itself.

    A retrying activity is invisible in a case's own status, so the operator reading ``admin.py
    show`` or the Web UI would see a case that looks on time while its letter sits unsent.
    ``reason`` is the retry's own message, which names no person.
    """

    step: str
    activity: str
    attempt: int
    reason: str
