"""What staff and the MIS may record on a case, and what they read back.

Staff actions are updates with validators: an action wrong for the stage is refused with one
sentence the staff member understands, before anything changes. The MIS's "parent responded" and
"child seen" are signals, fire-and-forget, as is a mail step's report that the mail server is
holding its message. The risk assessment is recorded in ``risk.py``, with the rest of
safeguarding; the register's marks are read in ``register.py``, and what the LA records in
``la_side.py``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from whereabouts.models import (
        AdviceGiven,
        AgencyTold,
        CallRecord,
        CaseStatus,
        ChildSeen,
        ChronologyEntry,
        DeliveryDelay,
        MissingUpdate,
        ParentContact,
        VisitRecord,
        Withdrawal,
    )
    from whereabouts.times import day, short
    from whereabouts.vocabulary import (
        CLOSING_VISIT_OUTCOMES,
        Agency,
        CallOutcome,
        CmeOutcome,
        CmeStage,
        VisitOutcome,
    )

from whereabouts.workflows import views
from whereabouts.workflows.state import SYSTEM, CallSlot, Closing
from whereabouts.workflows.steering import Steering

CONCERNING_VISITS = (VisitOutcome.REFUSED_ACCESS, VisitOutcome.MOVED_AWAY)
FUTURE_GRACE = timedelta(minutes=10)  # clocks differ a little between staff PCs and the worker
CALL_STAGES = (CmeStage.DAY1_CALL, CmeStage.DAY1_CALLBACK, CmeStage.DAY2_CALL, CmeStage.RISK_ASSESSMENT)


class StaffActions(Steering):
    """The updates, signals and queries of a case; the procedure itself is in ``case.py``."""

    # ------------------------------------------------------------------------------------
    # What staff read
    # ------------------------------------------------------------------------------------
    @workflow.query
    def status(self) -> CaseStatus:
        return self._status()

    @workflow.query
    def chronology_entries(self) -> list[ChronologyEntry]:
        return self.chronology

    # ------------------------------------------------------------------------------------
    # What staff record: updates with validators (a refusal changes nothing)
    # ------------------------------------------------------------------------------------
    @workflow.update
    async def record_call(self, rec: CallRecord) -> CaseStatus:
        rec = await self._acting(rec, "record_call")
        slot = self.awaiting_call
        assert slot is not None
        # The chronology entry is when it was recorded; a call made earlier says when it was made.
        made = f"call made {short(rec.at)}" if rec.at else None
        rang = f"rang {rec.number}" if rec.number else None
        rec = rec.model_copy(update={"at": rec.at or workflow.now()})
        self.calls[slot] = rec
        self.due.pop(f"{slot.label} outcome", None)
        if slot is CallSlot.DAY1:
            self.day1_recorded_at = workflow.now()
        self._log(
            f"{slot.label}: {rec.outcome.words}",
            rec.by,
            "; ".join(x for x in (made, rang, rec.reason, rec.note) if x) or None,
        )
        self.awaiting_call = None
        match rec.outcome:
            case CallOutcome.SAFE_WITH_PARENT:
                self.closing = Closing(
                    CmeOutcome.EXPLAINED_ABSENCE, rec.by, rec.reason, code=rec.code, until=rec.until
                )
            case CallOutcome.NOT_REASSURED:
                why = f"{slot.label}: the person who answered did not reassure the school the child is safe"
                self._background(self._ask_dsl(why, concern=True))
            case CallOutcome.MISSING_PARENT_CONCERNED:
                self._background(self._missing_child(rec, slot))
            case CallOutcome.NO_ANSWER:
                pass
        return self._status()

    @record_call.validator
    def _validate_call(self, rec: CallRecord) -> None:
        self._check(rec, "record_call")
        self._refuse_if_closed()
        self._refuse_future(rec.at, "the call")
        self._refuse_until_before(rec.until)
        if self.awaiting_call is None:
            done = [slot for slot in CallSlot if slot in self.calls]
            if self.stage in CALL_STAGES and done:
                raise ValueError(
                    f"The {done[-1].label} outcome is already recorded "
                    f"({self.calls[done[-1]].outcome.value}); "
                    f"the next step is: {self.next_action or 'wait'}."
                )
            raise ValueError(
                f"No call is waiting for an outcome: the case is at stage {self.stage.value} "
                f"(next: {self.next_action or 'nothing due'})."
            )

    @workflow.update
    async def record_visit(self, rec: VisitRecord) -> CaseStatus:
        rec = await self._acting(rec, "record_visit")
        self.visit = rec
        self._log(
            f"Home visit: {rec.outcome.words}",
            rec.by,
            "; ".join(x for x in (f"spoke to {rec.spoke_to}" if rec.spoke_to else None, rec.note) if x)
            or None,
        )
        self.due.pop("home visit outcome", None)
        if rec.outcome in CLOSING_VISIT_OUTCOMES:
            self.closing = Closing(CLOSING_VISIT_OUTCOMES[rec.outcome], rec.by, rec.note)
        elif rec.outcome in CONCERNING_VISITS or rec.concern:
            # Whatever the DSL judged before, what the visitors found goes back to the DSL.
            why = f"home visit: {rec.outcome.words}" + (f" ({rec.note})" if rec.note else "")
            self._background(self._ask_dsl(why, concern=True))
        return self._status()

    @record_visit.validator
    def _validate_visit(self, rec: VisitRecord) -> None:
        self._check(rec, "record_visit")
        self._refuse_if_closed()
        if self.visit is not None:
            raise ValueError(
                f"The home visit outcome is already recorded ({self.visit.outcome.value}, "
                f"by {self.visit.by})."
            )
        if self.visit_booking is None:
            raise ValueError(
                "No home visit is booked yet: visits are booked on Day 5 "
                f"(case is at stage {self.stage.value})."
            )

    @workflow.update
    async def record_agency_told(self, rec: AgencyTold) -> CaseStatus:
        rec = await self._acting(rec, "record_agency_told")
        """Staff told an agency by phone what an e-mail could not: the escalation, the referral."""
        at = rec.at or workflow.now()
        words = views.AGENCY_WORDS[rec.agency]
        detail = "; ".join(x for x in (f"at {short(at)}", rec.note) if x)
        self._log(f"{words.capitalize()} told by phone (or in person)", rec.by, detail)
        self.told.append(f"{words}: told by {rec.by} {short(at)}" + (f" ({rec.note})" if rec.note else ""))
        self.not_told.discard(rec.agency)
        self._publish()
        return self._status()

    @record_agency_told.validator
    def _validate_agency_told(self, rec: AgencyTold) -> None:
        self._check(rec, "record_agency_told")
        self._refuse_if_closed()
        self._refuse_future(rec.at, "the call")
        if rec.agency is Agency.LA and self.referred_at is None:
            raise ValueError(
                "This case has not been referred to the local authority, so there is nothing to tell it yet."
            )
        if rec.agency is not Agency.LA and not any(a.at_risk for a in self.assessments):
            raise ValueError(
                "Police and children's social care are told when the DSL judges the child at risk: "
                "no such judgement is recorded on this case, so there is nothing to record."
            )

    @workflow.update
    async def record_advice_given(self, rec: AdviceGiven) -> CaseStatus:
        rec = await self._acting(rec, "record_advice_given")
        """Staff gave the parent the missing-child advice themselves."""
        at = rec.at or workflow.now()
        detail = "; ".join(x for x in (f"at {short(at)}", rec.note) if x)
        self._log("Parent given the missing-child advice by staff", rec.by, detail)
        self.advice_pending = False
        self._publish()
        return self._status()

    @record_advice_given.validator
    def _validate_advice(self, rec: AdviceGiven) -> None:
        self._check(rec, "record_advice_given")
        self._refuse_if_closed()
        self._refuse_future(rec.at, "the advice")
        if self.reported_missing_at is None:
            raise ValueError(
                "No parent has reported this child missing, so there is no missing-child advice to give."
            )

    def _refuse_until_before(self, until: date | None) -> None:
        if until is not None and until < self.case.first_day_absent:
            raise ValueError(
                f"--until {day(until)} is before the absence began ({day(self.case.first_day_absent)}): "
                "give the last day the child will be off."
            )

    def _refuse_future(self, at: datetime | None, what: str) -> None:
        if at is not None and at > workflow.now() + FUTURE_GRACE:
            raise ValueError(
                f"The time given for {what} ({short(at)}) is in the future; give the time it happened."
            )

    @workflow.update
    async def record_contact(self, rec: ParentContact) -> CaseStatus:
        rec = await self._acting(rec, "record_contact")
        self._on_contact(rec)
        return self._status()

    @record_contact.validator
    def _validate_contact(self, rec: ParentContact) -> None:
        self._check(rec, "record_contact")
        self._refuse_if_closed()
        self._refuse_until_before(rec.until)
        if self.reported_missing_at is not None:
            raise ValueError(
                "The parent reported this child missing, so a call from them does not close the case: "
                "record what they said with admin.py still-missing CASE, or admin.py seen CASE when the "
                "child is found."
            )

    @workflow.update
    async def record_still_missing(self, rec: MissingUpdate) -> CaseStatus:
        rec = await self._acting(rec, "record_still_missing")
        """The parent rings back: the child is still missing. The case stays open; the DSL hears."""
        self._log("Parent: the child is still missing", rec.by, rec.note)
        self._background(
            self._ask_dsl(f"the parent says the child is still missing: {rec.note or ''}", concern=True)
        )
        return self._status()

    @record_still_missing.validator
    def _validate_still_missing(self, rec: MissingUpdate) -> None:
        self._check(rec, "record_still_missing")
        self._refuse_if_closed()
        if self.reported_missing_at is None:
            raise ValueError("No parent has reported this child missing; record a call or contact instead.")

    @workflow.update
    async def record_seen(self, rec: ChildSeen) -> CaseStatus:
        rec = await self._acting(rec, "record_seen")
        self._on_seen(rec)
        return self._status()

    @record_seen.validator
    def _validate_seen(self, rec: ChildSeen) -> None:
        self._check(rec, "record_seen")
        self._refuse_if_closed()

    @workflow.update
    async def withdraw(self, rec: Withdrawal) -> CaseStatus:
        rec = await self._acting(rec, "withdraw")
        self.closing = Closing(CmeOutcome.WITHDRAWN, rec.by, rec.reason)
        return self._status()

    @withdraw.validator
    def _validate_withdraw(self, rec: Withdrawal) -> None:
        self._check(rec, "withdraw")
        self._refuse_if_closed()

    # ------------------------------------------------------------------------------------
    # MIS events and mail reports: signals, fire-and-forget
    # ------------------------------------------------------------------------------------
    @workflow.signal
    async def parent_responded(self, rec: ParentContact) -> None:
        person = await self._signal_ok(rec, "parent_responded")
        if person is None or self.closing is not None:
            return
        rec = rec.model_copy(update={"by": person.name})
        if self.reported_missing_at is not None:  # a missing child is found only when seen
            self._log(
                "Parent made contact (the child was reported missing: the case stays open)",
                rec.by,
                rec.reason or rec.note,
            )
            self._background(
                self._ask_dsl("the parent who reported the child missing made contact", concern=True)
            )
            return
        self._on_contact(rec)

    @workflow.signal
    async def child_seen(self, rec: ChildSeen) -> None:
        person = await self._signal_ok(rec, "child_seen")
        if person is not None and self.closing is None:
            self._on_seen(rec.model_copy(update={"by": person.name}))

    @workflow.signal
    async def delivery_delayed(self, delay: DeliveryDelay) -> None:
        """A mail step keeps failing and is being retried: say so where the operator looks."""
        if await self._signal_ok(delay, "delivery_delayed") is None:
            return
        label = views.mail_label(delay.activity, delay.step)
        mail = delay.activity in views.MAIL_LABELS
        first = delay.step not in self.delays
        since = self.delay_since.setdefault(delay.step, workflow.now())
        self.delays[delay.step] = views.delay_note(label, since, delay.attempt, delay.reason, mail=mail)
        if first:
            why = "the mail server is not accepting it" if mail else "the step keeps failing"
            self._log(
                f"{label[0].upper()}{label[1:]} delayed: {why}",
                SYSTEM,
                f"retrying; last error: {delay.reason}",
            )
        self._publish()

    def _on_contact(self, rec: ParentContact) -> None:
        self._log("Parent made contact", rec.by, rec.reason or rec.note)
        self.closing = Closing(
            CmeOutcome.PARENT_CONTACT, rec.by, rec.reason or rec.note, code=rec.code, until=rec.until
        )

    def _on_seen(self, rec: ChildSeen) -> None:
        self._log("Child seen", rec.by, rec.where or rec.note)
        self.closing = Closing(CmeOutcome.CHILD_SEEN, rec.by, rec.where or rec.note)
