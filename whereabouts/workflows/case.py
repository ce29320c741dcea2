"""One children-missing-education case: the school's procedure, carried out durably.

The workflow decides, the activities do. It walks the school days recorded by the schedule
activity (Day 1 call, the 2-hour call-back, Day 2 call, Day 3 letter, Day 5/6 home visit, the
Day 10 referral point) while staff record what happened through validated updates. Whatever the
stage, a parent making contact or the child being seen closes the case at once, and a
safeguarding judgement of risk escalates at once without stopping the search.

Nothing personal goes into search attributes, current details, summaries or failure messages:
they name the step, never the child.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from whereabouts.activities.mail import PERMANENT_MAIL_ERROR
    from whereabouts.models import (
        CallRecord,
        CaseInput,
        CaseResult,
        CaseStatus,
        ChildSeen,
        ChronologyEntry,
        DeliveryDelay,
        FeedStamp,
        LaDecisionRecord,
        ParentContact,
        RiskAssessment,
        VisitRecord,
        Withdrawal,
    )
    from whereabouts.schooldays import LA_CHASE_WORKING_DAYS, CaseSchedule
    from whereabouts.search import (
        CME_NEXT_ACTION_AT,
        CME_OUTCOME,
        CME_RISK,
        CME_SCHOOL_URN,
        CME_STAGE,
    )
    from whereabouts.steps import (
        CallTried,
        CaseRef,
        LetterRequest,
        LetterResult,
        MisRecord,
        NoticeRequest,
        ReferralRequest,
        ScheduleRequest,
        VisitBooking,
        VisitBookingRequest,
        WorkingDaysRequest,
    )
    from whereabouts.vocabulary import (
        CLOSING_LA_DECISIONS,
        CLOSING_VISIT_OUTCOMES,
        CallOutcome,
        CmeOutcome,
        CmeStage,
        RiskStatus,
    )

SYSTEM = "Whereabouts"
T = TypeVar("T")

# Mail: retry for days (a mail server that is down delays a message, never loses the case).
MAIL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
    non_retryable_error_types=[PERMANENT_MAIL_ERROR],
)
QUICK_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))

CALL_LABELS = {
    "day1": "Day 1 call",
    "day1_callback": "Day 1 call-back",
    "day2": "Day 2 call",
}
# What an operator calls the e-mail an activity sends, for "waiting on the mail server" notes.
MAIL_LABELS = {
    "send_day3_letter": "Day 3 letter",
    "book_home_visit": "home visit invitations",
    "file_referral": "CME referral",
    "send_notice": "e-mail",
}


def _short(dt: datetime | None) -> str:
    """'Tue 3 Jun 09:00 UTC': summaries are read in the Web UI, which shows UTC by default."""
    return dt.strftime("%a %-d %b %H:%M UTC") if dt else "-"


class _Closing:
    def __init__(self, outcome: CmeOutcome, by: str, detail: str | None) -> None:
        self.outcome = outcome
        self.by = by
        self.detail = detail


@workflow.defn(name="CmeCase")
class CmeCaseWorkflow:
    @workflow.init
    def __init__(self, case: CaseInput) -> None:
        self.case = case
        self.stage = CmeStage.DAY1_CALL
        self.risk = RiskStatus.NOT_ASSESSED
        self.chronology: list[ChronologyEntry] = []
        self.schedule: CaseSchedule | None = None
        self.awaiting_call: str | None = None
        self.calls: dict[str, CallRecord] = {}
        self.call_times: dict[str, datetime] = {}
        self.assessment: RiskAssessment | None = None
        self.visit_booking: VisitBooking | None = None
        self.visit: VisitRecord | None = None
        self.referred_at: datetime | None = None
        self.la_decisions: list[LaDecisionRecord] = []
        self.letter_deadline: datetime | None = None
        self.closing: _Closing | None = None
        self.next_action: str | None = None
        self.next_action_at: datetime | None = None
        self.feed_marks: set[tuple[str, str, str]] = {(case.first_day_absent.isoformat(), "", "N")}
        self._side_effects: list[asyncio.Task[Any]] = []
        self._last_upsert: tuple[Any, ...] | None = None
        self._delays: dict[str, str] = {}  # step -> what the operator reads while mail waits
        self._delay_since: dict[str, datetime] = {}

    # ------------------------------------------------------------------------------------
    # The procedure
    # ------------------------------------------------------------------------------------
    @workflow.run
    async def run(self, case: CaseInput) -> CaseResult:
        info = workflow.info()
        self._log("Case opened", SYSTEM, f"first day of unexplained absence {case.first_day_absent}")
        self.schedule = await workflow.execute_activity(
            "schedule_case",
            ScheduleRequest(
                school_urn=case.school_urn,
                first_day_absent=case.first_day_absent,
                started_at=workflow.now(),
            ),
            result_type=CaseSchedule,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=QUICK_RETRY,
            summary="Work out the school-day schedule",
        )
        procedure = asyncio.create_task(self._procedure())
        await workflow.wait_condition(lambda: self.closing is not None or procedure.done())
        cancelled = not procedure.done()
        if cancelled:
            procedure.cancel()
        try:
            await procedure
        except _CaseClosed:
            pass
        except (asyncio.CancelledError, ActivityError):
            # A step cut short by the closing event (e.g. a prompt still sending) is expected.
            if not cancelled:
                raise
        assert self.closing is not None, "the procedure only ends by closing the case"
        await self._close(self.closing)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return CaseResult(
            case_id=info.workflow_id,
            outcome=self.closing.outcome,
            closed_at=workflow.now(),
            chronology=self.chronology,
        )

    async def _procedure(self) -> None:
        s = self._sched
        # Day 1: phone home.
        self._enter(CmeStage.DAY1_CALL, "record the Day 1 call outcome", s.day2_call)
        self.awaiting_call = "day1"
        self.call_times["day1"] = workflow.now()
        await self._notice("day1_call", "Prompt the Day 1 call to the office", due_at=s.day2_call)
        await self._wait(lambda: "day1" in self.calls, s.day2_call, "Day 1 call outcome")
        day1 = self.calls.get("day1")
        if day1 is None:
            self._log("Day 1 call outcome not recorded by the end of the day", SYSTEM)
        elif day1.outcome is CallOutcome.NO_ANSWER:
            await self._callback(day1)
        self.awaiting_call = None
        if workflow.now() < s.day2_call:
            self._enter(self.stage, "Day 2 follow-up call", s.day2_call)
            await self._sleep_until(s.day2_call, f"wait for Day 2 call, {_short(s.day2_call)}")

        # Day 2: the follow-up call, preferably from a mobile.
        self._enter(CmeStage.DAY2_CALL, "record the Day 2 call outcome", s.day3_letter)
        self.awaiting_call = "day2"
        self.call_times["day2"] = workflow.now()
        await self._notice("day2_call", "Prompt the Day 2 call (mobile if possible)", due_at=s.day3_letter)
        await self._wait(lambda: "day2" in self.calls, s.day3_letter, "Day 2 call outcome")
        if "day2" not in self.calls:
            self._log("Day 2 call outcome not recorded by the end of the day", SYSTEM)
        self.awaiting_call = None

        # Day 3: the letter; the parents have 3 working days.
        self.letter_deadline = s.letter_deadline
        self._enter(CmeStage.DAY3_LETTER, "send the Day 3 letter", s.day3_letter)
        await self._sleep_until(s.day3_letter, f"wait for Day 3 letter, {_short(s.day3_letter)}")
        await self._letter()
        self._enter(CmeStage.DAY3_LETTER, "parent to make contact (letter deadline)", s.letter_deadline)
        await self._sleep_until(s.visit_booking, f"wait for Day 5 home visit, {_short(s.visit_booking)}")

        # Day 5/6: the home visit, with a risk assessment in place.
        self._enter(CmeStage.HOME_VISIT, "book the home visit", s.visit_booking)
        if self.assessment is None and self.risk is RiskStatus.NOT_ASSESSED:
            await self._request_risk("a home visit is being booked and no risk assessment is recorded")
        await self._book_visit()
        self._enter(CmeStage.HOME_VISIT, "record the home visit outcome", s.home_visit_latest)
        await self._wait(lambda: self.visit is not None, s.day10_referral, "home visit outcome")

        # Checks done (or Day 10): refer, once the letter's 3 working days have passed.
        if self.visit is not None and workflow.now() < s.letter_deadline:
            self._enter(
                CmeStage.HOME_VISIT, "refer to the LA when the letter deadline passes", s.letter_deadline
            )
            await self._sleep_until(
                s.letter_deadline, f"letter deadline {_short(s.letter_deadline)}, then refer"
            )
        reason = (
            f"checks completed: home visit found {self.visit.outcome.value.replace('_', ' ')}"
            if self.visit is not None
            else "Day 10 reached without the child being seen or contact from the parents"
        )
        await self._refer(reason)
        await self._await_la()

    async def _callback(self, day1: CallRecord) -> None:
        s = self._sched
        back_at = self.call_times.get("day1_recorded", workflow.now()) + s.callback_after
        self._enter(CmeStage.DAY1_CALLBACK, "call back (2 hours after no answer)", back_at)
        await self._sleep_until(back_at, f"2 hours after no answer, {_short(back_at)}")
        self.awaiting_call = "day1_callback"
        self.call_times["day1_callback"] = workflow.now()
        await self._notice("day1_callback", "Prompt the call-back", due_at=s.day2_call)
        if self.assessment is None and self.risk is RiskStatus.NOT_ASSESSED:
            await self._request_risk("no answer on the Day 1 call and 2 hours have passed")
        self._enter(CmeStage.DAY1_CALLBACK, "record the call-back outcome", s.day2_call)
        await self._wait(lambda: "day1_callback" in self.calls, s.day2_call, "call-back outcome")

    async def _letter(self) -> None:
        s = self._sched
        tried = [
            CallTried(at=self.call_times[k], label=CALL_LABELS[k])
            for k in ("day1", "day1_callback", "day2")
            if k in self.call_times
        ]
        languages = self._letter_languages()
        summary = f"Day 3 letter in {languages}"
        try:
            result: LetterResult = await self._mail_step(
                "day3_letter",
                workflow.execute_activity(
                    "send_day3_letter",
                    LetterRequest(
                        ref=self._ref("day3_letter"), case=self.case, calls=tried, deadline=s.letter_deadline
                    ),
                    result_type=LetterResult,
                    start_to_close_timeout=timedelta(minutes=2),
                    heartbeat_timeout=timedelta(minutes=1),
                    retry_policy=MAIL_RETRY,
                    summary=summary,
                ),
            )
        except ActivityError as err:
            if not _permanent_mail_error(err):
                raise
            await self._office_task(
                "Day 3 letter could not be e-mailed",
                "The mail server permanently refused the Day 3 letter. Please check the "
                "contacts' e-mail addresses, then print and post the letter today.",
            )
            self._log(
                "Day 3 letter could not be e-mailed: office asked to post it",
                SYSTEM,
                f"deadline for contact {_short(s.letter_deadline)}",
            )
            return
        self._log(
            result.describe(), SYSTEM, f"parents have 3 working days: deadline {_short(s.letter_deadline)}"
        )

    def _letter_languages(self) -> str:
        langs = sorted(
            {(c.language or "en").lower() for c in self.case.contacts if c.parental_responsibility}
            - {"en", "eng", "en-gb"}
        )
        return " + ".join([*langs, "English"]) if langs else "English"

    async def _book_visit(self) -> None:
        s = self._sched
        self.visit_booking = await self._mail_step(
            "home_visit",
            workflow.execute_activity(
                "book_home_visit",
                VisitBookingRequest(
                    ref=self._ref("home_visit"),
                    case=self.case,
                    slot=s.home_visit,
                    latest=s.home_visit_latest,
                    risk_summary=self._risk_summary(),
                ),
                result_type=VisitBooking,
                start_to_close_timeout=timedelta(minutes=2),
                heartbeat_timeout=timedelta(minutes=1),
                retry_policy=MAIL_RETRY,
                summary=f"Book home visit for {_short(s.home_visit)}, invite the two visiting staff",
            ),
        )
        self._log(
            "Home visit booked",
            SYSTEM,
            f"{_short(self.visit_booking.slot)}; visiting: {', '.join(self.visit_booking.staff)}",
        )

    async def _refer(self, reason: str) -> None:
        self._enter(CmeStage.REFERRED, "file the CME referral", workflow.now())
        self._log("Referred to the local authority as a child missing education", SYSTEM, reason)
        self.referred_at = workflow.now()
        await self._mail_step(
            "referral",
            workflow.execute_activity(
                "file_referral",
                ReferralRequest(
                    ref=self._ref("referral"),
                    case=self.case,
                    last_attended=None,
                    assessment=self.assessment,
                    visit=self.visit,
                    visit_booking=self.visit_booking,
                    chronology=self.chronology,
                    reason=reason,
                ),
                start_to_close_timeout=timedelta(minutes=2),
                heartbeat_timeout=timedelta(minutes=1),
                retry_policy=MAIL_RETRY,
                summary="File the CME referral with the LA, with the chronology",
            ),
        )
        await self._mis("referral", "note", "referred_cme", reason)

    async def _await_la(self) -> None:
        """Wait for the LA; chase every 10 working days; ``keep_on_roll`` starts a fresh wait."""
        chase = 0
        base = self.referred_at or workflow.now()
        while True:
            seen = len(self.la_decisions)
            chase_at: datetime = await workflow.execute_activity(
                "working_days_after",
                WorkingDaysRequest(school_urn=self.case.school_urn, after=base, days=LA_CHASE_WORKING_DAYS),
                result_type=datetime,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=QUICK_RETRY,
                summary=f"{LA_CHASE_WORKING_DAYS} working days after {_short(base)}",
            )
            self._enter(CmeStage.REFERRED, "LA decision due (chase if none)", chase_at)
            if await self._wait(lambda n=seen: len(self.la_decisions) > n, chase_at, "LA decision"):
                base = workflow.now()
                continue
            chase += 1
            await self._notice(
                "la_chase",
                f"Chase the LA for a decision (chase {chase})",
                facts={
                    "referred_on": _short(self.referred_at),
                    "working_days": str(LA_CHASE_WORKING_DAYS * chase),
                },
                step=f"la_chase_{chase}",
            )
            self._log(f"LA chased for a decision (chase {chase})", SYSTEM)
            base = chase_at

    async def _close(self, closing: _Closing) -> None:
        # Let in-flight notices (escalations, advice) finish: they must not be lost.
        if self._side_effects:
            await asyncio.gather(*self._side_effects, return_exceptions=True)
        self.stage = CmeStage.CLOSED
        self.awaiting_call = None
        self.next_action, self.next_action_at = None, None
        self._log(f"Case closed: {closing.outcome.value.replace('_', ' ')}", closing.by, closing.detail)
        await self._mis("outcome", "case_outcome", closing.outcome.value, closing.detail)
        if self.referred_at is not None and closing.outcome not in (
            CmeOutcome.REMOVED_FROM_ROLL,
            CmeOutcome.CHILD_LOCATED,
        ):
            await self._notice(
                "closed_after_referral",
                "Tell the LA the referred case is closed",
                facts={"outcome": closing.outcome.value.replace("_", " "), "detail": closing.detail or ""},
            )
        self._publish()

    # ------------------------------------------------------------------------------------
    # Staff actions: updates with validators (a refusal changes nothing)
    # ------------------------------------------------------------------------------------
    def _refuse_if_closed(self) -> None:
        if self.closing is not None or self.stage is CmeStage.CLOSED:
            raise ValueError("This case is closed; nothing more can be recorded on it.")

    @workflow.update
    async def record_call(self, rec: CallRecord) -> CaseStatus:
        key = self.awaiting_call
        assert key is not None
        self.calls[key] = rec
        if key == "day1":
            self.call_times["day1_recorded"] = workflow.now()
        label = CALL_LABELS[key]
        self._log(
            f"{label}: {rec.outcome.value.replace('_', ' ')}",
            rec.by,
            "; ".join(x for x in (rec.reason, rec.note) if x) or None,
        )
        self.awaiting_call = None
        match rec.outcome:
            case CallOutcome.SAFE_WITH_PARENT:
                await self._mis(f"{key}_reason", "absence_reason", rec.reason or "", rec.note)
                self.closing = _Closing(CmeOutcome.EXPLAINED_ABSENCE, rec.by, rec.reason)
            case CallOutcome.NOT_REASSURED:
                self._background(
                    self._request_risk(
                        f"{label}: the person who answered did not reassure the school the child is safe"
                    )
                )
            case CallOutcome.MISSING_PARENT_CONCERNED:
                self._background(self._missing_child(rec, key))
            case CallOutcome.NO_ANSWER:
                pass
        return self.status()

    @record_call.validator
    def _validate_call(self, rec: CallRecord) -> None:
        self._refuse_if_closed()
        if self.awaiting_call is None:
            done = [CALL_LABELS[k] for k in CALL_LABELS if k in self.calls]
            if (
                self.stage
                in (CmeStage.DAY1_CALL, CmeStage.DAY1_CALLBACK, CmeStage.DAY2_CALL, CmeStage.RISK_ASSESSMENT)
                and done
            ):
                raise ValueError(
                    f"The {done[-1]} outcome is already recorded "
                    f"({self.calls[[k for k in CALL_LABELS if k in self.calls][-1]].outcome.value}); "
                    f"the next step is: {self.next_action or 'wait'}."
                )
            raise ValueError(
                f"No call is waiting for an outcome: the case is at stage {self.stage.value} "
                f"(next: {self.next_action or 'nothing due'})."
            )

    @workflow.update
    async def record_risk(self, rec: RiskAssessment) -> CaseStatus:
        first = self.assessment is None
        self.assessment = rec
        concerns = ", ".join(c.value for c in rec.concerns)
        if rec.at_risk:
            self.risk = RiskStatus.ESCALATED
            self._log(
                "Risk assessment: AT RISK - police and children's social care notified",
                rec.by,
                "; ".join(x for x in (f"concerns: {concerns}", rec.note) if x),
            )
            self._publish()
            self._background(
                self._notice(
                    "safeguarding_escalation",
                    "Urgent: notify police and children's social care",
                    assessment=rec,
                    step="escalation",
                )
            )
        else:
            self.risk = RiskStatus.NOT_AT_RISK
            self._log(
                "Risk assessment: not at risk" if first else "Risk re-assessed: not at risk", rec.by, rec.note
            )
            self._publish()
        return self.status()

    @record_risk.validator
    def _validate_risk(self, rec: RiskAssessment) -> None:
        self._refuse_if_closed()
        if self.risk is RiskStatus.ESCALATED:
            raise ValueError(
                "This case is already escalated to police and social care; a later judgement "
                "cannot undo that. Add what has changed as a note with the LA or police."
            )
        if self.assessment is not None and not rec.at_risk:
            raise ValueError(
                f"A risk assessment is already recorded (not at risk, by {self.assessment.by}); "
                "record a new one only if the child is now at risk."
            )

    @workflow.update
    async def record_visit(self, rec: VisitRecord) -> CaseStatus:
        self.visit = rec
        self._log(
            f"Home visit: {rec.outcome.value.replace('_', ' ')}",
            rec.by,
            "; ".join(x for x in (f"spoke to {rec.spoke_to}" if rec.spoke_to else None, rec.note) if x)
            or None,
        )
        if rec.outcome in CLOSING_VISIT_OUTCOMES:
            self.closing = _Closing(CLOSING_VISIT_OUTCOMES[rec.outcome], rec.by, rec.note)
        return self.status()

    @record_visit.validator
    def _validate_visit(self, rec: VisitRecord) -> None:
        self._refuse_if_closed()
        if self.visit is not None:
            raise ValueError(
                f"The home visit outcome is already recorded ({self.visit.outcome.value}, "
                f"by {self.visit.by})."
            )
        if self.visit_booking is None:
            raise ValueError(
                "No home visit is booked yet: visits are booked on Day 5 "
                f"(case is at stage {self.stage.value})."
            )

    @workflow.update
    async def record_la_decision(self, rec: LaDecisionRecord) -> CaseStatus:
        self.la_decisions.append(rec)
        self._log(f"LA decision: {rec.decision.value.replace('_', ' ')}", rec.by, rec.note)
        if rec.decision in CLOSING_LA_DECISIONS:
            self.closing = _Closing(CLOSING_LA_DECISIONS[rec.decision], rec.by, rec.note)
        return self.status()

    @record_la_decision.validator
    def _validate_la(self, rec: LaDecisionRecord) -> None:
        self._refuse_if_closed()
        if self.referred_at is None:
            raise ValueError(
                "This case has not been referred to the local authority yet "
                f"(stage {self.stage.value}), so there is no LA decision to record."
            )

    @workflow.update
    async def record_contact(self, rec: ParentContact) -> CaseStatus:
        self._on_contact(rec)
        return self.status()

    @record_contact.validator
    def _validate_contact(self, rec: ParentContact) -> None:
        self._refuse_if_closed()

    @workflow.update
    async def record_seen(self, rec: ChildSeen) -> CaseStatus:
        self._on_seen(rec)
        return self.status()

    @record_seen.validator
    def _validate_seen(self, rec: ChildSeen) -> None:
        self._refuse_if_closed()

    @workflow.update
    async def withdraw(self, rec: Withdrawal) -> CaseStatus:
        self.closing = _Closing(CmeOutcome.WITHDRAWN, rec.by, rec.reason)
        return self.status()

    @withdraw.validator
    def _validate_withdraw(self, rec: Withdrawal) -> None:
        self._refuse_if_closed()

    # ------------------------------------------------------------------------------------
    # MIS events: signals, fire-and-forget
    # ------------------------------------------------------------------------------------
    @workflow.signal
    def parent_responded(self, rec: ParentContact) -> None:
        if self.closing is None:
            self._on_contact(rec)

    @workflow.signal
    def child_seen(self, rec: ChildSeen) -> None:
        if self.closing is None:
            self._on_seen(rec)

    @workflow.signal
    def delivery_delayed(self, delay: DeliveryDelay) -> None:
        """A mail step keeps failing and is being retried: say so where the operator looks."""
        label = MAIL_LABELS.get(delay.activity, "e-mail")
        if delay.activity == "send_notice":
            label = f"{label} ({delay.step.replace('_', ' ')})"
        first = delay.step not in self._delays
        since = self._delay_since.setdefault(delay.step, workflow.now())
        self._delays[delay.step] = (
            f"{label} waiting for the mail server since {_short(since)}, try {delay.attempt}: {delay.reason}"
        )
        if first:
            self._log(
                f"{label[0].upper()}{label[1:]} delayed: the mail server is not accepting it",
                SYSTEM,
                f"retrying; last error: {delay.reason}",
            )
        self._publish()

    def _delay_over(self, step: str, sent: bool) -> None:
        """The step's mail activity finished, one way or the other: its delay note goes."""
        if self._delays.pop(step, None) is None:
            return
        since = _short(self._delay_since.pop(step))
        what = step.replace("_", " ")
        if sent:
            self._log(f"Mail for {what} went out after a delay", SYSTEM, f"waiting since {since}")
        else:
            self._log(f"Mail for {what} stopped waiting for the mail server", SYSTEM, f"since {since}")
        self._publish()

    @workflow.signal
    def feed_mark(self, mark: FeedStamp) -> None:
        """A further N mark from the MIS for this open case: noted once, never a second case."""
        key = (mark.attendance_date.isoformat(), mark.session or "", mark.attendance_code)
        first_day = (mark.attendance_date.isoformat(), "", mark.attendance_code)
        if key in self.feed_marks or first_day in self.feed_marks or self.closing is not None:
            return
        self.feed_marks.add(key)
        self._log(
            f"MIS: still absent (code {mark.attendance_code})",
            "MIS feed",
            f"{mark.attendance_date} {mark.session or ''}".strip(),
        )

    def _on_contact(self, rec: ParentContact) -> None:
        self._log("Parent made contact", rec.by, rec.reason or rec.note)
        self.closing = _Closing(CmeOutcome.PARENT_CONTACT, rec.by, rec.reason or rec.note)

    def _on_seen(self, rec: ChildSeen) -> None:
        self._log("Child seen", rec.by, rec.where or rec.note)
        self.closing = _Closing(CmeOutcome.CHILD_SEEN, rec.by, rec.where or rec.note)

    # ------------------------------------------------------------------------------------
    # Queries
    # ------------------------------------------------------------------------------------
    @workflow.query
    def status(self) -> CaseStatus:
        day = 1
        if self.schedule is not None:
            today = workflow.now()
            marks = [self.schedule.day2_call, self.schedule.day3_letter]
            day = 1 + sum(1 for m in marks if today >= m)
            if today >= self.schedule.visit_booking:
                day = 5
            if today >= self.schedule.day10_referral:
                day = 10
        return CaseStatus(
            case_id=workflow.info().workflow_id,
            school_urn=self.case.school_urn,
            stage=self.stage,
            risk=self.risk,
            next_action=self.next_action,
            next_action_at=self.next_action_at,
            outcome=self.closing.outcome if self.closing and self.stage is CmeStage.CLOSED else None,
            opened_at=workflow.info().start_time,
            school_day=day,
            letter_deadline=self.letter_deadline,
            visit_booked_for=self.visit_booking.slot if self.visit_booking else None,
            referred_at=self.referred_at,
            pending=self._pending(),
        )

    @workflow.query
    def chronology_entries(self) -> list[ChronologyEntry]:
        return self.chronology

    def _pending(self) -> list[str]:
        out = []
        if self.awaiting_call:
            out.append(f"{CALL_LABELS[self.awaiting_call]} outcome")
        if self.risk is RiskStatus.REQUESTED:
            out.append("DSL risk assessment")
        if self.visit_booking and self.visit is None and self.stage is CmeStage.HOME_VISIT:
            out.append("home visit outcome")
        if self.stage is CmeStage.REFERRED:
            out.append("LA decision")
        return out + list(self._delays.values())

    # ------------------------------------------------------------------------------------
    # Side effects
    # ------------------------------------------------------------------------------------
    async def _request_risk(self, why: str) -> None:
        if self.risk is not RiskStatus.NOT_ASSESSED:
            return
        self.risk = RiskStatus.REQUESTED
        if self.stage in (CmeStage.DAY1_CALL, CmeStage.DAY1_CALLBACK):
            self.stage = CmeStage.RISK_ASSESSMENT
        self._log("Risk assessment requested from the DSL", SYSTEM, why)
        self._publish()
        await self._notice(
            "risk_assessment_request",
            "Ask the DSL for a risk assessment",
            facts={"why": why},
            step="risk_assessment_request",
        )

    async def _missing_child(self, rec: CallRecord, key: str) -> None:
        await self._notice(
            "parent_advice", "Send the parent the missing-child advice", step=f"{key}_parent_advice"
        )
        self._log(
            "Parent advised: police, people and places the child knows, GP and A&E, report back to school",
            SYSTEM,
        )
        await self._notice(
            "missing_child_alert",
            "Alert the DSL: parent says the child is missing",
            facts={"note": rec.note or ""},
            step=f"{key}_missing_alert",
        )
        if self.risk is RiskStatus.NOT_ASSESSED:
            self.risk = RiskStatus.REQUESTED
            self.stage = (
                CmeStage.RISK_ASSESSMENT
                if self.stage in (CmeStage.DAY1_CALL, CmeStage.DAY1_CALLBACK)
                else self.stage
            )
            self._log("DSL alerted and asked for a risk assessment", SYSTEM)
            self._publish()

    async def _office_task(self, title: str, body: str) -> None:
        self._log(f"Office task: {title}", SYSTEM)
        try:
            await self._notice(
                "office_task",
                f"Office task: {title}",
                facts={"title": title, "body": body},
                step=f"task_{len(self.chronology)}",
            )
        except ActivityError as err:
            if not _permanent_mail_error(err):
                raise

    async def _notice(
        self,
        kind: str,
        summary: str,
        *,
        due_at: datetime | None = None,
        facts: dict[str, str] | None = None,
        assessment: RiskAssessment | None = None,
        step: str | None = None,
    ) -> None:
        await self._mail_step(
            step or kind,
            workflow.execute_activity(
                "send_notice",
                NoticeRequest(
                    ref=self._ref(step or kind),
                    kind=kind,
                    case=self.case,
                    due_at=due_at,
                    facts=facts or {},
                    assessment=assessment,
                ),
                start_to_close_timeout=timedelta(minutes=2),
                heartbeat_timeout=timedelta(minutes=1),
                retry_policy=MAIL_RETRY,
                summary=summary,
            ),
        )

    async def _mail_step(self, step: str, sending: Awaitable[T]) -> T:
        """Await a mail activity; however it ends, its "waiting for the mail server" note goes."""
        try:
            result = await sending
        except BaseException:
            self._delay_over(step, sent=False)
            raise
        self._delay_over(step, sent=True)
        return result

    async def _mis(self, step: str, kind: str, value: str, detail: str | None) -> None:
        await workflow.execute_activity(
            "record_in_mis",
            MisRecord(
                ref=self._ref(step),
                school_urn=self.case.school_urn,
                upn=self.case.pupil.upn,
                kind=kind,
                value=value,
                detail=detail,
                at=workflow.now(),
            ),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=QUICK_RETRY,
            summary=f"Record in the MIS: {kind.replace('_', ' ')}",
        )

    def _background(self, coro) -> None:
        self._side_effects.append(asyncio.create_task(coro))

    # ------------------------------------------------------------------------------------
    # Plumbing
    # ------------------------------------------------------------------------------------
    @property
    def _sched(self) -> CaseSchedule:
        assert self.schedule is not None
        return self.schedule

    def _ref(self, step: str) -> CaseRef:
        info = workflow.info()
        return CaseRef(case_id=info.workflow_id, run_id=info.first_execution_run_id or info.run_id, step=step)

    def _log(self, what: str, by: str, detail: str | None = None) -> None:
        self.chronology.append(ChronologyEntry(at=workflow.now(), by=by, what=what, detail=detail))

    def _enter(self, stage: CmeStage, next_action: str, at: datetime | None) -> None:
        # A pending risk assessment on Day 1 is the stage that matters most to the DSL.
        if stage in (CmeStage.DAY1_CALL, CmeStage.DAY1_CALLBACK) and self.risk is RiskStatus.REQUESTED:
            stage = CmeStage.RISK_ASSESSMENT
        self.stage = stage
        self.next_action, self.next_action_at = next_action, at
        self._publish()

    def _risk_summary(self) -> str:
        a = self.assessment
        if a is None:
            return "requested from the DSL, not yet recorded: check with the DSL before visiting"
        if a.at_risk:
            return "AT RISK: police and social care informed; agree the visit plan with the DSL"
        return f"assessed not at risk by {a.by}"

    def _publish(self) -> None:
        """Search attributes and current details: what the operator sees without opening payloads."""
        outcome = self.closing.outcome.value if self.closing and self.stage is CmeStage.CLOSED else ""
        state = (self.stage.value, self.risk.value, self.next_action_at, outcome)
        if state != self._last_upsert:
            updates = [
                CME_STAGE.value_set(self.stage.value),
                CME_SCHOOL_URN.value_set(self.case.school_urn),
                CME_RISK.value_set(self.risk.value),
                CME_NEXT_ACTION_AT.value_set(self.next_action_at)
                if self.next_action_at
                else CME_NEXT_ACTION_AT.value_unset(),
            ]
            if outcome:
                updates.append(CME_OUTCOME.value_set(outcome))
            workflow.upsert_search_attributes(updates)
            self._last_upsert = state
        lines = [
            f"**Stage:** {self.stage.value}",
            f"**Risk:** {self.risk.value}",
            f"**Next:** {self.next_action or '-'} ({_short(self.next_action_at)})",
        ]
        if self.letter_deadline:
            lines.append(f"**Letter deadline:** {_short(self.letter_deadline)}")
        if outcome:
            lines.append(f"**Outcome:** {outcome}")
        if self._delays:
            lines.append("**Delayed:** " + "; ".join(self._delays.values()))
        workflow.set_current_details("\n\n".join(lines))

    async def _sleep_until(self, at: datetime, summary: str) -> None:
        await self._wait(lambda: False, at, summary, summary_is_whole=True)

    async def _wait(self, done, until: datetime, what: str, summary_is_whole: bool = False) -> bool:
        """Wait for ``done()`` until ``until``; True if it happened in time.

        Every wait also ends when the case closes (raising ``_CaseClosed``), so the procedure
        never carries on past a closing event, whatever order Temporal wakes coroutines in.
        """
        if self.closing is not None:
            raise _CaseClosed
        if done():
            return True
        delay = until - workflow.now()
        if delay <= timedelta(0):
            return False
        summary = what if summary_is_whole else f"{what} due by {_short(until)}"
        try:
            await workflow.wait_condition(
                lambda: self.closing is not None or done(), timeout=delay, timeout_summary=summary
            )
        except TimeoutError:
            pass
        if self.closing is not None:
            raise _CaseClosed
        return done()


class _CaseClosed(Exception):
    """Unwinds the procedure when a closing event arrives while it waits."""


def _permanent_mail_error(err: ActivityError) -> bool:
    cause = err.cause
    return isinstance(cause, ApplicationError) and cause.type == PERMANENT_MAIL_ERROR
