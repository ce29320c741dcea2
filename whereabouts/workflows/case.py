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
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from whereabouts.carried import CarriedCase
    from whereabouts.case_schedule import CALENDAR_AHEAD, LA_CHASE_WORKING_DAYS
    from whereabouts.models import CaseInput, CaseResult
    from whereabouts.shared_values import shared_sessions
    from whereabouts.steps import ChaseRequest, MisLine, MoreDaysRequest, ScheduleRequest
    from whereabouts.times import short
    from whereabouts.vocabulary import CmeOutcome, CmeStage, LetterPlan, VisitPlan

from whereabouts.workflows.activity_calls import la_chase_after, more_school_days, schedule_case
from whereabouts.workflows.carry import restore, snapshot
from whereabouts.workflows.state import SYSTEM, CallSlot, CaseClosed, Closing
from whereabouts.workflows.timing import Timing

CALENDAR_MARGIN = timedelta(days=30)  # refresh the school days when fewer than this are left
# Patch IDs (README "Releases"): one per changed point of running logic.
MAIL_ARRIVES_BEFORE_CLOSE = "mail-arrives-before-close"
CLOSE_IN_ONE_MIS_BATCH = "close-in-one-mis-batch"
CLOSE_IN_ONE_TASK = "close-in-one-task"
FIRST_STEPS_IN_ONE_TASK = "first-steps-in-one-task"
FIRST_STEPS_AS_ACTIVITIES = "first-steps-as-activities"


# AUTO_UPGRADE (the versioned worker's default behaviour, whereabouts/versioning.py): a case moves
# to each new release at its next task, so a change to logic a running case has passed goes
# behind workflow.patched. (Not on the decorator: a server refuses a behaviour from a worker
# that is not versioned, and the tests' in-process workers are not.)
@workflow.defn(name="CmeCase")
class CmeCaseWorkflow(Timing):
    @workflow.init
    def __init__(self, case: CaseInput) -> None:
        super().__init__(case.model_copy(update={"carried": None}) if case.carried else case)
        # Set: this run continues a case that was waiting on the LA (``carry.py``).
        self._carried = CarriedCase.model_validate(case.carried) if case.carried else None
        self._continue_with: CarriedCase | None = None  # set: continue as new with this

    # ------------------------------------------------------------------------------------
    # The procedure
    # ------------------------------------------------------------------------------------
    @workflow.run
    async def run(self, case: CaseInput) -> CaseResult:
        info = workflow.info()
        carried = self._carried
        if carried is None:
            self._log("Case opened", SYSTEM, f"first day of unexplained absence {case.first_day_absent}")
        else:
            restore(self, carried)
        procedure = asyncio.create_task(self._carried_out())
        # Only a closing event ends a case: a step that fails for good stops the procedure, and
        # the case then waits, on the list and marked for an operator, for a person to act.
        await workflow.wait_condition(lambda: self.closing is not None or self._continue_with is not None)
        if self.closing is None and self._continue_with is not None:
            await self._continue_as_new(self._continue_with)
        if not procedure.done():
            await self._let_mail_arrive()
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
        """Who may act, the schedule, then the procedure; a step that fails for good is shown,
        never fatal."""
        try:
            # Who may act and the school days: reads of the directory. Cases begun under
            # first-steps-in-one-task ran them as local activities within their first task (two
            # tasks fewer to the Day 1 prompt, bench.day1 11.3 -> 13.7 cases a second), but the
            # worker then held about 21 kB more for each, for as long as the case stayed cached
            # (outside Python's objects, which were the same: the SDK's native core; bench.carry
            # 194 -> 241 kB per waiting case, 3.4 times the trivial workflow against a target of
            # 3). Memory bounds how many cases a worker carries; Day 1 is a burst another worker
            # absorbs. So new cases read them as activities again.
            local = not workflow.patched(FIRST_STEPS_AS_ACTIVITIES) and workflow.patched(
                FIRST_STEPS_IN_ONE_TASK
            )
            await self._load_roster(local=local)  # every update and signal is checked against it (gate.py)
            self._background(self._keep_roster_fresh(), standing=True)
            if self._carried is not None:  # a continued run: straight back to waiting on the LA
                self._background(self._holiday_checks(), standing=True)
                self._background(self._n_code_rule(), standing=True)
                await self._await_la(self._carried.la_chases, self._carried.la_wait_from)
                return
            request = ScheduleRequest(
                school_urn=self.case.school_urn,
                first_day_absent=self.case.first_day_absent,
                started_at=workflow.now(),
                first_session=self.case.first_session,
            )
            self.schedule = await self._tracked(
                "schedule_case", schedule_case(request, local=local), mail=False
            )
            if self._covered():  # the parent's explanation covers this N: correct it, no chase
                await self._register_correction()
                return
            if self.schedule.fallback:
                await self._calendar_fallback(self.schedule.fallback)
            self._background(self._holiday_checks(), standing=True)
            self._background(self._flags_on_day1())
            self._background(self._previous_episode())
            self._background(self._n_code_rule(), standing=True)
            self._background(self._ten_day_return())
            await self._procedure()
        except ActivityError as err:
            if self.closing is not None:
                raise
            self._stop(err)

    async def _procedure(self) -> None:
        s = self._sched
        # Day 1: phone home as soon as the case opens (office prompts keep school hours).
        await self._call(CallSlot.DAY1, s.counts_from, s.day2_call)

        # Day 2: the follow-up call, preferably from a mobile.
        await self._call(CallSlot.DAY2, s.day2_call, s.day3_letter)

        # Day 3: the letter; the family has 3 working days to make contact (Days 3 to 5). A child
        # judged at risk, or reported missing: the DSL's plan says whether it goes.
        self._enter(CmeStage.DAY3_LETTER, "send the Day 3 letter", s.day3_letter)
        at = self.times.next_open(s.day3_letter)
        await self._sleep_until(at, f"wait for Day 3 letter, {short(at)}")
        plan = await self._await_plan("Day 3 letter", s.visit_booking)
        if not self.steered or (plan is not None and plan.letter is LetterPlan.SEND):
            await self._letter()
        else:
            self._log("Day 3 letter not sent: held for the DSL", SYSTEM, plan.note if plan else "no plan yet")

        # Day 5/6: the home visit, the school day after the letter's deadline, booked on the
        # deadline's own morning, with a risk assessment in place (or as the DSL's plan says).
        deadline = self.letter_deadline or s.letter_deadline
        booking = max(s.visit_booking, self.times.opening_of_day(deadline))
        refer_at = max(s.day10_referral, deadline)
        self._enter(CmeStage.DAY3_LETTER, "parent to make contact (letter deadline)", deadline)
        await self._sleep_until(booking, f"book the home visit, {short(booking)}")
        self._enter(CmeStage.HOME_VISIT, "book the home visit", booking)
        plan = await self._await_plan("home visit", refer_at)
        if self.steered and (plan is None or plan.visit is VisitPlan.NONE):
            self._log(
                "No home visit by the school: held for the DSL", SYSTEM, plan.note if plan else "no plan"
            )
        elif plan is not None and plan.visit is VisitPlan.JOINT:
            await self._joint_visit(plan)
        else:
            await self._ask_dsl("a home visit is being booked and no risk assessment is recorded")
            await self._book_visit()
        latest = self.visit_booking.latest if self.visit_booking else None
        if self.visit_booking is not None:
            self._enter(CmeStage.HOME_VISIT, "record the home visit outcome", latest or refer_at)
        if latest:
            self._background(self._remind_visit(latest))
        await self._wait(lambda: self.visit is not None, refer_at, "home visit outcome")

        # Checks done (or Day 10): refer, never before the family's deadline has passed.
        if workflow.now() < deadline:
            self._enter(CmeStage.HOME_VISIT, "refer to the LA when the letter deadline passes", deadline)
            await self._sleep_until(deadline, f"letter deadline {short(deadline)}, then refer")
        reason = (
            f"checks completed: home visit found {self.visit.outcome.words}"
            if self.visit is not None
            else "Day 10 reached without the child being seen or contact from the parents"
        )
        await self._refer(reason)
        await self._await_la(0, self.referred_at or workflow.now())

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

    async def _await_la(self, chase: int, base: datetime) -> None:
        """Wait for the LA; chase every 10 working days; ``keep_on_roll`` starts a fresh wait.

        A wait of months grows the history: when Temporal suggests it, and nothing else is in
        flight (an escalation, a reminder), the case continues as new with its whole memory
        (``carry.py``) and this wait resumes where it was.
        """
        while True:
            if workflow.info().is_continue_as_new_suggested() and self._quiet():
                run = self._carried.run + 1 if self._carried is not None else 1
                self._continue_with = snapshot(self, run=run, la_chases=chase, la_wait_from=base)
                return
            await self._keep_calendar_ahead()
            seen = self._la_records
            request = ChaseRequest(after=base, days=LA_CHASE_WORKING_DAYS)
            chase_at = await self._tracked("la_chase_after", la_chase_after(request), mail=False)
            self._enter(CmeStage.REFERRED, "LA decision due (chase if none)", chase_at)
            if await self._wait(lambda n=seen: self._la_records > n, chase_at, "LA decision"):  # type: ignore[misc]
                base = workflow.now()  # the LA has been in touch: its next 10 working days start now
                continue
            chase += 1
            self.la_overdue_since = self.la_overdue_since or chase_at
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

    @property
    def _la_records(self) -> int:
        """What the LA has recorded on the case: each one restarts the wait for its decision."""
        return len(self.la_decisions) + len(self.la_updates)

    async def _keep_calendar_ahead(self) -> None:
        """A case waiting months on the LA records the school's next days before it runs out of
        them, so school hours and holidays stay the school's own."""
        s = self._sched
        if s.sessions.opens[-1] - workflow.now() > CALENDAR_MARGIN:
            return
        request = MoreDaysRequest(school_urn=self.case.school_urn, after=s.sessions, count=CALENDAR_AHEAD)
        more = await self._tracked("more_school_days", more_school_days(request), mail=False)
        s.sessions = shared_sessions(
            s.sessions.model_copy(
                update={
                    "dates": s.sessions.dates + more.dates,
                    "opens": s.sessions.opens + more.opens,
                    "closes": s.sessions.closes + more.closes,
                }
            )
        )
        self._times = None
        self.calendar_version += 1

    async def _continue_as_new(self, carried: CarriedCase) -> None:
        """Hand the case to its next run once every update has been answered; the standing
        watches stop here and start again there (nothing else is in flight: ``_quiet``)."""
        await workflow.wait_condition(workflow.all_handlers_finished)
        if self.closing is not None:  # an update in hand closed the case: close it here instead
            return
        for task in self._standing:
            task.cancel()
        workflow.logger.info(
            "continuing as new (run %d) after %d events",
            carried.run,
            workflow.info().get_current_history_length(),
        )
        workflow.continue_as_new(self.case.model_copy(update={"carried": carried.model_dump(mode="json")}))

    async def _let_mail_arrive(self) -> None:
        """A message already on its way when the case closes (a referral the LA decided on while
        it was still going, a letter being sent as the parent rang) is let arrive, so the record
        says it was sent; one waiting for a mail server that is not taking it is stopped."""
        on_its_way = set(self.sending)
        if on_its_way and workflow.patched(MAIL_ARRIVES_BEFORE_CLOSE):
            await workflow.wait_condition(
                lambda: all(step not in self.sending or step in self.delays for step in on_its_way)
            )

    async def _close(self, closing: Closing) -> None:
        # Let in-flight notices (escalations, advice) finish: they must not be lost.
        if self._side_effects:
            await asyncio.gather(*self._side_effects, return_exceptions=True)
        self.stage = CmeStage.CLOSED
        self.awaiting_call = None
        self.next_action, self.next_action_at = None, None
        self._log(f"Case closed: {closing.outcome.words}", closing.by, closing.detail)
        one_task = workflow.patched(CLOSE_IN_ONE_TASK)
        if one_task or workflow.patched(CLOSE_IN_ONE_MIS_BATCH):
            # The outcome and the register lines it implies in one write: the MIS never has the
            # outcome without its marks. Closed by an MIS event (a signal: the morning feed's
            # bursts of parents ringing in), it is written by the worker within this workflow
            # task, so the case closes in one task with no activity task for the server to hand
            # out (bench.finish: a third of the server's work per close). Closed by a staff
            # action (an update), it stays an activity: the update is answered in this task, and
            # an activity finishing while a longer task ran would fail that task and the update.
            outcome = MisLine(
                step="outcome", kind="case_outcome", value=closing.outcome.value, comment=closing.detail
            )
            local = one_task and not closing.in_update
            await self._mis("outcome", [outcome, *self._register_close_lines(closing)], local=local)
        else:
            await self._mis_note("outcome", "case_outcome", closing.outcome.value, closing.detail)
            await self._register_on_close(closing)
        if closing.outcome is CmeOutcome.REMOVED_FROM_ROLL:
            await self._removed_from_roll()
        self._episode_memo(closing, one_field=one_task)
        await self._tell_agencies_closed(closing)
        booked = self.visit_booking
        if booked is not None and self.visit is None and booked.slot > workflow.now():
            # The visitors must not knock on a door for a case already closed.
            sent = await self._notice(
                "visit_cancelled",
                "Tell the visitors the home visit is off",
                facts={"slot": short(booked.slot), "outcome": closing.outcome.words},
            )
            if self._accepted(sent, "visitor"):
                self._log("Visiting staff told the home visit is off", SYSTEM, short(booked.slot))
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
