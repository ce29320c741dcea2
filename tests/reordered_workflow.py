"""A deliberately broken edit of the case workflow, for the replay test to catch."""

from __future__ import annotations

from temporalio import workflow

from whereabouts.models import CaseInput, CaseResult
from whereabouts.workflows.case import CmeCaseWorkflow


@workflow.defn(name="CmeCase")
class ReorderedCase(CmeCaseWorkflow):
    """Today's workflow with the Day 1 prompt dropped: what a careless edit would do."""

    async def _procedure(self) -> None:
        await self._wait(lambda: False, self._sched.day2_call, "changed")

    @workflow.run
    async def run(self, case: CaseInput) -> CaseResult:
        return await super().run(case)
