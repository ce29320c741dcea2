"""One children-missing-education case: the school's procedure, carried out durably.

The workflow decides, the activities do. ``_procedure`` walks the school days recorded by the
schedule activity (Day 1 call, the 2-hour call-back, Day 2 call, Day 3 letter, Day 5/6 home
visit, the Day 10 referral point) and reads like the seed, day by day; staff record what happened
through the validated updates in ``staff.py``. Whatever the stage, a parent making contact or the
child being seen closes the case at once, and a safeguarding judgement of risk (``risk.py``)
escalates at once without stopping the search.

Nothing personal goes into search attributes, current details, summaries or failure messages:
they name the step, never the child.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from whereabouts.models import CallRecord, CaseInput, CaseResult
    from whereabouts.schooldays import LA_CHASE_WORKING_DAYS
    from whereabouts.steps import ScheduleRequest, WorkingDaysRequest
    from whereabouts.times import short
    from whereabouts.vocabulary import CallOutcome, CmeOutcome, CmeStage

from whereabouts.workflows.activity_calls import schedule_case, working_days_after
from whereabouts.workflows.outreach import Outreach
from whereabouts.workflows.state import SYSTEM, CallSlot, CaseClosed, Closing


@workflow.defn(name="CmeCase")
class CmeCaseWorkflow(Outreach):
    @workflow.init
    def __init__(self, case: CaseInput) -> None:
        super().__init__(case)

    # ------------------------------------------------------------------------------------
    # The procedure
    # ------------------------------------------------------------------------------------
    @workflow.run
    async def run(self, case: CaseInput) -> CaseResult:
        info = workflow.info()
        self._log("Case opened", SYSTEM, f"first day of unexplained absence {case.first_day_absent}")
        procedure = asyncio.create_task(self._carried_out())
        # Only a closing event ends a case: a step that fails for good stops the procedure, and
        # the case then waits, on the list and marked for an operator, for a person to act.
        await workflow.wait_condition(lambda: self.closing is not None)
        if not procedure.done():
            procedure.cancel()
        try:
            await procedure
        except (CaseClosed, asyncio.CancelledError, ActivityError):
            pass  # a step cut short by the closing event (e.g. a prompt still sending) is expected
        assert self.closing is not None
        await self._close(self.closing)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return CaseResult(
            case_id=info.workflow_id,
            outcome=self.closing.outcome,
            closed_at=workflow.now(),
            chronology=self.chronology,
        )

    async def _carried_out(self) -> None:
        """The schedule, then the procedure; a step that fails for good is shown, never fatal."""
        try:
            request = ScheduleRequest(
                school_urn=self.case.school_urn,
                first_day_absent=self.case.first_day_absent,
                started_at=workflow.now(),
            )
            self.schedule = await self._tracked("schedule_case", schedule_case(request), mail=False)
            if self.schedule.fallback:
                await self._calendar_fallback(self.schedule.fallback)
            await self._procedure()
        except ActivityError as err:
            if self.closing is not None:
                raise
            self._stop(err)

    async def _procedure(self) -> None:
        s = self._sched
        # Day 1: phone home.
        self._enter(CmeStage.DAY1_CALL, "record the Day 1 call outcome", s.day2_call)
        await self._prompt_call(
            CallSlot.DAY1, "day1_call", "Prompt the Day 1 call to the office", s.day2_call
        )
        await self._wait(lambda: CallSlot.DAY1 in self.calls, s.day2_call, "Day 1 call outcome")
        day1 = self.calls.get(CallSlot.DAY1)
        if day1 is None:
            self._log("Day 1 call outcome not recorded by the end of the day", SYSTEM)
        elif day1.outcome is CallOutcome.NO_ANSWER:
            await self._callback(day1)
        self.awaiting_call = None
        if workflow.now() < s.day2_call:
            self._enter(self.stage, "Day 2 follow-up call", s.day2_call)
            await self._sleep_until(s.day2_call, f"wait for Day 2 call, {short(s.day2_call)}")

        # Day 2: the follow-up call, preferably from a mobile.
        self._enter(CmeStage.DAY2_CALL, "record the Day 2 call outcome", s.day3_letter)
        await self._prompt_call(
            CallSlot.DAY2, "day2_call", "Prompt the Day 2 call (mobile if possible)", s.day3_letter
        )
        await self._wait(lambda: CallSlot.DAY2 in self.calls, s.day3_letter, "Day 2 call outcome")
        if CallSlot.DAY2 not in self.calls:
            self._log("Day 2 call outcome not recorded by the end of the day", SYSTEM)
        self.awaiting_call = None

        # Day 3: the letter; the parents have 3 working days.
        self.letter_deadline = s.letter_deadline
        self._enter(CmeStage.DAY3_LETTER, "send the Day 3 letter", s.day3_letter)
        await self._sleep_until(s.day3_letter, f"wait for Day 3 letter, {short(s.day3_letter)}")
        await self._letter()
        self._enter(CmeStage.DAY3_LETTER, "parent to make contact (letter deadline)", s.letter_deadline)
        await self._sleep_until(s.visit_booking, f"wait for Day 5 home visit, {short(s.visit_booking)}")

        # Day 5/6: the home visit, with a risk assessment in place.
        self._enter(CmeStage.HOME_VISIT, "book the home visit", s.visit_booking)
        await self._ask_dsl("a home visit is being booked and no risk assessment is recorded")
        await self._book_visit()
        self._enter(CmeStage.HOME_VISIT, "record the home visit outcome", s.home_visit_latest)
        await self._wait(lambda: self.visit is not None, s.day10_referral, "home visit outcome")

        # Checks done (or Day 10): refer, once the letter's 3 working days have passed.
        deadline = self.letter_deadline or s.letter_deadline
        if self.visit is not None and workflow.now() < deadline:
            self._enter(CmeStage.HOME_VISIT, "refer to the LA when the letter deadline passes", deadline)
            await self._sleep_until(deadline, f"letter deadline {short(deadline)}, then refer")
        reason = (
            f"checks completed: home visit found {self.visit.outcome.words}"
            if self.visit is not None
            else "Day 10 reached without the child being seen or contact from the parents"
        )
        await self._refer(reason)
        await self._await_la()

    async def _prompt_call(self, slot: CallSlot, kind: str, summary: str, due_at: datetime) -> None:
        """Wait for this call's outcome and prompt the office to make it."""
        self.awaiting_call = slot
        self.call_times[slot] = workflow.now()
        sent = await self._notice(kind, summary, due_at=due_at)
        if self._accepted(sent, "office"):
            self._log(f"{slot.label} prompt e-mailed to the attendance office", SYSTEM)

    async def _calendar_fallback(self, why: str) -> None:
        self._log("School-day schedule counted on weekdays less bank holidays", SYSTEM, why)
        self._publish()
        await self._office_task(
            "this case's school days are counted on weekdays",
            f"Whereabouts could not work out this case's school days from the school's term dates "
            f"({why}), so it counts Monday to Friday less bank holidays. Check the school's term "
            "dates and INSET days in the school directory; until then the dates may be wrong.",
        )

    def _stop(self, err: ActivityError) -> None:
        """A step failed for good: say so where staff and operators look, and wait for a person."""
        step = err.activity_type or "a step"
        why = getattr(err.cause, "message", None) or type(err.cause).__name__
        self.stopped = f"{step} failed: {why}"
        self._log("Procedure stopped: a step failed and will not be retried", SYSTEM, self.stopped)
        self.next_action, self.next_action_at = "an operator to look at the failed step", workflow.now()
        self._publish()

    async def _callback(self, day1: CallRecord) -> None:
        s = self._sched
        back_at = (day1.at or self.day1_recorded_at or workflow.now()) + s.callback_after
        self._enter(CmeStage.DAY1_CALLBACK, "call back (2 hours after no answer)", back_at)
        await self._sleep_until(back_at, f"2 hours after no answer, {short(back_at)}")
        await self._prompt_call(CallSlot.DAY1_CALLBACK, "day1_callback", "Prompt the call-back", s.day2_call)
        await self._ask_dsl("no answer on the Day 1 call and 2 hours have passed")
        self._enter(CmeStage.DAY1_CALLBACK, "record the call-back outcome", s.day2_call)
        await self._wait(lambda: CallSlot.DAY1_CALLBACK in self.calls, s.day2_call, "call-back outcome")

    async def _await_la(self) -> None:
        """Wait for the LA; chase every 10 working days; ``keep_on_roll`` starts a fresh wait."""
        chase = 0
        base = self.referred_at or workflow.now()
        while True:
            seen = len(self.la_decisions)
            request = WorkingDaysRequest(
                school_urn=self.case.school_urn, after=base, days=LA_CHASE_WORKING_DAYS
            )
            chase_at = await self._tracked("working_days_after", working_days_after(request), mail=False)
            self._enter(CmeStage.REFERRED, "LA decision due (chase if none)", chase_at)
            if await self._wait(lambda n=seen: len(self.la_decisions) > n, chase_at, "LA decision"):  # type: ignore[misc]
                base = workflow.now()
                continue
            chase += 1
            sent = await self._notice(
                "la_chase",
                f"Chase the LA for a decision (chase {chase})",
                facts={
                    "referred_on": short(self.referred_at),
                    "working_days": str(LA_CHASE_WORKING_DAYS * chase),
                },
                step=f"la_chase_{chase}",
            )
            if self._accepted(sent, "la_cme"):
                self._log(f"LA chased by e-mail for a decision (chase {chase})", SYSTEM)
            base = chase_at

    async def _close(self, closing: Closing) -> None:
        # Let in-flight notices (escalations, advice) finish: they must not be lost.
        if self._side_effects:
            await asyncio.gather(*self._side_effects, return_exceptions=True)
        self.stage = CmeStage.CLOSED
        self.awaiting_call = None
        self.next_action, self.next_action_at = None, None
        self._log(f"Case closed: {closing.outcome.words}", closing.by, closing.detail)
        await self._mis("outcome", "case_outcome", closing.outcome.value, closing.detail)
        if self.referred_at is not None and closing.outcome not in (
            CmeOutcome.REMOVED_FROM_ROLL,
            CmeOutcome.CHILD_LOCATED,
        ):
            sent = await self._notice(
                "closed_after_referral",
                "Tell the LA the referred case is closed",
                facts={"outcome": closing.outcome.words, "detail": closing.detail or ""},
            )
            if self._accepted(sent, "la_cme"):
                self._log("LA told by e-mail that the case is closed", SYSTEM)
        self._publish()

    # ------------------------------------------------------------------------------------
    # Waiting
    # ------------------------------------------------------------------------------------
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
