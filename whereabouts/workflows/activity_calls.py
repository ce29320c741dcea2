"""Every activity the case calls, with its options, called by reference.

Calling the activity function itself (``execute_activity_method``) rather than its name means a
renamed or removed activity breaks at import, and the result type comes from the function, so
no ``result_type`` is passed by hand. The options live here once: mail steps retry for days (a
mail server that is down delays a message, never loses the case; a message refused for good is
reported in the step's result, not as a failure); calendar and MIS steps retry quickly.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from whereabouts.activities.roster import RosterActivities
    from whereabouts.activities.schedule import CalendarActivities
    from whereabouts.case_schedule import CaseSchedule
    from whereabouts.identity import Roster
    from whereabouts.school_time import Sessions
    from whereabouts.shared_values import shared_roster, shared_schedule
    from whereabouts.steps import ChaseRequest, MoreDaysRequest, RosterRequest, ScheduleRequest
    from whereabouts.times import short

SelfT = TypeVar("SelfT")
ArgT = TypeVar("ArgT")
ResultT = TypeVar("ResultT")

MAIL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
)
QUICK_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
MAIL_TIMEOUT = timedelta(minutes=2)
# A mail step records each answer the server gives (and again every quarter of this while the
# server is busy with one), so a worker killed mid-step has its step retried after this long.
MAIL_HEARTBEAT = timedelta(seconds=20)
QUICK_TIMEOUT = timedelta(seconds=30)


async def quick_activity(
    activity: Callable[[SelfT, ArgT], Awaitable[ResultT]], arg: ArgT, *, summary: str
) -> ResultT:
    """A calendar or MIS step: local work, retried quickly until it succeeds."""
    return await workflow.execute_activity_method(
        activity, arg, start_to_close_timeout=QUICK_TIMEOUT, retry_policy=QUICK_RETRY, summary=summary
    )


async def quick_local_activity(
    activity: Callable[[SelfT, ArgT], Awaitable[ResultT]], arg: ArgT, *, summary: str
) -> ResultT:
    """A quick step run by the worker inside the workflow task that asked for it: no activity
    task for the server to hand out, and the case can close in the same task. Only for a step
    that is safe to run twice (a workflow task that fails runs it again: the MIS outbox writes a
    line id once)."""
    return await workflow.execute_local_activity_method(
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


async def schedule_case(req: ScheduleRequest, *, local: bool = False) -> CaseSchedule:
    call = quick_local_activity if local else quick_activity
    schedule = await call(CalendarActivities.schedule_case, req, summary="Work out the school-day schedule")
    return shared_schedule(schedule)  # one copy of the school's days for its cases of that day


async def more_school_days(req: MoreDaysRequest) -> Sessions:
    return await quick_activity(CalendarActivities.more_school_days, req, summary="The school days ahead")


async def la_chase_after(req: ChaseRequest) -> datetime:
    summary = f"{req.days} working days after {short(req.after)}"
    return await quick_activity(CalendarActivities.la_chase_after, req, summary=summary)


async def load_roster(req: RosterRequest, *, local: bool = False) -> Roster:
    call = quick_local_activity if local else quick_activity
    roster = await call(RosterActivities.load_roster, req, summary="Who may act on this case")
    return shared_roster(roster)  # one copy of the school's people for all its cases
