"""What a case remembers, and the few moves every room of the workflow makes on it.

The case workflow is split into rooms (the procedure, what staff record, safeguarding, what people
read); they all share one memory, declared here once with its types, so each room can be read on
its own and the type checker sees every field. Nothing here does I/O: the chronology, the stage
and the next action are the case's own state, and ``publish`` hands what operators see to Temporal.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from whereabouts.case_schedule import CaseSchedule
    from whereabouts.identity import Roster
    from whereabouts.models import (
        CallRecord,
        CaseInput,
        CaseStatus,
        ChronologyEntry,
        LaDecisionRecord,
        LaUpdate,
        RiskAssessment,
        SafeguardingPlan,
        SchoolEnquiry,
        VisitRecord,
    )
    from whereabouts.school_time import SchoolTime
    from whereabouts.steps import CaseRef, LetterResult, VisitBooking
    from whereabouts.times import short
    from whereabouts.vocabulary import Agency, CmeOutcome, CmeStage, EnquiryItem, RiskStatus

from whereabouts.workflows import views

SYSTEM = "Whereabouts"


class CallSlot(StrEnum):
    """The calls the procedure waits on. The value is part of each step's Message-ID and MIS line
    ID, so it never changes; the label is what staff and letters read."""

    DAY1 = "day1"
    DAY1_CALLBACK = "day1_callback"
    DAY2 = "day2"
    CATCH_UP = "catch_up"  # a late case's one call, in place of the calls it missed

    @property
    def label(self) -> str:
        return {
            CallSlot.DAY1: "Day 1 call",
            CallSlot.DAY1_CALLBACK: "Day 1 call-back",
            CallSlot.DAY2: "Day 2 call",
            CallSlot.CATCH_UP: "catch-up call",
        }[self]


class Closing:
    """How and by whom the case is being closed: set once, by whatever event closes it.

    ``code``: the register code the reason calls for (staff gave it, or the register has it);
    ``until``: the last school day the explanation covers (the child is off until Wednesday).
    """

    def __init__(
        self,
        outcome: CmeOutcome,
        by: str,
        detail: str | None,
        *,
        code: str | None = None,
        until: date | None = None,
        from_register: bool = False,
    ) -> None:
        self.outcome = outcome
        self.by = by
        self.detail = detail
        self.code = code
        self.until = until
        self.from_register = from_register  # the MIS's own mark closed it: the register has it
        # Set by a staff action (an update) rather than an MIS event (a signal): ``_close`` then
        # writes to the MIS in a task of its own (see ``CLOSE_IN_ONE_TASK``).
        self.in_update = workflow.current_update_info() is not None


class CaseClosed(Exception):
    """Unwinds the procedure when a closing event arrives while it waits."""


class CaseState:
    """The case's memory and its bookkeeping: chronology, stage, next action, what operators see."""

    def __init__(self, case: CaseInput) -> None:
        self.case = case
        self.step = CmeStage.DAY1_CALL  # the procedure's own stage (``stage`` is what people see)
        self.risk = RiskStatus.NOT_ASSESSED
        self.chronology: list[ChronologyEntry] = []
        self.schedule: CaseSchedule | None = None
        self.awaiting_call: CallSlot | None = None
        self.calls: dict[CallSlot, CallRecord] = {}
        self.call_times: dict[CallSlot, datetime] = {}  # when each call's prompt went to the office
        self.day1_recorded_at: datetime | None = None  # when the Day 1 outcome was recorded
        self.assessment: RiskAssessment | None = None  # the latest judgement
        self.assessments: list[RiskAssessment] = []  # every judgement, in order
        self.concerns = 0  # new concerns the DSL has been told of
        self.plan: SafeguardingPlan | None = None  # the DSL's plan once the child is judged at risk
        self.reported_missing_at: datetime | None = None  # a parent said the child is missing
        self.plan_asked = False
        self.visit_booking: VisitBooking | None = None
        self.visit: VisitRecord | None = None
        self.referred_at: datetime | None = None
        self.la_decisions: list[LaDecisionRecord] = []
        self.letter_deadline: datetime | None = None
        self.closing: Closing | None = None
        self.next_action: str | None = None
        self.next_action_at: datetime | None = None
        # The register as the feed has sent it: the latest code for each (date, session); a
        # session "" is a whole-day mark. The first N is the case's own.
        self.marks: dict[tuple[date, str], str] = {(case.first_day_absent, case.first_session or ""): "N"}
        self.feed_marks: set[tuple[date, str, str]] = {(case.first_day_absent, case.first_session or "", "N")}
        self.written: dict[tuple[date, str], str] = {}  # marks written back, with the code asked for
        self.n_rule_at: datetime | None = None  # when the office was told to replace N
        self.ten_day_return_at: datetime | None = None
        self.enquiries: dict[EnquiryItem, SchoolEnquiry] = {}
        self.la_updates: list[LaUpdate] = []
        self.la_overdue_since: datetime | None = None
        self.removal: LaDecisionRecord | None = None
        self.delays: dict[str, str] = {}  # step -> what the operator reads while its mail waits
        self.delay_since: dict[str, datetime] = {}
        self.sending: set[str] = set()  # mail steps on their way to the mail server just now
        self.undelivered: list[str] = []  # messages the mail server refused, as staff read them
        self.not_told: set[Agency] = set()  # agencies an e-mail could not reach, not yet told by phone
        self.advice_pending = False  # the missing-child advice reached no parent, and none is recorded
        self.told: list[str] = []  # who outside the school was told, how and when (for the referral)
        self.letter: LetterResult | None = None
        self.stopped: str | None = None  # a step failed for good: the procedure waits for a person
        self.caught_up_at: datetime | None = None  # a late case's one catch-up prompt went then
        self.callback_merged: datetime | None = None  # a no-answer too late for a call-back today
        self.due: dict[str, datetime] = {}  # what a person owes the case, and by when
        self.dsl_asked_at: datetime | None = None
        self.holiday_checks: set[date] = set()  # holidays (by last school day) the DSL was asked about
        self.roster: Roster | None = None  # who may act on the case (``gate.py``)
        self.used_signatures: list[str] = []
        self.refused_signals: set[str] = set()
        self.acted_by: str | None = None  # the last verified person, for admin.py's answer
        self._times: SchoolTime | None = None
        self.calendar_version = 0  # bumped when more school days are recorded
        self._side_effects: list[asyncio.Task[Any]] = []
        self._standing: list[asyncio.Task[Any]] = []
        self._last_upsert: tuple[Any, ...] | None = None

    @property
    def stage(self) -> CmeStage:
        """The stage people see: a pending risk assessment on Day 1 shows as the DSL's stage."""
        return views.day1_stage(self.step, self.risk)

    @stage.setter
    def stage(self, value: CmeStage) -> None:
        self.step = value

    @property
    def shown_outcome(self) -> CmeOutcome | None:
        """The outcome once the case has finished closing (not while it is closing)."""
        return self.closing.outcome if self.closing and self.stage is CmeStage.CLOSED else None

    @property
    def _sched(self) -> CaseSchedule:
        assert self.schedule is not None, "the schedule is worked out before any step"
        return self.schedule

    @property
    def times(self) -> SchoolTime:
        """School time on this case's recorded school days."""
        if self._times is None:
            self._times = SchoolTime(self._sched.sessions)
        return self._times

    @property
    def _case_id(self) -> str:
        return workflow.info().workflow_id

    def _ref(self, step: str) -> CaseRef:
        info = workflow.info()
        return CaseRef(case_id=info.workflow_id, run_id=info.first_execution_run_id or info.run_id, step=step)

    def _log(self, what: str, by: str, detail: str | None = None) -> None:
        self.chronology.append(ChronologyEntry(at=workflow.now(), by=by, what=what, detail=detail))

    def _enter(self, stage: CmeStage, next_action: str, at: datetime | None) -> None:
        self.step = stage
        self.next_action, self.next_action_at = next_action, at
        self._publish()

    def _status(self) -> CaseStatus:
        info = workflow.info()
        return views.status(self, case_id=info.workflow_id, opened_at=info.start_time, now=workflow.now())

    def _register_view(self) -> dict[str, Any]:
        """The register rules' part of the status (``la_side.py`` fills it in)."""
        return {}

    def _refuse_if_closed(self) -> None:
        """Every staff action's validator starts here: a closed case takes nothing more."""
        if self.closing is not None or self.stage is CmeStage.CLOSED:
            raise ValueError("This case is closed; nothing more can be recorded on it.")

    def _background(self, coro: Coroutine[Any, Any, None], *, standing: bool = False) -> None:
        """Run a side effect (an escalation, advice) alongside the procedure; closing waits for it.

        ``standing``: a watch kept for the whole case (who may act, the holidays), which a run
        that continues as new stops and the next run starts again."""
        task = asyncio.create_task(coro)
        self._side_effects.append(task)
        if standing:
            self._standing.append(task)

    def _quiet(self) -> bool:
        """Nothing in flight but the standing watches: the case may continue as new."""
        return all(t.done() for t in self._side_effects if t not in self._standing)

    def _publish(self) -> None:
        """Search attributes and current details: what the operator sees without opening payloads."""
        key = views.upsert_key(self)
        if key != self._last_upsert:
            workflow.upsert_search_attributes(views.search_attributes(self))
            self._last_upsert = key
        workflow.set_current_details(views.current_details(self, workflow.now()))

    # Waiting: every wait ends when the case closes
    async def _sleep_until(self, at: datetime, summary: str) -> None:
        await self._wait(lambda: False, at, summary, summary_is_whole=True)

    async def _wait(
        self, done: Callable[[], bool], until: datetime, what: str, summary_is_whole: bool = False
    ) -> bool:
        """Wait for ``done()`` until ``until``; True if it happened in time.

        Every wait also ends when the case closes (raising ``CaseClosed``), so the procedure
        never carries on past a closing event, whatever order Temporal wakes coroutines in.
        """
        if self.closing is not None:
            raise CaseClosed
        if done():
            return True
        delay = until - workflow.now()
        if delay <= timedelta(0):
            return False
        summary = what if summary_is_whole else f"{what} due by {short(until)}"
        try:
            await workflow.wait_condition(
                lambda: self.closing is not None or done(), timeout=delay, timeout_summary=summary
            )
        except TimeoutError:
            pass
        if self.closing is not None:
            raise CaseClosed
        return done()

    async def _wait_quietly(self, done: Callable[[], bool], until: datetime, what: str) -> bool:
        """A side task's wait (a reminder, a chase): True if ``done()``; False when ``until`` came
        or the case closed (the caller checks ``closing``), never raising."""
        try:
            return await self._wait(done, until, what)
        except CaseClosed:
            return False
