"""The safeguarding risk assessment, as one concern: asking the DSL, the judgement, escalation.

The seed's first rule: "always assess the child's safeguarding risk ... if the judgement is the
child is at risk of harm, contact the police or social care immediately". Several steps of the
procedure need an assessment (no answer after 2 hours, a call that did not reassure, a parent
saying the child is missing, a home visit about to be booked); they all ask through ``_ask_dsl``,
so the DSL is asked once, the stage shows it, and the chronology says why.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from whereabouts.models import CallRecord, CaseStatus, RiskAssessment
    from whereabouts.times import short
    from whereabouts.vocabulary import Agency, RiskStatus

from whereabouts.workflows import views
from whereabouts.workflows.messaging import Messaging
from whereabouts.workflows.state import SYSTEM, CallSlot

AGENCIES = {"police": Agency.POLICE, "social_care": Agency.SOCIAL_CARE}


class Safeguarding(Messaging):
    """Asks the DSL for a risk assessment, records the judgement, and escalates at once."""

    async def _ask_dsl(self, why: str, *, alerted: bool = False, concern: bool = False) -> None:
        """The one way a case asks the DSL for a risk assessment.

        A routine ask (a visit being booked) asks only if nobody has yet; a ``concern`` (a call
        that did not reassure, a parent saying the child is missing, a refused visit) always goes
        back to the DSL, whatever was decided before: a judgement of "not at risk" is asked for
        again. ``alerted``: the DSL has just been sent an alert that asks for one (the
        missing-child alert), so no second e-mail goes.
        """
        if self.risk is not RiskStatus.NOT_ASSESSED:
            if concern:
                await self._new_concern(why, alerted=alerted)
            return
        self.risk = RiskStatus.REQUESTED
        self.dsl_asked_at = workflow.now()
        # Safeguarding never waits for the morning: out of school hours the request goes anyway.
        after_hours = self.schedule is not None and not self.times.in_hours(workflow.now())
        marked = " (sent out of school hours)" if after_hours else ""
        if alerted:
            self._log("DSL alerted and asked for a risk assessment" + marked, SYSTEM)
        else:
            self._log("Risk assessment requested from the DSL" + marked, SYSTEM, why)
        self._publish()
        if self.schedule is not None:
            self._background(self._chase_dsl(workflow.now()))
        if not alerted:
            await self._notice(
                "risk_assessment_request",
                "Ask the DSL for a risk assessment" + marked,
                facts={"why": why, "out_of_hours": "yes" if after_hours else ""},
                step="risk_assessment_request",
            )

    async def _new_concern(self, why: str, *, alerted: bool = False) -> None:
        """A concern after a request or a judgement: the DSL hears it; "not at risk" is re-asked."""
        was = self.risk
        if was is RiskStatus.NOT_AT_RISK:
            self.risk = RiskStatus.REQUESTED
            self.dsl_asked_at = workflow.now()
            if self.schedule is not None:
                self._background(self._chase_dsl(workflow.now()))
        self.concerns += 1
        self._log(f"New concern for the DSL (risk {was.words} until now)", SYSTEM, why)
        self._publish()
        if not alerted:
            await self._notice(
                "new_concern",
                "Tell the DSL of a new concern",
                facts={"why": why, "was": was.words},
                step=f"new_concern_{self.concerns}",
            )

    async def _chase_dsl(self, asked: datetime) -> None:
        """A DSL request not answered within the directory's school hours is chased; as long
        again, and it goes to the deputy DSL and the head teacher (DSLs are in meetings, or away)."""
        wait = self._sched.dsl_reply_seconds
        for n, (kind, who) in enumerate(
            (("dsl_chase", "the DSL"), ("dsl_unanswered", "the deputy DSL and the head teacher")), 1
        ):
            due = self.times.add(asked, wait * n)
            self.due["DSL risk assessment"] = self.due.get("DSL risk assessment", due)
            answered = await self._wait_quietly(lambda: self.risk is not RiskStatus.REQUESTED, due, "DSL due")
            if answered or self.closing is not None:
                return
            await self._notice(
                kind,
                f"Risk assessment not recorded: chase {who}",
                facts={"asked": short(asked), "why": "no risk assessment recorded"},
                step=kind,
            )
            self._log(f"Risk assessment request unanswered: {who} chased", SYSTEM, f"asked {short(asked)}")
            self._publish()

    async def _missing_child(self, rec: CallRecord, slot: CallSlot) -> None:
        """The parent says the child is missing: advise the parent, alert the DSL, ask for a judgement.

        "Advised" is written only for a parent whose mail server took the advice; if it reached
        none, the office is asked to give it by phone and the case waits until staff record it.
        """
        self.reported_missing_at = self.reported_missing_at or workflow.now()
        sent = await self._notice(
            "parent_advice",
            "Send the parent the missing-child advice",
            step=f"{slot}_parent_advice",
            route=False,
        )
        if self.closing is not None:
            return  # seen or found while the advice was going: nothing more goes out
        advised = self._accepted(sent, "parent")
        for s in advised:
            self._log(
                "Parent advised by e-mail: police, people and places the child knows, GP and A&E, "
                "report back to school",
                SYSTEM,
                s.to_label,
            )
        if advised:
            advice = "e-mailed to " + ", ".join(s.to_label for s in advised)
        else:
            self.advice_pending = True
            why = (
                "the mail server refused every parent's address"
                if sent
                else "no contact with parental responsibility has an e-mail address"
            )
            advice = f"NOT e-mailed ({why}): give it to the parent by phone"
            self._log("Missing-child advice NOT e-mailed to any parent", SYSTEM, why)
            self._publish()
            await self._office_task(
                "give the parent the missing-child advice by phone now",
                f"The parent says the child is missing, and the written advice could not be e-mailed "
                f"({why}). Phone the parent now and tell them to: call the police (101, or 999 if the "
                "child is in danger); contact everyone the child knows and the places the child goes; "
                "call the family GP and nearby A&E departments; and call the school when the child is "
                f"found or is still missing. Then record it: python admin.py advised {self._case_id}",
            )
        if self.closing is not None:
            return  # seen or found meanwhile: nothing more goes out
        await self._notice(
            "missing_child_alert",
            "Alert the DSL: parent says the child is missing",
            facts={"note": rec.note or "", "advice": advice},
            step=f"{slot}_missing_alert",
        )
        await self._ask_dsl("the parent says the child is missing", alerted=True, concern=True)

    async def _escalate(self, rec: RiskAssessment) -> None:
        """At risk: e-mail police and children's social care now. Each is written down as told only
        once its mail server took the message; any not reached is the loudest alert of all."""
        sent = await self._notice(
            "safeguarding_escalation",
            "Urgent: notify police and children's social care",
            assessment=rec,
            step="escalation",
            route=False,
        )
        for s in sent:
            if s.accepted and s.role in AGENCIES:
                words = views.AGENCY_WORDS[AGENCIES[s.role]]
                self._log(f"{words.capitalize()} notified by e-mail: child at risk", SYSTEM, s.to_label)
                self.told.append(
                    f"{s.to_label} ({words}): safeguarding referral e-mailed {short(workflow.now())}"
                )
        missing = [s for s in sent if not s.accepted and s.role in AGENCIES]
        for s in missing:
            agency = AGENCIES[s.role]
            self.not_told.add(agency)
            self._log(
                f"ESCALATION NOT DELIVERED: {views.AGENCY_WORDS[agency]} have NOT been told",
                SYSTEM,
                f"{s.to_label} ({s.address}) refused: {s.refused}",
            )
        self._publish()
        if missing:
            await self._notice(
                "escalation_not_delivered",
                "URGENT: police or social care NOT told: phone them",
                facts={
                    "not_told": " and ".join(views.AGENCY_WORDS[AGENCIES[s.role]] for s in missing),
                    "refused": "; ".join(f"{s.to_label} ({s.address}): {s.refused}" for s in missing),
                    "agencies": " ".join(AGENCIES[s.role].value for s in missing),
                },
                assessment=rec,
                step="escalation_not_delivered",
            )
        dsl_copy = [s for s in sent if s.role == "dsl"]
        await self._account("copy of the safeguarding referral", [s for s in dsl_copy if not s.accepted])

    def _risk_summary(self) -> str:
        """What the visiting staff are told about the assessment before they knock."""
        a = self.assessment
        if a is None:
            return "requested from the DSL, not yet recorded: check with the DSL before visiting"
        if a.at_risk:
            return "AT RISK: police and social care informed; agree the visit plan with the DSL"
        return f"assessed not at risk by {a.by}"

    @workflow.update
    async def record_risk(self, rec: RiskAssessment) -> CaseStatus:
        rec = await self._acting(rec, "record_risk")
        was = self.risk
        self.assessment = rec
        self.assessments.append(rec)
        self.due.pop("DSL risk assessment", None)
        concerns = ", ".join(c.value for c in rec.concerns)
        if rec.at_risk:
            self.risk = RiskStatus.ESCALATED
            again = " (again)" if was is RiskStatus.ESCALATED else ""
            self._log(
                f"Risk assessment: AT RISK{again} - police and children's social care to be told at once",
                rec.by,
                "; ".join(x for x in (f"concerns: {concerns}", rec.note) if x),
            )
            self._publish()
            self._background(self._escalate(rec))
        else:
            self.risk = RiskStatus.NOT_AT_RISK
            if was is RiskStatus.ESCALATED:
                self._log("Risk re-assessed: NOT at risk, revising the at-risk judgement", rec.by, rec.note)
                self._background(self._revised(rec))
            else:
                first = len(self.assessments) == 1
                what = "Risk assessment: not at risk" if first else "Risk re-assessed: not at risk"
                self._log(what, rec.by, rec.note)
            self._publish()
        return self._status()

    @record_risk.validator
    def _validate_risk(self, rec: RiskAssessment) -> None:
        self._check(rec, "record_risk")
        self._refuse_if_closed()
        if self.risk is RiskStatus.ESCALATED and not rec.at_risk and not (rec.note and len(rec.note) >= 10):
            raise ValueError(
                "This child is judged at risk and police and social care were told; only the DSL can "
                "revise that, with the reason (--note, what has changed), and they will be told too."
            )

    async def _revised(self, rec: RiskAssessment) -> None:
        """Police and social care were told the child is at risk: a revision is never silent."""
        sent = await self._notice(
            "escalation_revised",
            "Tell police and social care the DSL has revised the judgement",
            assessment=rec,
            step=f"revised_{len(self.assessments)}",
            route=False,
        )
        for s in sent:
            if s.accepted and s.role in AGENCIES:
                self._log(f"{views.AGENCY_WORDS[AGENCIES[s.role]].capitalize()} told of the revision", SYSTEM)
        await self._account("revised judgement", [s for s in sent if not s.accepted])
