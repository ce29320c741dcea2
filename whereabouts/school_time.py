"""School time, worked out from a case's recorded school days: pure arithmetic, no calendar.

The schedule activity records each school day's opening and closing (from the directory's term
dates, its hours and the bank holidays) once, in the case's history. From then on, "the next
opening", "two hours of school time", "which school day is it" and "three working days from the
letter" are arithmetic on that list, so the workflow can answer them deterministically at any
moment (a late start, a worker back after a weekend) and an activity can answer them the same way.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from pydantic import BaseModel, ConfigDict

LETTER_SCHOOL_DAYS = 3  # the seed: "give the parents/carers 3 working days to make contact"
HOLIDAY_GAP = timedelta(days=4)  # more than a long weekend between two school days: a holiday
EXTEND_BEYOND = timedelta(days=14)


class Sessions(BaseModel):
    """A run of school days: each one's date, opening and closing (UTC), and two offsets into the
    day (the afternoon session and the home-visit slot) as the school's hours give them.

    Immutable: the cases of a school share one copy (``whereabouts/shared_values.py``)."""

    model_config = ConfigDict(frozen=True)

    dates: tuple[date, ...]
    opens: tuple[datetime, ...]
    closes: tuple[datetime, ...]
    afternoon_offset_seconds: float
    visit_offset_seconds: float


@dataclass(frozen=True)
class Holiday:
    """A school holiday: the last school day before it closes at ``closes``; school ``resumes``."""

    last_day: date
    closes: datetime
    resumes: date | None


class SchoolTime:
    """Questions about school time, answered from recorded ``Sessions``.

    Past the last recorded day (a case waiting on the LA for months, a letter held up for weeks)
    the school days run on as weekdays at the same hours, so every question still has an answer;
    the case's own calendar is what it recorded, and no calendar data is read here.
    """

    def __init__(self, sessions: Sessions) -> None:
        self.s = sessions  # shared and immutable: extended into a copy of its own

    def _extend(self, t: datetime) -> None:
        """Weekdays after the recorded days, until past ``t`` and a fortnight beyond it."""
        s = self.s
        if not s.opens or s.opens[-1] >= t + EXTEND_BEYOND:
            return
        dates, opens, closes = list(s.dates), list(s.opens), list(s.closes)
        while opens[-1] < t + EXTEND_BEYOND:
            step = 3 if dates[-1].weekday() == 4 else 1
            gap = timedelta(days=step)
            dates.append(dates[-1] + gap)
            opens.append(opens[-1] + gap)
            closes.append(closes[-1] + gap)
        self.s = s.model_copy(update={"dates": tuple(dates), "opens": tuple(opens), "closes": tuple(closes)})

    def _day(self, t: datetime) -> int:
        """Index of the school day that has most recently opened at ``t`` (-1: before the first)."""
        self._extend(t)
        return bisect_right(self.s.opens, t) - 1

    def in_hours(self, t: datetime) -> bool:
        i = self._day(t)
        return i >= 0 and t < self.s.closes[i]

    def next_open(self, t: datetime) -> datetime:
        """``t`` if the school is open then, else its next opening (``t`` beyond the known days)."""
        if self.in_hours(t):
            return t
        i = self._day(t) + 1
        return self.s.opens[i] if i < len(self.s.opens) else t

    def close_of_day(self, t: datetime) -> datetime:
        """When the school day that ``t`` falls in (or the next one, out of hours) closes."""
        i = max(self._day(self.next_open(t)), 0)
        return self.s.closes[min(i, len(self.s.closes) - 1)]

    def day_number(self, t: datetime) -> int:
        """Which school day of the case it is at ``t``: 1 until Day 2 opens, and so on."""
        return max(self._day(t), 0) + 1

    def date_of(self, number: int) -> date:
        return self.s.dates[min(number, len(self.s.dates)) - 1]

    def add(self, t: datetime, seconds: float) -> datetime:
        """The moment ``seconds`` of school time after ``t`` (time out of hours does not count)."""
        left = timedelta(seconds=seconds)
        t = self.next_open(t)
        i = self._day(t)
        while 0 <= i < len(self.s.opens):
            room = self.s.closes[i] - t
            if left <= room:
                return t + left
            left -= room
            i += 1
            if i < len(self.s.opens):
                t = self.s.opens[i]
        return t + left  # beyond the known days: count on as if the school never closed

    def between(self, a: datetime, b: datetime) -> float:
        """Seconds of school time from ``a`` to ``b``."""
        total = timedelta(0)
        for opens, closes in zip(self.s.opens, self.s.closes, strict=True):
            start, end = max(a, opens), min(b, closes)
            if end > start:
                total += end - start
        return total.total_seconds()

    def letter_deadline(self, sent: datetime) -> datetime:
        """Close of the third school day, counting the day the letter goes if it goes before the
        afternoon session (the family then has that day, and the two after it)."""
        t = self.next_open(sent)
        i = self._day(t)
        if t >= self.s.opens[i] + timedelta(seconds=self.s.afternoon_offset_seconds):
            i += 1
        last = min(i + LETTER_SCHOOL_DAYS - 1, len(self.s.closes) - 1)
        return self.s.closes[last]

    def visit_after(self, deadline: datetime) -> tuple[datetime, datetime, date]:
        """The home-visit slot on the school day after ``deadline``: (slot, latest, date)."""
        i = min(self._day(deadline) + 1, len(self.s.opens) - 1)
        slot = self.s.opens[i] + timedelta(seconds=self.s.visit_offset_seconds)
        return slot, self.s.closes[i], self.s.dates[i]

    def next_visit_slot(self, after: datetime) -> tuple[datetime, datetime, date]:
        """The first home-visit slot later than ``after``: (slot, latest, date)."""
        offset = timedelta(seconds=self.s.visit_offset_seconds)
        i = max(self._day(after), 0)
        while i < len(self.s.opens) - 1 and self.s.opens[i] + offset <= after:
            i += 1
        return self.s.opens[i] + offset, self.s.closes[i], self.s.dates[i]

    def opening_of_day(self, t: datetime) -> datetime:
        """When the school day ``t`` falls in (its closing included) opened; out of hours, the
        next school day's opening."""
        i = self._day(t)
        if i >= 0 and t <= self.s.closes[i]:
            return self.s.opens[i]
        return self.next_open(t)

    def holidays_between(self, a: datetime, b: datetime) -> list[Holiday]:
        """School holidays whose last school day closes between ``a`` and ``b``."""
        out = []
        for i in range(len(self.s.dates) - 1):
            if a <= self.s.closes[i] < b and self.s.dates[i + 1] - self.s.dates[i] > HOLIDAY_GAP:
                out.append(Holiday(self.s.dates[i], self.s.closes[i], self.s.dates[i + 1]))
        return out

    def ends(self) -> datetime:
        return self.s.closes[-1]
