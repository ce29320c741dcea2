"""The calendar as activities, so the workflow sees recorded answers.

Bank-holiday data and the school's term dates can change between deploys; a workflow that read
them directly would replay differently. Asked here, the answer is written into the case history.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import activity
from temporalio.exceptions import ApplicationError

from whereabouts import metrics
from whereabouts.activities.deps import Deps
from whereabouts.case_schedule import CaseSchedule, la_chase_after, more_sessions, schedule_for
from whereabouts.directory import School
from whereabouts.school_time import Sessions
from whereabouts.steps import ChaseRequest, MoreDaysRequest, ScheduleRequest


class CalendarActivities:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def _school(self, urn: str) -> School:
        try:
            return self.deps.directory.school(urn)
        except KeyError:  # the directory changed under a running case: a person must fix it
            raise ApplicationError(
                f"school URN {urn} is not in the school directory", non_retryable=True
            ) from None

    @activity.defn(name="schedule_case")
    @metrics.case_started
    async def schedule_case(self, req: ScheduleRequest) -> CaseSchedule:
        """Never fails for a calendar problem: a case without a schedule would wait for ever, so
        where the school's terms cannot give one it counts weekdays and says why (``fallback``)."""
        school = self._school(req.school_urn)
        directory = self.deps.directory
        return schedule_for(
            school,
            req.first_day_absent,
            req.started_at,
            self.deps.settings.school_day_seconds,
            hours=directory.hours_for(school),
            first_session=req.first_session,
            dsl_reply_hours=directory.dsl_reply_school_hours,
        )

    @activity.defn(name="more_school_days")
    async def more_school_days(self, req: MoreDaysRequest) -> Sessions:
        school = self._school(req.school_urn)
        hours = self.deps.directory.hours_for(school)
        return more_sessions(school, hours, req.after, req.count, self.deps.settings.school_day_seconds)

    @activity.defn(name="la_chase_after")
    async def la_chase_after(self, req: ChaseRequest) -> datetime:
        return la_chase_after(req.after, req.days, self.deps.settings.school_day_seconds)
