"""The next release of the case workflow, for the upgrade test: one patched change.

Release 2 sends the attendance office an extra reminder after each Day 2 call prompt and each LA
chase, each change behind its own patch. A case that passed those points under release 1 has no
marker for the patch in its history, so ``workflow.patched`` is false there on replay and the case
carries on as it was; from the upgrade on, the patch is true and the case behaves as release 2.
This is the discipline the README's "Releases" asks of every change to running logic."""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

from whereabouts.models import CaseInput, CaseResult, RiskAssessment
from whereabouts.steps import Sent
from whereabouts.workflows.case import CmeCaseWorkflow

# One patch ID per changed point: a case that passed a point unpatched keeps that ID off for the
# rest of its run (the SDK remembers the answer), so a shared ID would keep the later change off
# too for a case that met the earlier point under release 1.
PATCHES = {"day2_call": "extra-reminder-after-day2", "la_chase": "extra-reminder-after-la-chase"}


@workflow.defn(name="CmeCase")
class UpgradedCase(CmeCaseWorkflow):
    reminders = 0  # per case: set on the instance at the first reminder

    @workflow.run
    async def run(self, case: CaseInput) -> CaseResult:
        return await super().run(case)

    async def _notice(
        self,
        kind: str,
        summary: str,
        *,
        due_at: datetime | None = None,
        facts: dict[str, str] | None = None,
        assessment: RiskAssessment | None = None,
        step: str | None = None,
        to: list[str] | None = None,
        route: bool = True,
    ) -> list[Sent]:
        sent = await super()._notice(
            kind, summary, due_at=due_at, facts=facts, assessment=assessment, step=step, to=to, route=route
        )
        if kind in PATCHES and workflow.patched(PATCHES[kind]):
            self.reminders += 1
            await super()._notice(
                "office_task",
                "Office task: release 2's reminder",
                facts={"title": f"release 2 reminder after {kind}", "body": "Sent by release 2 only."},
                step=f"release2_reminder_{self.reminders}",
                to=["office"],
                route=False,
            )
        return sent
