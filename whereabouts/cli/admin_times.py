"""Times staff type to ``admin.py``: a due date to list by, and when something was done.

Staff read and write times in school time (Europe/London), and mostly type a clock time for
today ("--at 09:40" for the call made this morning); scripts type ISO date-times. Every one is
read here into a UTC instant, the way the case keeps it. A time that cannot be read is an
argparse error naming the option; a time of something done that lies in the future is refused
in one line (``Misused``, exit 2) before anything is sent: a chronology entry says when a thing
happened, so it must not be a guess ahead of the clock.
"""

from __future__ import annotations

import argparse
import contextlib
import re
from datetime import UTC, date, datetime, time, timedelta

from whereabouts.times import LONDON, when

CLOCK_TIME = re.compile(r"^(\d{1,2})[:.](\d{2})$")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
ISO_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{1,2}:\d{2}")


class Misused(Exception):
    """What was typed reads, but cannot be right (a call made in the future): exit 2, one line."""


def now() -> datetime:
    """The moment a command runs, as every typed time is read against (tests set it)."""
    return datetime.now(UTC)


def _utc(moment: datetime) -> datetime:
    """A typed moment as a UTC instant: in school time unless it names its zone."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=LONDON)).astimezone(UTC)


def due_date(text: str) -> datetime:
    """'today', 'tomorrow', a date (midnight, school time) or an ISO date-time, as a UTC instant."""
    word = text.strip().lower()
    today = now().astimezone(LONDON).date()
    days = {"today": 0, "tomorrow": 1}
    try:
        if word in days:
            return _utc(datetime.combine(today + timedelta(days=days[word]), time()))
        if ISO_DATE.match(word):
            return _utc(datetime.combine(date.fromisoformat(word), time()))
        return _utc(datetime.fromisoformat(text.strip()))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date: use YYYY-MM-DD, an ISO date-time, 'today' or 'tomorrow'"
        ) from None


def past_time(text: str) -> datetime:
    """--at: 'HH:MM' today in school time, or a date and time, as a UTC instant. That it is not
    in the future is checked once the record is built (``not_future``), in one line."""
    word = text.strip()
    moment: datetime | None = None
    if m := CLOCK_TIME.match(word):
        with contextlib.suppress(ValueError):
            moment = datetime.combine(now().astimezone(LONDON).date(), time(int(m[1]), int(m[2])))
    elif ISO_DATE_TIME.match(word):
        with contextlib.suppress(ValueError):
            moment = datetime.fromisoformat(word)
    if moment is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time: use HH:MM (today, school time) or a date and time (YYYY-MM-DDTHH:MM)"
        )
    return _utc(moment)


def not_future(at: datetime | None, option: str = "--at") -> datetime | None:
    """``at`` (None: now, as the case records it), or ``Misused`` if it has not happened yet."""
    if at is not None and at > now():
        raise Misused(f"{option}: {when(at)} is in the future: give the time it happened (default: now)")
    return at
