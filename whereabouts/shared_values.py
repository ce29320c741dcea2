"""One copy, for every case a worker holds, of the large values that are the same in many cases.

Why: a worker keeps every open case in memory between its steps (the sticky cache), and most
of a waiting case's own data is the same as its neighbours': every case of a school holds the
same roster of people who may act on it (``identity.Roster``: names, roles, public keys), and
every case of a school opened on the same day holds the same 60 school days, their openings and
closings (``school_time.Sessions``). Decoded per case, the two made up about a sixth of what a
waiting case cost the worker (``bench.carry``, bench/RESULTS.md).

How, deterministically: the workflow passes what an activity returned through the functions
below, which answer with the value decoded from the same JSON the first time any case met it,
so a case holds exactly what decoding its own activity result would have given it, whichever
case met it first (and a replay, meeting it afresh, gets the same). The shared values are
immutable (frozen models of tuples), so no case can change another's. The caches are bounded:
a directory or calendar that changes only adds a new entry and lets the old one age out.

This module is passed through the workflow sandbox (``whereabouts/sandbox.py``): its caches
are per process, which is the point, and hold nothing that depends on which case asked first.
"""

from __future__ import annotations

import functools

from pydantic import TypeAdapter

from whereabouts.case_schedule import CaseSchedule
from whereabouts.identity import Person, Roster
from whereabouts.school_time import Sessions

# Distinct values a worker meets at once: schools x (school-day runs, roster versions). An LA's
# worker serves a few hundred schools; past the bound a value is decoded per case again.
MAX_SHARED = 2048

_PEOPLE = TypeAdapter(tuple[Person, ...])


@functools.lru_cache(maxsize=MAX_SHARED)
def _sessions_from(json: str) -> Sessions:
    return Sessions.model_validate_json(json)


@functools.lru_cache(maxsize=MAX_SHARED)
def _people_from(json: bytes) -> tuple[Person, ...]:
    return _PEOPLE.validate_json(json)


def shared_sessions(sessions: Sessions) -> Sessions:
    """``sessions``, as the one shared copy of its value."""
    return _sessions_from(sessions.model_dump_json())


def shared_schedule(schedule: CaseSchedule) -> CaseSchedule:
    """``schedule`` with its school days shared (the rest of it is the case's own)."""
    sessions = shared_sessions(schedule.sessions)
    dates = sessions.dates if schedule.school_dates == sessions.dates else schedule.school_dates
    return schedule.model_copy(update={"sessions": sessions, "school_dates": dates})


def shared_roster(roster: Roster) -> Roster:
    """``roster`` with its people shared (when it was loaded is the case's own)."""
    return roster.model_copy(update={"people": _people_from(_PEOPLE.dump_json(roster.people))})
