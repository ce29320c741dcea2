"""The register is the truth: what the MIS's marks do to a case, and what the case writes back.

Every mark the feed sends for an open case arrives here (``feed_mark``), is kept in the
chronology once, and is read as the 2024 regulations mean it (``register_codes``): a present or
late mark for the case's session or later means the child was seen; an authorised or explained
code (illness, medical, leave, suspension, ...) closes the case as explained, with the code;
N, O and G keep it going. A correction in the MIS (N changed to I, or to L when the child turned
up at 10:20) is just such a later mark for the same session, so it closes the case too.

Code N must be replaced within 5 school days (regulation 10; *Working together to improve
school attendance*, 2024): before the case's fifth school day the office is told which code
each N session should become (O, the reason still unknown) and the MIS write-back carries each
change. When the case closes on a reason with its code, every absence session gets that code.

A closed episode is not chased twice for the same absence: an N mark for a day the parent's
explanation covers ("off until Wednesday") starts a short correction case that asks the office
to correct the register and closes; an N after a recent episode starts a new case that names
the previous one, and repeated episodes go to the DSL.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from whereabouts.models import FeedStamp, PreviousEpisode
    from whereabouts.register_codes import (
        N_CODE_SCHOOL_DAYS,
        UNKNOWN_AFTER_FIVE_DAYS,
        MarkMeaning,
        at_or_after,
        meaning,
        session_key,
        words,
    )
    from whereabouts.steps import MisLine
    from whereabouts.times import LONDON, day, short
    from whereabouts.vocabulary import CmeOutcome

from whereabouts.workflows.staff import StaffActions
from whereabouts.workflows.state import SYSTEM, Closing

MIS_FEED = "MIS feed"
LINK_WITHIN = timedelta(days=28)  # an episode closed within 4 school weeks is the same pattern
REPEATED_DAYS = 5  # a linked episode this long (or a third episode) goes to the DSL
N_REMINDER_SCHOOL_DAYS = 5  # N marks still arriving after the prompt: one reminder a school week


def session_words(on: date, session: str) -> str:
    return f"{day(on)} {session}" if session else f"{day(on)} (the day's mark)"


class Register(StaffActions):
    """The MIS's marks in, the structured write-back out, and the episodes of one pupil."""

    # ------------------------------------------------------------------------------------
    # Marks in
    # ------------------------------------------------------------------------------------
    @workflow.signal
    async def feed_mark(self, mark: FeedStamp) -> None:
        """A mark from the MIS for this pupil: kept once, then read as the regulations mean it."""
        if await self._signal_ok(mark, "feed_mark") is None or self.closing is not None:
            return
        on, session, code = mark.attendance_date, mark.session or "", mark.attendance_code.upper()
        if not at_or_after(on, session, self.case.first_day_absent, self.case.first_session):
            return  # before this absence began (a re-fed old file): it says nothing since
        if (on, session, code) in self.feed_marks:
            return
        self.feed_marks.add((on, session, code))
        self.marks[(on, session)] = code
        where = session_words(on, session)
        match meaning(code):
            case MarkMeaning.SEEN:
                self._log(f"MIS: the child is in school: register {words(code)}", MIS_FEED, where)
                self.closing = Closing(
                    CmeOutcome.CHILD_SEEN,
                    MIS_FEED,
                    f"register mark {words(code)}, {where}",
                    from_register=True,
                )
            case MarkMeaning.EXPLAINED:
                self._log(f"MIS: the absence is explained in the register: {words(code)}", MIS_FEED, where)
                self.closing = Closing(
                    CmeOutcome.EXPLAINED_ABSENCE,
                    MIS_FEED,
                    f"register mark {words(code)}, {where}",
                    code=code,
                    from_register=True,
                )
            case MarkMeaning.NOT_A_MARK:
                self._log(f"MIS: register {words(code)}", MIS_FEED, where)
            case MarkMeaning.UNEXPLAINED:
                self._log(f"MIS: still absent: register {words(code)}", MIS_FEED, where)
        self._publish()

    def _absence_sessions(self) -> list[tuple[date, str]]:
        """The sessions the register shows this child absent and unexplained (N, O or G)."""
        return sorted(
            (k for k, code in self.marks.items() if meaning(code) is MarkMeaning.UNEXPLAINED),
            key=lambda k: session_key(*k),
        )

    def _n_sessions(self) -> list[tuple[date, str]]:
        """N sessions not yet written back with their new code."""
        return [k for k in self._absence_sessions() if self.marks[k] == "N" and k not in self.written]

    # ------------------------------------------------------------------------------------
    # The 5-day N rule
    # ------------------------------------------------------------------------------------
    async def _n_code_rule(self) -> None:
        """Before the fifth school day, tell the office the code each N should become (O: the
        reason is still unknown) and write each change back; later N marks once a school week."""
        # An hour into Day 4 (the day's marks are in); a case behind its schedule has the rule
        # in its one catch-up prompt instead (``timing.py``), which comes at the opening.
        at = self._n_rule_day()
        hour = self._sched.callback_after_seconds / 2  # school time, scaled in a rehearsal
        while self.closing is None:
            at = self.times.add(self.times.next_open(max(at, workflow.now())), hour)
            await self._wait_quietly(lambda: False, at, f"5-day N rule, {short(at)}")
            if self.closing is not None:
                return
            sessions = self._n_sessions()
            if sessions:
                await self._replace_n(sessions, first=self.n_rule_at is None)
            at = self._opening_of(self.times.day_number(workflow.now()) + N_REMINDER_SCHOOL_DAYS)

    def _n_rule_day(self) -> datetime:
        """The opening of the school day before the fifth: Day 4."""
        return self._sched.sessions.opens[N_CODE_SCHOOL_DAYS - 2]

    def _n_rule_words(self, sessions: list[tuple[date, str]]) -> str:
        target = UNKNOWN_AFTER_FIVE_DAYS
        marks = ", ".join(session_words(on, ses) for on, ses in sessions)
        return (
            f"Replace code N with {target} in the register for: {marks} (N must be replaced within "
            "5 school days; mark further days O while the reason is unknown)."
        )

    async def _replace_n(self, sessions: list[tuple[date, str]], *, first: bool, mail: bool = True) -> None:
        target = UNKNOWN_AFTER_FIVE_DAYS
        self.n_rule_at = self.n_rule_at or workflow.now()
        listed = "\n".join(f"  {session_words(on, ses)}: N -> {target}" for on, ses in sessions)
        why = "the reason has not been established: the school could not reach the family"
        await self._mis(
            f"n_rule_{len(self.written)}",
            [
                MisLine(
                    step=f"mark_{on.isoformat()}_{ses or 'day'}_{target}",
                    kind="mark_change",
                    mark_date=on,
                    session=ses or None,
                    old_code="N",
                    new_code=target,
                    comment=f"5-day N rule: {why}",
                )
                for on, ses in sessions
            ],
        )
        for key in sessions:
            self.written[key] = target
        title = "replace code N in the register (5-day rule)" if first else "code N still in the register"
        body = (
            "Code N (reason not yet established) must be replaced within 5 school days "
            "(School Attendance (Pupil Registration) (England) Regulations 2024, regulation 10). "
            f"The reason for this pupil's absence is still unknown, so these marks should become "
            f"{target} (absent in other or unknown circumstances):\n{listed}\n"
            f"While the reason stays unknown, mark further days {target}, not N. If the family "
            "gives a reason later, Whereabouts writes the reason's code back over these."
        )
        if mail:
            await self._office_task(title, body)
        self._log(
            f"5-day N rule: the office asked to replace N with {target} ({len(sessions)} sessions)",
            SYSTEM,
            "; ".join(session_words(on, ses) for on, ses in sessions),
        )

    # ------------------------------------------------------------------------------------
    # Marks out: what the closing writes back
    # ------------------------------------------------------------------------------------
    async def _register_on_close(self, closing: Closing) -> None:
        await self._mis("register_reason", self._register_close_lines(closing))

    def _register_close_lines(self, closing: Closing) -> list[MisLine]:
        """A reason with its code: every absence session becomes that code. A reason without a
        code: a reason line for each, for the office to code. A mark the register itself has
        (or a correction case, which wrote its own line): nothing more to write."""
        if closing.from_register or closing.outcome not in (
            CmeOutcome.EXPLAINED_ABSENCE,
            CmeOutcome.PARENT_CONTACT,
        ):
            return []
        sessions = self._absence_sessions()
        reason = closing.detail or "reason recorded on the case"
        if closing.code:
            lines = [
                MisLine(
                    step=f"mark_{on.isoformat()}_{ses or 'day'}_{closing.code}",
                    kind="mark_change",
                    mark_date=on,
                    session=ses or None,
                    old_code=self.written.get((on, ses), self.marks[(on, ses)]),
                    new_code=closing.code,
                    comment=f"reason: {reason} (recorded by {closing.by})",
                )
                for on, ses in sessions
                if self.written.get((on, ses), self.marks[(on, ses)]) != closing.code
            ]
        else:
            lines = [
                MisLine(
                    step=f"reason_{on.isoformat()}_{ses or 'day'}",
                    kind="reason",
                    mark_date=on,
                    session=ses or None,
                    old_code=self.written.get((on, ses), self.marks[(on, ses)]),
                    comment=f"reason: {reason} (recorded by {closing.by}); choose the code that fits",
                )
                for on, ses in sessions
            ]
        return lines

    def _episode_memo(self, closing: Closing, *, one_field: bool) -> None:
        """What the next case for this pupil reads (through the feed): when and how this one
        closed, how long the child was absent, and how far an explanation covers. A correction
        case carries its episode's figures on unchanged: it is not an episode of its own.

        ``one_field``: as one memo field, ``episode`` (one encrypted payload, not seven, on the
        task that closes the case); cases closed before keep the seven fields, which the feed
        still reads (``feed/intake.py`` ``_previous``)."""
        prev, linked = self.case.previous, self._linked_previous()
        if self._covered() and prev is not None:
            days, total, episodes = prev.school_days, prev.linked_days, prev.episodes
            until, code = prev.covered_until, prev.covered_code
        else:
            days = self._episode_days(closing)
            total = (linked.linked_days if linked else 0) + days
            episodes = (linked.episodes if linked else 0) + 1
            explained = closing.outcome in (CmeOutcome.EXPLAINED_ABSENCE, CmeOutcome.PARENT_CONTACT)
            until, code = (closing.until if explained else None), closing.code
        fields = {
            "closed_on": self._today().isoformat(),
            "outcome": closing.outcome.value,
            "school_days": str(days),
            "linked_days": str(total),
            "episodes": str(episodes),
            "covered_until": until.isoformat() if until else "",
            "covered_code": code or "",
        }
        workflow.upsert_memo({"episode": fields} if one_field else dict(fields))

    def _today(self) -> date:
        """Today's school date (the case's own calendar; the rehearsal's compressed days too)."""
        if self.schedule is None:
            return workflow.now().astimezone(LONDON).date()
        return self.times.date_of(self.times.day_number(workflow.now()))

    def _opening_of(self, number: int) -> datetime:
        """When school day ``number`` of the case opens (past the recorded days: weekdays on)."""
        opens = self._sched.sessions.opens
        if number <= len(opens):
            return opens[max(number, 1) - 1]
        at = opens[-1]
        for _ in range(number - len(opens)):
            at = self.times.next_open(self.times.close_of_day(at))
        return at

    def _episode_days(self, closing: Closing) -> int:
        """School days the case was open before the child was seen or the absence explained."""
        if self.schedule is None:
            return 0
        n = self.times.day_number(workflow.now())
        return max(1, n - 1) if closing.outcome is CmeOutcome.CHILD_SEEN else n

    # ------------------------------------------------------------------------------------
    # Episodes: an explanation that covers the mark, a recent episode, a pattern
    # ------------------------------------------------------------------------------------
    def _linked_previous(self) -> PreviousEpisode | None:
        """The previous episode, when it closed recently enough to be the same pattern."""
        prev = self.case.previous
        if prev is None or self.case.first_day_absent - prev.closed_on > LINK_WITHIN:
            return None
        return prev

    def _covered(self) -> bool:
        """The parent's explanation on the last episode covers this N mark's day."""
        prev = self.case.previous
        return bool(prev and prev.covered_until and self.case.first_day_absent <= prev.covered_until)

    async def _register_correction(self) -> None:
        """An N the explanation already covers: ask the office to correct it; no chase."""
        prev = self.case.previous
        assert prev is not None and prev.covered_until is not None
        mark = session_words(self.case.first_day_absent, self.case.first_session or "")
        code = prev.covered_code
        self._log(
            "N mark already explained: no new chase; the office is asked to correct the register",
            SYSTEM,
            f"{mark}; the explanation recorded on {day(prev.closed_on)} covers until "
            f"{day(prev.covered_until)}",
        )
        target = f"to {code} ({words(code)})" if code else "to the code the reason calls for"
        at = self.times.next_open(workflow.now())  # an office prompt: school hours
        self._enter(self.step, "the office corrects the register", at)
        await self._sleep_until(at, f"ask the office to correct the register, {short(at)}")
        await self._office_task(
            "correct a mark in the register (already explained)",
            f"The register shows N for {mark}, but the reason was given on {day(prev.closed_on)}: "
            f"the child is off until {day(prev.covered_until)}. Please correct the mark {target}. "
            "No new chase has started.",
        )
        line = MisLine(
            step="correction",
            kind="mark_change" if code else "reason",
            mark_date=self.case.first_day_absent,
            session=self.case.first_session,
            old_code="N",
            new_code=code,
            comment=f"explained on {prev.closed_on.isoformat()}, off until {prev.covered_until.isoformat()}",
        )
        await self._mis("correction", [line])
        self.closing = Closing(
            CmeOutcome.EXPLAINED_ABSENCE,
            SYSTEM,
            f"already explained: off until {day(prev.covered_until)}",
            code=code,
            from_register=True,
        )

    async def _previous_episode(self) -> None:
        """A new case names the previous episode; a pattern of them goes to the DSL."""
        prev = self._linked_previous()
        if prev is None:
            return
        self._log(
            "Absent again after a recent episode",
            SYSTEM,
            f"previous episode from {day(prev.first_day)}, {prev.school_days} school days, closed "
            f"{day(prev.closed_on)} ({prev.outcome.replace('_', ' ')}); {prev.linked_days} school days "
            f"unexplained over {prev.episodes} recent episode(s)",
        )
        if prev.school_days >= REPEATED_DAYS or prev.episodes >= 2:
            await self._ask_dsl(
                f"repeated episodes of absence: {prev.linked_days} school days unexplained over "
                f"{prev.episodes} episode(s) before this one (the last closed {day(prev.closed_on)}, "
                f"{prev.outcome.replace('_', ' ')}); absent again from {day(self.case.first_day_absent)}"
            )
