"""The procedure on a real school day: calls in school hours, reminders, late starts, holidays.

A school's day is not a test harness: feeds arrive late, workers go down, staff forget to record
a call, DSLs are in meetings and the office goes home at four. So a call is prompted only while
the office is open; an outcome not recorded when it is due gets one reminder; the Day 1 call
unrecorded after two hours counts as no contact and the DSL is asked; a call-back that would fall
after closing becomes the next day's call, though the DSL is still asked at the two-hour mark.

A case that opens (or wakes) after calls fell due does not fire them all at once: it works out
where the procedure stands, asks the DSL at once if the child has been unexplained for over two
hours of school time, and sends the office ONE catch-up prompt (which school day it is, what is
overdue, what to do now), then carries on from the present. Before a school holiday, the DSL is
asked to check the case: forced marriage and FGM risks peak in the holidays.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from whereabouts.models import CallRecord
    from whereabouts.school_time import Holiday
    from whereabouts.times import short, when
    from whereabouts.vocabulary import CallOutcome, CmeStage

from whereabouts.workflows.outreach import Outreach
from whereabouts.workflows.state import SYSTEM, CallSlot

HOLIDAY_CHECK_BEFORE_CLOSE = timedelta(hours=3)  # the last school day's early afternoon
CALL_KINDS = {
    CallSlot.DAY1: ("day1_call", "Prompt the Day 1 call to the office"),
    CallSlot.DAY1_CALLBACK: ("day1_callback", "Prompt the call-back"),
    CallSlot.DAY2: ("day2_call", "Prompt the Day 2 call (mobile if possible)"),
    CallSlot.CATCH_UP: ("catch_up", "One catch-up prompt to the office: the case is behind"),
}


class Timing(Outreach):
    """Calls, reminders and catch-ups in school time; the pre-holiday check."""

    async def _call(self, slot: CallSlot, due: datetime, until: datetime) -> None:
        """Prompt a call when it is due (in school hours) and wait for its outcome until ``until``.

        A call whose school day ended before the case reached it (the case opened, or woke, late)
        is not prompted on its own: one catch-up prompt stands for every step overdue.
        """
        if self.caught_up_at is not None and due <= self.caught_up_at:
            return  # the catch-up prompt already asked for it
        if workflow.now() >= self.times.close_of_day(due):
            await self._catch_up()
            return
        at = self.times.next_open(max(due, workflow.now()))
        self._enter(self.step, f"{slot.label}: the office phones home", at)
        if slot is CallSlot.DAY1:
            # A case opened out of hours: a call staff made before the prompt can be recorded.
            self.awaiting_call = slot
            await self._unexplained_too_long("the case opened")
        await self._sleep_until(at, f"wait for the {slot.label}, {short(at)}")
        facts = {}
        if slot is CallSlot.DAY2 and self.callback_merged is not None:
            facts["callback"] = short(self.callback_merged)
        if slot is CallSlot.DAY2 and self.reported_missing_at is not None:
            facts["missing"] = short(self.reported_missing_at)
        await self._prompt(slot, until, facts)
        await self._wait(lambda: slot in self.calls, until, f"{slot.label} outcome")
        rec = self.calls.get(slot)
        if rec is None:
            self._log(f"{slot.label} outcome not recorded by the end of the day", SYSTEM)
        elif slot is CallSlot.DAY1 and rec.outcome is CallOutcome.NO_ANSWER:
            await self._callback(rec, until)
        self.awaiting_call = None

    async def _prompt(self, slot: CallSlot, until: datetime, facts: dict[str, str] | None = None) -> None:
        """Ask the office for the call now; its outcome is due in two hours of school time."""
        kind, summary = CALL_KINDS[slot]
        outcome_due = self.times.add(workflow.now(), self._sched.outcome_due_seconds)
        stage = CmeStage.DAY2_CALL if slot is CallSlot.DAY2 else self.step
        recorded = slot in self.calls  # staff rang and recorded it before the prompt went
        self._enter(stage, f"record the {slot.label} outcome", workflow.now() if recorded else outcome_due)
        self.awaiting_call = None if recorded else slot
        self.call_times[slot] = workflow.now()
        if recorded and slot is not CallSlot.CATCH_UP:
            return
        sent = await self._notice(kind, summary, due_at=until, facts=facts)
        if self._accepted(sent, "office"):
            self._log(f"{slot.label} prompt e-mailed to the attendance office", SYSTEM)
        if not recorded:
            self._background(self._remind(slot, outcome_due))

    async def _callback(self, day1: CallRecord, until: datetime) -> None:
        """No answer: call back two hours later and ask the DSL (the seed: "risk assess after 2
        hours"). A call-back that would fall after the office closes becomes tomorrow's call;
        the DSL is still asked at the two-hour mark: safeguarding never waits for the morning."""
        back_at = (day1.at or workflow.now()) + self._sched.callback_after
        why = "no answer on the Day 1 call and 2 hours have passed"
        if back_at >= self.times.close_of_day(day1.at or workflow.now()):
            self.callback_merged = day1.at or workflow.now()
            self._enter(CmeStage.DAY1_CALLBACK, "no call-back today (after hours): the Day 2 call", until)
            self._log(
                "Call-back would fall after school hours: the Day 2 call will be the call-back",
                SYSTEM,
                f"no answer at {short(day1.at)}; the DSL is asked at {short(back_at)}",
            )
            await self._sleep_until(back_at, f"2 hours after no answer, {short(back_at)}: ask the DSL")
            await self._ask_dsl(why)
            return
        self._enter(CmeStage.DAY1_CALLBACK, "call back (2 hours after no answer)", back_at)
        await self._sleep_until(back_at, f"2 hours after no answer, {short(back_at)}")
        await self._prompt(CallSlot.DAY1_CALLBACK, until)
        await self._ask_dsl(why)
        await self._wait(lambda: CallSlot.DAY1_CALLBACK in self.calls, until, "call-back outcome")

    async def _remind(self, slot: CallSlot, due: datetime) -> None:
        """One reminder to the office when a call's outcome is due and not recorded. The Day 1
        call unrecorded after two hours counts as no contact: the DSL is asked."""
        key = f"{slot.label} outcome"
        self.due[key] = due
        if await self._wait_quietly(lambda: self.awaiting_call is not slot, due, f"{key} due"):
            return
        if self.closing is not None:
            return
        await self._notice(
            "outcome_reminder",
            f"Remind the office: {key} not recorded",
            facts={"what": key, "asked": short(self.call_times.get(slot)), "slot": slot.value},
            step=f"{slot}_reminder",
        )
        self._log(f"Reminder to the office: {key} not recorded", SYSTEM, f"due {short(due)}")
        self._publish()  # the Web UI shows it overdue from now
        if slot in (CallSlot.DAY1, CallSlot.CATCH_UP):
            await self._ask_dsl(f"no contact recorded 2 hours of school time after the {slot.label} prompt")

    async def _remind_visit(self, latest: datetime) -> None:
        """The visit's outcome is due by the end of the visit's day: one reminder next morning."""
        self.due["home visit outcome"] = latest
        at = self.times.next_open(latest + timedelta(seconds=1))
        if await self._wait_quietly(lambda: self.visit is not None, at, "home visit outcome due"):
            return
        if self.closing is not None or self.referred_at is not None:
            return
        await self._notice(
            "outcome_reminder",
            "Remind the office: home visit outcome not recorded",
            facts={"what": "home visit outcome", "asked": short(latest), "slot": "visit"},
            step="visit_reminder",
        )
        self._log("Reminder to the office: home visit outcome not recorded", SYSTEM, f"due {short(latest)}")
        self._publish()

    async def _catch_up(self) -> None:
        """The case reached a call after its day had ended: work out where the procedure stands,
        ask the DSL at once if the child has been unexplained for over 2 hours of school time,
        then send the office ONE prompt (in school hours) and carry on from the present."""
        await self._unexplained_too_long("the case was reached late")
        at = self.times.next_open(workflow.now())
        self._enter(self.step, "catch-up: the office phones home", at)
        self.awaiting_call = CallSlot.CATCH_UP  # a call made meanwhile can be recorded already
        await self._sleep_until(at, f"catch-up prompt at the school's opening, {short(at)}")
        self.caught_up_at = workflow.now()
        day = self.times.day_number(workflow.now())
        overdue, now = self._where_it_stands()
        n_rule = self._n_sessions() if workflow.now() >= self._n_rule_day() else []
        if n_rule:
            overdue.append(f"the 5-day N rule (Day 4, {short(self._n_rule_day())})")
            now.append(self._n_rule_words(n_rule))
        self._log(
            f"Case behind its schedule on school day {day}: one catch-up prompt to the office",
            SYSTEM,
            "overdue: " + "; ".join(overdue),
        )
        self.step = CmeStage.DAY2_CALL if day >= 2 else CmeStage.DAY1_CALL
        until = self.times.close_of_day(workflow.now())
        await self._prompt(
            CallSlot.CATCH_UP,
            until,
            facts={"school_day": str(day), "overdue": "\n".join(overdue), "now": "\n".join(now)},
        )
        if n_rule:  # the prompt asked for it: write the changes back
            await self._replace_n(n_rule, first=True, mail=False)

    async def _unexplained_too_long(self, when: str) -> None:
        """Over 2 hours of school time unexplained already (a late feed, a PM mark reported in
        the evening): the DSL is asked at once, as the seed's "risk assess after 2 hours" says."""
        s = self._sched
        unexplained = self.times.between(s.counts_from, workflow.now())
        if unexplained > s.callback_after_seconds:
            hours = unexplained / s.callback_after_seconds * 2
            await self._ask_dsl(
                f"the child had been unexplained for about {hours:.0f} hours of school time when {when}"
            )

    def _where_it_stands(self) -> tuple[list[str], list[str]]:
        """What is overdue, and what to do now, as the catch-up prompt lists them."""
        s, now = self._sched, workflow.now()
        overdue = [f"the {slot.label} (due {short(at)})" for slot, at in self._calls_due(now)]
        todo = ["Phone home now, on every number (a mobile if you can), and record the outcome."]
        if self.letter is None and s.day3_letter <= self.times.close_of_day(now):
            deadline = self.times.letter_deadline(now)
            if s.day3_letter < now:
                overdue.append(f"the Day 3 letter (due {short(s.day3_letter)})")
            todo.append(f"The Day 3 letter goes to the family today; their deadline is {when(deadline)}.")
        if self.referred_at is None and s.day10_referral < now:
            overdue.append(f"Day 10: the referral to the LA (due {short(s.day10_referral)})")
            todo.append("The referral to the LA goes once the letter's deadline has passed.")
        return overdue, todo

    def _calls_due(self, now: datetime) -> list[tuple[CallSlot, datetime]]:
        s = self._sched
        due = [(CallSlot.DAY1, s.counts_from), (CallSlot.DAY2, s.day2_call)]
        return [(slot, at) for slot, at in due if slot not in self.calls and at < now]

    async def _holiday_checks(self) -> None:
        """Before each school holiday the case is open over, with its next step after the
        holiday starts, ask the DSL to check it (forced marriage and FGM risks peak then)."""
        if self._sched.compressed:
            return  # a rehearsal's school days run back to back: it has no holidays
        while self.closing is None:
            version = self.calendar_version
            recorded = self._sched.sessions.closes[-1]
            ahead = [
                h
                for h in self.times.holidays_between(workflow.now(), recorded)
                if h.last_day not in self.holiday_checks
            ]
            if not ahead:  # none left in the recorded days: wait for more of them
                await self._wait_quietly(lambda v=version: self.calendar_version != v, recorded, "more days")  # type: ignore[misc]
                if self.calendar_version == version:
                    return
                continue
            holiday = ahead[0]
            at = holiday.closes - HOLIDAY_CHECK_BEFORE_CLOSE
            await self._wait_quietly(lambda: False, at, f"pre-holiday check, {short(at)}")
            if self.closing is not None:
                return
            if self.next_action_at is not None and self.next_action_at > holiday.closes:
                await self._holiday_check(holiday)
            self.holiday_checks.add(holiday.last_day)

    async def _holiday_check(self, holiday: Holiday) -> None:
        if holiday.last_day in self.holiday_checks:
            return
        self.holiday_checks.add(holiday.last_day)
        resumes = holiday.resumes.strftime("%a %-d %b %Y") if holiday.resumes else "after the holiday"
        await self._notice(
            "pre_holiday_check",
            "Ask the DSL to check the case before the holiday",
            facts={"last_day": holiday.last_day.strftime("%a %-d %b %Y"), "resumes": resumes},
            step=f"holiday_{holiday.last_day.isoformat()}",
        )
        self._log("Pre-holiday check asked of the DSL", SYSTEM, f"school closes {short(holiday.closes)}")
