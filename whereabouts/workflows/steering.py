"""When the DSL steers: a child judged at risk, reported missing, or known to social care.

A standard letter ("we must tell the council... two of our staff will visit your home") or a
routine visit can tip off the people a child is at risk from (the forced-marriage guidance: never
alert the family when the risk comes from it). So once a child is judged at risk, or a parent has
reported the child missing, the letter and the visit wait for the DSL's plan: send the letter or
hold it; the school's visit, a joint visit with police or social care, or none by the school.

Here too: a visit never goes ahead blind (no risk assessment an hour before the slot: the DSL is
told urgently and the visitors are told not to go); the flags act on Day 1 (a child-protection
plan or a social worker: the DSL is asked at once and the social worker told; a looked-after
child: the Virtual School Head too); and police and social care hear how an escalated case closed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from whereabouts.models import CaseStatus, SafeguardingPlan
    from whereabouts.steps import VisitBooking
    from whereabouts.times import short
    from whereabouts.vocabulary import FLAG_LABELS, CmeOutcome, PupilFlag, RiskStatus

from whereabouts.workflows.risk import AGENCIES, Safeguarding
from whereabouts.workflows.state import SYSTEM, Closing

VISIT_GUARD = timedelta(hours=1)  # no assessment this long before the visit: the visitors stay put
SOCIAL_CARE_FLAGS = (PupilFlag.CP_PLAN, PupilFlag.SOCIAL_CARE, PupilFlag.LOOKED_AFTER)


class Steering(Safeguarding):
    """The DSL's plan for the letter and the visit, the visit guard, flags, and closing notices."""

    @property
    def steered(self) -> bool:
        """Whether the letter and the visit wait for the DSL's plan."""
        return self.risk is RiskStatus.ESCALATED or self.reported_missing_at is not None

    async def _await_plan(self, what: str, until: datetime) -> SafeguardingPlan | None:
        """The DSL's plan, waiting for it (until ``until``) when the case is steered and has none."""
        if not self.steered or self.plan is not None:
            return self.plan
        at_risk = self.risk is RiskStatus.ESCALATED
        why = "the child is judged at risk" if at_risk else "the parent reported the child missing"
        self._log(f"{what.capitalize()} held: {why}; the DSL decides", SYSTEM, "admin.py plan CASE ...")
        if not self.plan_asked:
            self.plan_asked = True
            await self._notice(
                "plan_needed",
                "Ask the DSL for the plan: the letter and the visit are held",
                facts={"why": why, "what": what},
                step="plan_needed",
            )
        self._enter(self.stage, f"the DSL's plan ({what} held)", until)
        await self._wait(lambda: self.plan is not None, until, "the DSL's plan")
        return self.plan

    @workflow.update
    async def record_plan(self, rec: SafeguardingPlan) -> CaseStatus:
        rec = await self._acting(rec, "record_plan")
        self.plan = rec
        self._log(f"Safeguarding plan: letter {rec.letter.words}, visit {rec.visit.words}", rec.by, rec.note)
        self._publish()
        return self._status()

    @record_plan.validator
    def _validate_plan(self, rec: SafeguardingPlan) -> None:
        self._check(rec, "record_plan")
        self._refuse_if_closed()
        if not self.steered:
            raise ValueError(
                "The routine letter and visit go ahead for this case: a plan is for a child judged at "
                "risk (admin.py risk CASE --at-risk ...) or reported missing by the parent."
            )

    async def _flags_on_day1(self) -> None:
        """A child with a child-protection plan, known to social care or looked after: the DSL is
        asked at once, and the child's social worker (and for a looked-after child the Virtual
        School Head) told, on Day 1."""
        flags = [f for f in self.case.pupil.flags if f in SOCIAL_CARE_FLAGS]
        if not flags:
            return
        words = ", ".join(FLAG_LABELS[f] for f in flags)
        await self._ask_dsl(f"the child has a flag that means the DSL is asked on Day 1: {words}")
        roles = ["social_worker"] + (["virtual_school"] if PupilFlag.LOOKED_AFTER in flags else [])
        sent = await self._notice(
            "flagged_absence",
            "Tell the social worker (and the Virtual School Head) of the absence",
            facts={"flags": words},
            to=roles,
        )
        for s in sent:
            if s.accepted:
                self._log(f"Told of the unexplained absence by e-mail: {s.to_label}", SYSTEM, words)
                self.told.append(f"{s.to_label}: told of the unexplained absence {short(workflow.now())}")

    async def _visit_guard(self, booking: VisitBooking) -> None:
        """No risk assessment an hour before the visit: the DSL is told urgently and the visitors
        are told not to go; once one is recorded, they are told they may."""
        at = booking.slot - VISIT_GUARD
        assessed = lambda: self.assessment is not None and self.risk is not RiskStatus.REQUESTED  # noqa: E731
        if await self._wait_quietly(assessed, at, f"risk assessment before the visit, {short(at)}"):
            return
        if self.closing is not None or self.visit is not None:
            return
        facts = {"slot": short(booking.slot)}
        await self._notice("visit_blind", "URGENT: no risk assessment before the visit", facts=facts)
        await self._notice("visit_hold", "Tell the visitors not to go yet", facts=facts)
        self._log("Visit on hold: no risk assessment an hour before it; DSL and visitors told", SYSTEM)
        self._publish()
        if await self._wait_quietly(assessed, booking.latest or booking.slot, "the assessment"):
            if self.closing is None and self.visit is None:
                await self._notice("visit_cleared", "Tell the visitors they may go", facts=facts)
                self._log("Visitors told the visit may go ahead: a risk assessment is recorded", SYSTEM)

    async def _tell_agencies_closed(self, closing: Closing) -> None:
        """Police and children's social care were told the child is at risk: they hear how it closed."""
        if not any(a.at_risk for a in self.assessments):
            return
        found = closing.outcome in (CmeOutcome.CHILD_SEEN, CmeOutcome.CHILD_LOCATED)
        sent = await self._notice(
            "escalation_closed",
            "Tell police and social care how the escalated case closed",
            facts={
                "outcome": closing.outcome.words,
                "detail": closing.detail or "",
                "found": "yes" if found else "",
            },
            route=False,
        )
        for s in sent:
            if s.accepted and s.role in AGENCIES:
                self._log(f"{s.to_label} told the case is closed ({closing.outcome.words})", SYSTEM)
        await self._account("closing notice to police and social care", [s for s in sent if not s.accepted])
