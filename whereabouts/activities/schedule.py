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
from whereabouts.directory import School
from whereabouts.schooldays import CaseSchedule, schedule_for, working_days_after
from whereabouts.steps import ScheduleRequest, WorkingDaysRequest


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
        return schedule_for(
            school, req.first_day_absent, req.started_at, self.deps.settings.school_day_seconds
        )

    @activity.defn(name="working_days_after")
    async def working_days_after(self, req: WorkingDaysRequest) -> datetime:
        school = self._school(req.school_urn)
        return working_days_after(school, req.after, req.days, self.deps.settings.school_day_seconds)
