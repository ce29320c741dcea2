"""The calendar as activities, so the workflow sees recorded answers.

Bank-holiday data and the school's term dates can change between deploys; a workflow that read
them directly would replay differently. Asked here, the answer is written into the case history.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import activity

from whereabouts import metrics
from whereabouts.activities.deps import Deps
from whereabouts.schooldays import CaseSchedule, build_schedule, working_days_after
from whereabouts.steps import ScheduleRequest, WorkingDaysRequest


class CalendarActivities:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    @activity.defn(name="schedule_case")
    @metrics.case_started
    async def schedule_case(self, req: ScheduleRequest) -> CaseSchedule:
        school = self.deps.directory.school(req.school_urn)
        return build_schedule(
            school, req.first_day_absent, req.started_at, self.deps.settings.school_day_seconds
        )

    @activity.defn(name="working_days_after")
    async def working_days_after(self, req: WorkingDaysRequest) -> datetime:
        school = self.deps.directory.school(req.school_urn)
        return working_days_after(school, req.after, req.days, self.deps.settings.school_day_seconds)
