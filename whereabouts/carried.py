"""What a case carries into its next run when it continues as new, waiting on the LA.

A referred case can wait on the LA for months (``keep_on_roll``), chased every 10 working days;
each wait adds events, and Temporal slows and then refuses a history that grows without bound.
When Temporal suggests it, the case continues as new (``workflows/case.py``): the next run starts
from this record instead of from the absence, with its whole memory (the chronology first: the
record is evidence, and none of it may be lost), and goes straight back to waiting on the LA.

Every field of ``workflows/state.py``'s ``CaseState`` is here, except what is reloaded (who may
act: the roster, by its activity) and what is only for one run (tasks in flight, caches). Keys
that are tuples or enums in the workflow are lists here, so the record is plain JSON.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from whereabouts.case_schedule import CaseSchedule
from whereabouts.models import (
    CallRecord,
    ChronologyEntry,
    LaDecisionRecord,
    LaUpdate,
    RiskAssessment,
    SafeguardingPlan,
    SchoolEnquiry,
    VisitRecord,
)
from whereabouts.steps import LetterResult, VisitBooking
from whereabouts.vocabulary import Agency, CmeStage, RiskStatus


class Mark(BaseModel):
    day: date
    session: str
    code: str


class CarriedCase(BaseModel):
    """A case's memory between runs; ``run`` counts the runs (1: the first continuation)."""

    model_config = ConfigDict(extra="forbid")

    run: int = Field(ge=1)
    # Where the LA wait had got to: how many chases, and when its 10 working days began.
    la_chases: int = 0
    la_wait_from: datetime

    step: CmeStage
    risk: RiskStatus
    chronology: list[ChronologyEntry]
    schedule: CaseSchedule
    calls: dict[str, CallRecord] = {}
    call_times: dict[str, datetime] = {}
    day1_recorded_at: datetime | None = None
    assessment: RiskAssessment | None = None
    assessments: list[RiskAssessment] = []
    concerns: int = 0
    plan: SafeguardingPlan | None = None
    reported_missing_at: datetime | None = None
    plan_asked: bool = False
    visit_booking: VisitBooking | None = None
    visit: VisitRecord | None = None
    referred_at: datetime | None = None
    la_decisions: list[LaDecisionRecord] = []
    letter_deadline: datetime | None = None
    marks: list[Mark] = []
    feed_marks: list[Mark] = []
    written: list[Mark] = []
    n_rule_at: datetime | None = None
    ten_day_return_at: datetime | None = None
    enquiries: list[SchoolEnquiry] = []
    la_updates: list[LaUpdate] = []
    la_overdue_since: datetime | None = None
    removal: LaDecisionRecord | None = None
    delays: dict[str, str] = {}
    delay_since: dict[str, datetime] = {}
    undelivered: list[str] = []
    not_told: list[Agency] = []
    advice_pending: bool = False
    told: list[str] = []
    letter: LetterResult | None = None
    stopped: str | None = None
    caught_up_at: datetime | None = None
    callback_merged: datetime | None = None
    due: dict[str, datetime] = {}
    dsl_asked_at: datetime | None = None
    holiday_checks: list[date] = []
    used_signatures: list[str] = []
    refused_signals: list[str] = []
    acted_by: str | None = None
    calendar_version: int = 0
