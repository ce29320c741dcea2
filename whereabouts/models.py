"""Pydantic models at every boundary: the case input, staff actions, the chronology, the status.

The same classes travel from starter.py and admin.py through Temporal (pydantic data converter)
into the workflow and its activities, so a field added here is validated everywhere at once.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field, ValidationInfo, field_validator, model_validator

from whereabouts.identity import Signature
from whereabouts.register_codes import EXPLAINED_CODES, is_explanation_code
from whereabouts.text_clean import clean_tree
from whereabouts.vocabulary import (
    Agency,
    CallOutcome,
    CmeOutcome,
    CmeStage,
    ContactRestriction,
    EnquiryItem,
    LaDecision,
    LaUpdateKind,
    LetterPlan,
    PupilFlag,
    RiskConcern,
    RiskStatus,
    VisitOutcome,
    VisitPlan,
)

# Fields that are notes (line breaks kept); every other string is one line (``text_clean``).
MULTILINE_FIELDS = frozenset({"note", "detail"})


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, value: Any, info: ValidationInfo) -> Any:
        """No terminal escapes, NUL, stray line breaks or bidi overrides reach a screen, an
        e-mail or a letter: see ``whereabouts.text_clean``."""
        return clean_tree(value, multiline=info.field_name in MULTILINE_FIELDS)


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
    mis_pupil_id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]{1,40}$",
        description="the MIS's own pupil ID, for the write-back (the feed's mis_pupil_id)",
    )

    previous: PreviousEpisode | None = Field(
        default=None, description="the pupil's last episode, as the feed found it (its memo)"
    )
    # Set only by the case itself when it continues as new, waiting on the LA: a
    # ``whereabouts.carried.CarriedCase`` as JSON (that model refers to this one and to the
    # steps'), which the run takes out and reads before anything else sees the case.
    carried: dict[str, Any] | None = None


class PreviousEpisode(_Model):
    """The pupil's last case, as its memo records it: read by the next case for the same pupil.

    ``covered_until``: the parent's explanation covers the absence until then (the child is off
    until Wednesday), so an N mark up to it asks the office to correct the register, not a chase.
    ``linked_days``: school days of unexplained absence across the recent episodes linked to
    this one, counted toward the LA's thresholds.
    """

    first_day: date
    closed_on: date
    outcome: str
    school_days: int = 0
    linked_days: int = 0
    episodes: int = 1
    covered_until: date | None = None
    covered_code: str | None = None


# --------------------------------------------------------------------------------------------
# Staff actions (updates) and MIS events (signals)
# --------------------------------------------------------------------------------------------
class _Action(_Model):
    """A staff action: ``by`` is replaced by the verified signer (``workflows/gate.py``)."""

    by: str = Field(default="unknown", min_length=1, max_length=100)
    note: str | None = Field(default=None, max_length=2000)
    signed: Signature | None = None  # set by the client's signer (``whereabouts.signing``)


class CallRecord(_Action):
    outcome: CallOutcome
    reason: str | None = Field(default=None, max_length=500)
    at: datetime | None = Field(default=None, description="when the call was made (default: when recorded)")
    number: str | None = Field(default=None, max_length=40, description="the number that was rung")
    code: str | None = Field(default=None, description="the register code the reason calls for (I, M, ...)")
    until: date | None = Field(default=None, description="the last school day the child will be off")

    @model_validator(mode="after")
    def _reason_when_safe(self) -> CallRecord:
        if self.outcome is CallOutcome.SAFE_WITH_PARENT and not self.reason:
            raise ValueError(
                "safe_with_parent needs the reason for the absence (--reason), "
                "so it can be recorded in the MIS"
            )
        if (self.code or self.until) and self.outcome is not CallOutcome.SAFE_WITH_PARENT:
            raise ValueError("--code and --until go with safe_with_parent: the reason for the absence")
        return self

    @field_validator("code")
    @classmethod
    def _code(cls, value: str | None) -> str | None:
        return explanation_code(value)


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
    code: str | None = Field(default=None, description="the register code the reason calls for (I, M, ...)")
    until: date | None = Field(default=None, description="the last school day the child will be off")

    @field_validator("code")
    @classmethod
    def _code(cls, value: str | None) -> str | None:
        return explanation_code(value)


def explanation_code(value: str | None) -> str | None:
    """A reason's register code must be one that explains an absence (2024 Regulations, reg 10)."""
    if value is None:
        return None
    code = value.strip().upper()
    if not is_explanation_code(code):
        raise ValueError(
            f"{value!r} is not a code that explains an absence; use one of "
            f"{', '.join(sorted(EXPLAINED_CODES))} (or leave it out and give the reason)"
        )
    return code


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
    new_address: str | None = Field(default=None, max_length=300, description="a new address, if known")
    new_school: str | None = Field(default=None, max_length=200, description="a new school, if known")


class SchoolEnquiry(_Action):
    """One of the school's reasonable enquiries before a deletion, ticked by staff."""

    item: EnquiryItem

    @model_validator(mode="after")
    def _note_for_others(self) -> SchoolEnquiry:
        if self.item in (EnquiryItem.SIBLINGS_SCHOOLS, EnquiryItem.OTHER_AGENCIES) and not self.note:
            raise ValueError(f"say whom you asked and what they said (--note) for {self.item.value}")
        return self


class LaUpdate(_Action):
    """The LA tracking officer's enquiries, or feedback to the school, on a referred case."""

    kind: LaUpdateKind
    note: str = Field(min_length=3, max_length=2000)
    complete: bool = Field(
        default=False, description="the LA's enquiries are complete and the child has not been found"
    )


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
    acted_by: str | None = Field(default=None, description="who the last verified action came from")
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
    register_days: int = Field(
        default=0, description="continuous school days coded G, N or O, from the marks"
    )
    ten_day_return_at: datetime | None = None
    enquiries: list[str] = Field(default_factory=list, description="the school's enquiries ticked")
    deletion_needs: list[str] = Field(
        default_factory=list, description="what regulation 9(1)(i) still needs, once the case is referred"
    )


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
    signed: Signature | None = None


class DeliveryDelay(_Model):
    """The mail server keeps refusing a step's e-mail: sent by the sending activity itself.

    A retrying activity is invisible in a case's own status, so the operator reading ``admin.py
    show`` or the Web UI would see a case that looks on time while its letter sits unsent.
    ``reason`` is the retry's own message, which names no person.
    """

    step: str = Field(max_length=100)
    activity: str = Field(max_length=100)
    attempt: int = Field(ge=1)
    reason: str = Field(max_length=300)
    signed: Signature | None = None
