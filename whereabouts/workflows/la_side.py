"""What the local authority must be told, and what the LA records: returns, enquiries, decisions.

The School Attendance (Pupil Registration) (England) Regulations 2024 put three duties on the
school that a case can keep for it:
- the 10-day return: the LA is told of a pupil absent for a continuous period of 10 school days
  (codes G, N, O, U; regulation 13 and *Working together to improve school attendance*, 2024),
  once per episode, whether or not a CME referral has been made;
- the deletion rule: a pupil may be deleted under regulation 9(1)(i) only after at least 20
  continuous school days of absence coded G, N or O, with no reason to believe the child is ill
  or unavoidably absent, and after both the school and the LA have failed to find the child
  after reasonable enquiries (*Children missing education*, DfE, 2025). ``remove_from_roll`` is
  refused, with a sentence saying what is missing, until the case shows all of it;
- the deletion return (regulation 13): the pupil's name, each parent the pupil lives with and
  their address, an emergency telephone number per parent, any new address or school, and the
  ground. The office is reminded of the lost-pupil Common Transfer File.

After the referral the LA tracking officer's enquiries, feedback and decision land in the same
chronology, and the school sees when the LA is overdue (the seed: "usually within 10 days").
"""

from __future__ import annotations

from datetime import date
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from whereabouts.models import CaseStatus, LaDecisionRecord, LaUpdate, SchoolEnquiry
    from whereabouts.register_codes import (
        DELETION_CODES,
        DELETION_DAYS,
        TEN_DAY_RETURN_DAYS,
        continuous_days,
        words,
    )
    from whereabouts.steps import ContactAttempt
    from whereabouts.times import day, short
    from whereabouts.vocabulary import (
        CLOSING_LA_DECISIONS,
        ENQUIRY_WORDS,
        EnquiryItem,
        LaDecision,
        LaUpdateKind,
        VisitPlan,
    )

from whereabouts.workflows.register import Register, session_words
from whereabouts.workflows.state import SYSTEM, CallSlot, Closing

GROUND_9_1_I = (
    "regulation 9(1)(i) of the School Attendance (Pupil Registration) (England) Regulations 2024: "
    "continuously absent for at least 20 school days, recorded as G, N or O, with no reasonable "
    "grounds to believe the pupil is ill or unavoidably absent, and neither the school nor the local "
    "authority has been able to find the pupil after reasonable enquiries"
)


class LaSide(Register):
    """The 10-day return, the school's and the LA's enquiries, the LA's decision, the deletion."""

    # ------------------------------------------------------------------------------------
    # The 10-day return
    # ------------------------------------------------------------------------------------
    async def _ten_day_return(self) -> None:
        """On the tenth continuous school day of absence (recent episodes counted in), once."""
        prev = self._linked_previous()
        prior = prev.linked_days if prev is not None else 0
        number = max(1, TEN_DAY_RETURN_DAYS - prior)
        # An hour into the day (school time, scaled in a rehearsal): the morning register is in.
        at = self.times.add(self._opening_of(number), self._sched.callback_after_seconds / 2)
        await self._wait_quietly(lambda: False, at, f"10-day return to the LA, {short(at)}")
        if self.closing is not None or self.ten_day_return_at is not None:
            return
        self.ten_day_return_at = workflow.now()
        today = self._today()
        days = self.times.day_number(workflow.now())
        pattern = ""
        if prior:
            assert prev is not None
            pattern = (
                f"{prior} school days unexplained over {prev.episodes} recent episode(s) before this one "
                f"(the last closed {day(prev.closed_on)}, {prev.outcome.replace('_', ' ')}), then absent "
                f"again from {day(self.case.first_day_absent)}: not continuous, counted together"
            )
        sent = await self._notice(
            "ten_day_return",
            "The 10-day return to the LA",
            facts={
                "days": str(days + prior),
                "this_episode_days": str(days),
                "through": day(today),
                "pattern": pattern,
                "marks": self._marks_summary(),
                "calls": "\n".join(
                    f"{short(a.at)} {a.label} by {a.by}: {a.outcome}" for a in self._attempts()
                ),
                "letter": self._letter_words(),
                "visit": self.visit.outcome.words if self.visit else "no outcome recorded",
                "risk": self.risk.words,
                "referred": short(self.referred_at) if self.referred_at else "",
            },
            step="ten_day_return",
        )
        if self._accepted(sent, "la_cme"):
            self._log(
                f"10-day return sent to the LA ({days + prior} school days of absence)",
                SYSTEM,
                pattern or f"continuous since {day(self.case.first_day_absent)}",
            )
            self.told.append(f"the LA: 10-day return e-mailed {short(workflow.now())}")
        self._publish()

    def _attempts(self) -> list[ContactAttempt]:
        return [
            ContactAttempt(
                label=slot.label,
                at=rec.at or workflow.now(),
                by=rec.by,
                number=rec.number,
                outcome=rec.outcome.words,
                note="; ".join(x for x in (rec.reason, rec.note) if x) or None,
            )
            for slot in CallSlot
            if (rec := self.calls.get(slot)) is not None
        ]

    def _letter_words(self) -> str:
        if self.letter is None:
            return "not sent"
        return (
            f"e-mailed to {self.letter.emailed} parent(s), {self.letter.printed} print copies to post; "
            f"deadline {short(self.letter.deadline)}"
        )

    def _marks_summary(self) -> str:
        keys = sorted(self.marks, key=lambda k: (k[0], k[1]))
        return "\n".join(f"{session_words(on, ses)}: {words(self.marks[(on, ses)])}" for on, ses in keys)

    # ------------------------------------------------------------------------------------
    # The school's enquiries (a checklist) and the LA's
    # ------------------------------------------------------------------------------------
    @workflow.update
    async def record_enquiry(self, rec: SchoolEnquiry) -> CaseStatus:
        rec = await self._acting(rec, "record_enquiry")
        self.enquiries[rec.item] = rec
        self._log(f"School enquiry recorded: {ENQUIRY_WORDS[rec.item]}", rec.by, rec.note)
        self._publish()
        return self._status()

    @record_enquiry.validator
    def _validate_enquiry(self, rec: SchoolEnquiry) -> None:
        self._check(rec, "record_enquiry")
        self._refuse_if_closed()
        match rec.item:
            case EnquiryItem.CALLS if not self.calls:
                raise ValueError("No call is recorded on this case: record the calls first (admin.py call).")
            case EnquiryItem.LETTER if self.letter is None:
                raise ValueError("No letter has gone on this case, so the letter cannot be ticked.")
            case EnquiryItem.VISIT if self.visit is None and not (
                self.plan is not None and self.plan.visit is VisitPlan.NONE
            ):
                raise ValueError(
                    "No home visit outcome is recorded on this case: record it first (admin.py visit)."
                )

    @workflow.update
    async def record_la_update(self, rec: LaUpdate) -> CaseStatus:
        rec = await self._acting(rec, "record_la_update")
        self.la_updates.append(rec)
        self.la_overdue_since = None
        if rec.kind is LaUpdateKind.ENQUIRY:
            what = "LA enquiries complete: the child has not been found" if rec.complete else "LA enquiries"
        else:
            what = "LA feedback to the school"
        self._log(what, rec.by, rec.note)
        self._publish()
        return self._status()

    @record_la_update.validator
    def _validate_la_update(self, rec: LaUpdate) -> None:
        self._check(rec, "record_la_update")
        self._refuse_if_closed()
        if self.referred_at is None and self.ten_day_return_at is None:
            raise ValueError(
                "The LA has not been told of this child yet (no referral, no 10-day return), so there "
                "is nothing for the LA to record."
            )
        if rec.complete and rec.kind is not LaUpdateKind.ENQUIRY:
            raise ValueError("--complete goes with the LA's enquiries (la-update CASE enquiry ...).")

    # ------------------------------------------------------------------------------------
    # The LA's decision, and the deletion rule
    # ------------------------------------------------------------------------------------
    @workflow.update
    async def record_la_decision(self, rec: LaDecisionRecord) -> CaseStatus:
        rec = await self._acting(rec, "record_la_decision")
        self.la_decisions.append(rec)
        self.la_overdue_since = None
        self._log(f"LA decision: {rec.decision.words}", rec.by, rec.note)
        if rec.decision is LaDecision.REMOVE_FROM_ROLL:
            self.removal = rec
        if rec.decision in CLOSING_LA_DECISIONS:
            self.closing = Closing(CLOSING_LA_DECISIONS[rec.decision], rec.by, rec.note)
        self._publish()
        return self._status()

    @record_la_decision.validator
    def _validate_la(self, rec: LaDecisionRecord) -> None:
        self._check(rec, "record_la_decision")
        self._refuse_if_closed()
        if self.referred_at is None:
            raise ValueError(
                "This case has not been referred to the local authority yet "
                f"(stage {self.stage.value}), so there is no LA decision to record."
            )
        if rec.decision is LaDecision.REMOVE_FROM_ROLL:
            missing = self._deletion_missing()
            if missing:
                raise ValueError("The pupil cannot be deleted from the roll yet: " + "; ".join(missing) + ".")

    def _register_days(self) -> tuple[int, date | None]:
        """Continuous school days coded G, N or O from Day 1, and the first day with no mark."""
        return continuous_days(self._sched.sessions.dates, self.marks, DELETION_CODES, self._today())

    def _register_view(self) -> dict[str, Any]:
        if self.schedule is None:
            return {}
        view: dict[str, Any] = {
            "register_days": self._register_days()[0],
            "ten_day_return_at": self.ten_day_return_at,
            "enquiries": [item.value for item in self.enquiries],
        }
        if self.referred_at is not None and self.closing is None:
            view["deletion_needs"] = self._deletion_missing()
        return view

    def _deletion_missing(self) -> list[str]:
        """What regulation 9(1)(i) still needs before this pupil may be deleted, in words."""
        missing = []
        count, gap = self._register_days()
        if count < DELETION_DAYS:
            words_ = (
                f"the register marks received show {count} continuous school days coded G, N or O "
                f"from {day(self.case.first_day_absent)}, and regulation 9(1)(i) needs at least "
                f"{DELETION_DAYS}"
            )
            if gap is not None:
                words_ += f" (no mark has been received for {day(gap)}: feed that day's register)"
            missing.append(words_)
        todo = [ENQUIRY_WORDS[item] for item in EnquiryItem if item not in self.enquiries]
        if todo:
            missing.append(
                "the school's enquiries are not all recorded (" + ", ".join(todo) + "; admin.py enquiry)"
            )
        if not any(u.kind is LaUpdateKind.ENQUIRY and u.complete for u in self.la_updates):
            missing.append(
                "the LA has not recorded that its own enquiries are complete "
                "(admin.py la-update CASE enquiry --complete --note ...)"
            )
        return missing

    async def _removed_from_roll(self) -> None:
        """The deletion return to the LA, and the office's lost-pupil Common Transfer File."""
        rec = self.removal
        count, _ = self._register_days()
        school = "\n".join(
            f"  {ENQUIRY_WORDS[i]}: {e.by}" + (f" ({e.note})" if e.note else "")
            for i, e in self.enquiries.items()
        )
        la = "\n".join(f"  {u.kind.value}: {u.note} ({u.by})" for u in self.la_updates)
        sent = await self._notice(
            "deletion_return",
            "The deletion return to the LA",
            facts={
                "ground": GROUND_9_1_I,
                "days": str(count),
                "new_address": (rec.new_address if rec else None) or "not known",
                "new_school": (rec.new_school if rec else None) or "not known",
                "decided_by": rec.by if rec else "",
                "school_enquiries": school,
                "la_enquiries": la,
            },
            step="deletion_return",
        )
        if self._accepted(sent, "la_cme"):
            self._log("Deletion return sent to the LA", SYSTEM, "ground: regulation 9(1)(i)")
        await self._mis_note("deletion", "note", "deleted_from_roll", "ground 9(1)(i); deletion return sent")
        new_school = rec.new_school if rec else None
        ctf = (
            f"Send the pupil's Common Transfer File (CTF) to the new school ({new_school}) through the "
            "DfE's School to School (S2S) service."
            if new_school
            # "XXX"/"XXXX" are the DfE's own codes for a destination not known (School to School
            # guidance, 2019, p. 15), not placeholders: the CTF then goes to the lost pupil database.
            else "No new school is known: create a 'lost pupil' Common Transfer File (CTF) with "
            'destination LA "XXX" and school "XXXX" (the DfE\'s codes for a destination not known) and '
            "upload it to the DfE's School to School (S2S) service, where it is held in the lost "
            "pupil database."
        )
        await self._office_task("the pupil is off roll: upload the Common Transfer File", ctf)
