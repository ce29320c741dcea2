"""The steps that reach outside the school: the Day 3 letter, the home visit, the referral.

Each of these sends several messages and carries more detail than a day of the procedure should
show (who was written to and how, who was invited, what the LA's form asks for). They live here so
``case.py`` keeps reading like the seed, day by day, while each step stays whole in one place.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from whereabouts.activities.letters import LetterActivities
    from whereabouts.activities.referral import ReferralActivities
    from whereabouts.activities.visits import VisitActivities
    from whereabouts.models import SafeguardingPlan
    from whereabouts.steps import (
        CallTried,
        LetterRequest,
        ReferralRequest,
        VisitBooking,
        VisitBookingRequest,
    )
    from whereabouts.times import short
    from whereabouts.vocabulary import Agency, CallOutcome, CmeStage

from whereabouts.workflows.activity_calls import mail_activity
from whereabouts.workflows.la_side import LaSide
from whereabouts.workflows.state import SYSTEM, CallSlot


class Outreach(LaSide):
    """The letter, the visit and the referral."""

    async def _letter(self) -> None:
        s = self._sched
        # The letter lists only calls staff recorded as unanswered, at the time they made them.
        tried = [
            CallTried(at=rec.at or workflow.now(), label=slot.label)
            for slot, rec in sorted(self.calls.items(), key=lambda kv: list(CallSlot).index(kv[0]))
            if rec.outcome is CallOutcome.NO_ANSWER
        ]
        req = LetterRequest(
            ref=self._ref("day3_letter"),
            case=self.case,
            calls=tried,
            # The family's 3 working days run from when the letter goes (a late case: from now).
            deadline=max(s.letter_deadline, self.times.letter_deadline(workflow.now())),
            sessions=s.sessions,
        )
        summary = f"Day 3 letter in {self._letter_languages()}"
        result = await self._tracked(
            "day3_letter", mail_activity(LetterActivities.send_day3_letter, req, summary=summary)
        )
        self.letter = result
        self.letter_deadline = result.deadline or s.letter_deadline
        deadline = f"deadline for contact {short(self.letter_deadline)}"
        for sent in result.sent:
            if sent.role == "parent" and sent.accepted:
                self._log(
                    f"Day 3 letter e-mailed to {sent.to_label}",
                    SYSTEM,
                    f"{result.language_words}; {deadline}",
                )
        # Copies to post, and any interpreter task, go to the office (the DSL if its inbox refused).
        taken = next((x for x in result.sent if x.role in ("office", "dsl") and x.accepted), None)
        where = {None: "NOT sent to anyone: the office and the DSL both refused", "office": "the office"}.get(
            taken.role if taken else None, "the DSL (the office inbox refused it)"
        )
        for copy in result.posted:
            self._log(
                f"Day 3 letter: print-ready copy for posting sent to {where}", SYSTEM, f"{copy}; {deadline}"
            )
        if result.interpreter_needed:
            self._log(
                f"Interpreter to arrange (no letter in the family's language): asked of {where}",
                SYSTEM,
                ", ".join(result.interpreter_needed),
            )
        for x in result.sent:
            if not x.accepted:
                what = "Day 3 letter" if x.role == "parent" else "Day 3 letter tasks (copies to post)"
                await self._account(what, [x], route=False)

    def _letter_languages(self) -> str:
        langs = sorted(
            {(c.language or "en").lower() for c in self.case.contacts if c.parental_responsibility}
            - {"en", "eng", "en-gb"}
        )
        return " + ".join([*langs, "English"]) if langs else "English"

    async def _book_visit(self) -> None:
        s = self._sched
        # The day the letter told the family the visit would be: the school day after its deadline.
        slot, latest, _ = self.times.visit_after(self.letter_deadline or s.letter_deadline)
        req = VisitBookingRequest(
            ref=self._ref("home_visit"),
            case=self.case,
            slot=slot,
            latest=latest,
            risk_summary=self._risk_summary(),
            sessions=s.sessions,
        )
        summary = f"Book home visit for {short(slot)}, invite the two visiting staff"
        booking = await self._tracked(
            "home_visit", mail_activity(VisitActivities.book_home_visit, req, summary=summary)
        )
        self.visit_booking = booking
        invited = [x.to_label for x in booking.sent if x.accepted and x.role == "visitor"]
        self._log(
            "Home visit booked",
            SYSTEM,
            f"{short(booking.slot)}; visiting: {', '.join(booking.staff)}; "
            f"invitation taken by the mail server for: {', '.join(invited) or 'nobody'}",
        )
        await self._account("home visit invitation", [x for x in booking.sent if not x.accepted])
        self._background(self._visit_guard(booking))

    async def _joint_visit(self, plan: SafeguardingPlan) -> None:
        """The DSL arranges a joint visit with police or social care: no routine invitations go,
        and the visit's outcome can still be recorded on the case."""
        slot, latest, _ = self.times.visit_after(self.letter_deadline or self._sched.letter_deadline)
        self.visit_booking = VisitBooking(
            slot=slot,
            latest=latest,
            staff=["joint visit arranged by the DSL with police or social care"],
            message_ids=[],
        )
        self._log("Joint visit with police or social care, arranged by the DSL", SYSTEM, plan.note)

    async def _refer(self, reason: str) -> None:
        self._enter(CmeStage.REFERRED, "file the CME referral", workflow.now())
        self._log("Decided to refer the child to the local authority as missing education", SYSTEM, reason)
        self.referred_at = workflow.now()
        s = self._sched
        req = ReferralRequest(
            ref=self._ref("referral"),
            case=self.case,
            last_attended=self.case.last_attended or s.day_before,
            last_attended_assumed=self.case.last_attended is None and s.day_before is not None,
            assessment=self.assessment,
            visit=self.visit,
            visit_booking=self.visit_booking,
            chronology=self.chronology,
            reason=reason,
            attempts=self._attempts(),
            letter=self.letter,
            told=self.told,
        )
        summary = "File the CME referral with the LA, with the chronology"
        sent = await self._tracked(
            "referral", mail_activity(ReferralActivities.file_referral, req, summary=summary)
        )
        for x in self._accepted(sent, "la_cme"):
            self._log("Referred to the local authority: CME referral e-mailed", SYSTEM, x.to_label)
            self.told.append(f"{x.to_label}: CME referral e-mailed {short(workflow.now())}")
        if not self._accepted(sent, "la_cme"):
            self.not_told.add(Agency.LA)
            refused = "; ".join(
                f"{x.to_label} ({x.address}): {x.refused}" for x in sent if x.role == "la_cme"
            )
            self._log("REFERRAL NOT DELIVERED: the LA has NOT received it", SYSTEM, refused)
            self._publish()
            await self._notice(
                "referral_not_delivered",
                "The CME referral was NOT delivered to the LA",
                facts={"refused": refused},
                step="referral_not_delivered",
            )
        await self._account(
            "copy of the CME referral", [x for x in sent if x.role == "dsl" and not x.accepted]
        )
        await self._mis_note("referral", "note", "referred_cme", reason)
