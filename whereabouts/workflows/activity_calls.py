"""Every activity the case calls, with its options, called by reference.

Calling the activity function itself (``execute_activity_method``) rather than its name means a
renamed or removed activity breaks at import, and the result type comes from the function, so
no ``result_type`` is passed by hand. The options live here once: mail steps retry for days (a
mail server that is down delays a message, never loses the case) and stop only on a permanent
refusal; calendar and MIS steps retry quickly.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from whereabouts.activities.mail import PERMANENT_MAIL_ERROR
    from whereabouts.activities.mis import MisActivities
    from whereabouts.activities.notices import NoticeActivities
    from whereabouts.activities.schedule import CalendarActivities
    from whereabouts.models import RiskAssessment
    from whereabouts.schooldays import CaseSchedule
    from whereabouts.steps import (
        MisRecord,
        NoticeRequest,
        ScheduleRequest,
        WorkingDaysRequest,
    )
    from whereabouts.times import short

from whereabouts.workflows.state import SYSTEM, CaseState

T = TypeVar("T")
SelfT = TypeVar("SelfT")
ArgT = TypeVar("ArgT")
ResultT = TypeVar("ResultT")

MAIL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
    non_retryable_error_types=[PERMANENT_MAIL_ERROR],
)
QUICK_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
MAIL_TIMEOUT = timedelta(minutes=2)
MAIL_HEARTBEAT = timedelta(minutes=1)  # a mail step heartbeats each message the server accepted
QUICK_TIMEOUT = timedelta(seconds=30)


def permanent_mail_error(err: ActivityError) -> bool:
    """Whether a mail step failed because the server refused it for good (a 5xx)."""
    cause = err.cause
    return isinstance(cause, ApplicationError) and cause.type == PERMANENT_MAIL_ERROR


async def quick_activity(
    activity: Callable[[SelfT, ArgT], Awaitable[ResultT]], arg: ArgT, *, summary: str
) -> ResultT:
    """A calendar or MIS step: local work, retried quickly until it succeeds."""
    return await workflow.execute_activity_method(
        activity, arg, start_to_close_timeout=QUICK_TIMEOUT, retry_policy=QUICK_RETRY, summary=summary
    )


async def mail_activity(
    activity: Callable[[SelfT, ArgT], Awaitable[ResultT]], arg: ArgT, *, summary: str
) -> ResultT:
    """A mail step: retried for days; a permanent refusal raises (``permanent_mail_error``)."""
    return await workflow.execute_activity_method(
        activity,
        arg,
        start_to_close_timeout=MAIL_TIMEOUT,
        heartbeat_timeout=MAIL_HEARTBEAT,
        retry_policy=MAIL_RETRY,
        summary=summary,
    )


async def schedule_case(req: ScheduleRequest) -> CaseSchedule:
    return await quick_activity(
        CalendarActivities.schedule_case, req, summary="Work out the school-day schedule"
    )


async def working_days_after(req: WorkingDaysRequest) -> datetime:
    summary = f"{req.days} working days after {short(req.after)}"
    return await quick_activity(CalendarActivities.working_days_after, req, summary=summary)


class Messaging(CaseState):
    """How the case sends: prompts and tasks by kind, MIS lines, and the mail-delay notes."""

    async def _mail_step(self, step: str, sending: Awaitable[T]) -> T:
        """Await a mail activity; however it ends, its "waiting for the mail server" note goes."""
        try:
            result = await sending
        except BaseException:
            self._delay_over(step, sent=False)
            raise
        self._delay_over(step, sent=True)
        return result

    def _delay_over(self, step: str, sent: bool) -> None:
        """The step's mail activity finished, one way or the other: its delay note goes."""
        if self.delays.pop(step, None) is None:
            return
        since = short(self.delay_since.pop(step))
        what = step.replace("_", " ")
        if sent:
            self._log(f"Mail for {what} went out after a delay", SYSTEM, f"waiting since {since}")
        else:
            self._log(f"Mail for {what} stopped waiting for the mail server", SYSTEM, f"since {since}")
        self._publish()

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
        """E-mail the people the directory names for this kind of notice (a prompt, an alert)."""
        req = NoticeRequest(
            ref=self._ref(step or kind),
            kind=kind,
            case=self.case,
            due_at=due_at,
            facts=facts or {},
            assessment=assessment,
        )
        await self._mail_step(step or kind, mail_activity(NoticeActivities.send_notice, req, summary=summary))

    async def _office_task(self, title: str, body: str) -> None:
        """Something a person in the office must do by hand; a refused task mail is not fatal."""
        self._log(f"Office task: {title}", SYSTEM)
        try:
            await self._notice(
                "office_task",
                f"Office task: {title}",
                facts={"title": title, "body": body},
                step=f"task_{len(self.chronology)}",
            )
        except ActivityError as err:
            if not permanent_mail_error(err):
                raise

    async def _mis(self, step: str, kind: str, value: str, detail: str | None) -> None:
        """A line for the school's MIS (an absence reason, the outcome, a note)."""
        rec = MisRecord(
            ref=self._ref(step),
            school_urn=self.case.school_urn,
            upn=self.case.pupil.upn,
            kind=kind,
            value=value,
            detail=detail,
            at=workflow.now(),
        )
        await quick_activity(
            MisActivities.record_in_mis, rec, summary=f"Record in the MIS: {kind.replace('_', ' ')}"
        )
