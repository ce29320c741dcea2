"""What a register mark means for a child missing from education: the 2024 codes, one place.

The School Attendance (Pupil Registration) (England) Regulations 2024, regulation 10
(https://www.legislation.gov.uk/uksi/2024/208/regulation/10/made), lists the codes a school
must use; *Working together to improve school attendance* (DfE, statutory from 19 August 2024)
explains them. A CME case needs one question answered of each mark the MIS sends for its pupil:
was the child seen, is the absence explained, or is the reason still unknown? Everything that
follows (closing a case, the 5-day N rule, the 10-day return, the 20-day deletion rule) asks it
here, so the feed, the workflow and the README agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from enum import StrEnum


class MarkMeaning(StrEnum):
    SEEN = "seen"  # the child was in school (present, late), so the child has been seen
    EXPLAINED = "explained"  # authorised, approved off-site, or unable to attend: accounted for
    UNEXPLAINED = "unexplained"  # N, O, G: the child is absent and not accounted for
    NOT_A_MARK = "not_a_mark"  # administrative: not on roll yet, planned closure


# Regulation 10, tables 1 to 6, in the words staff read in a chronology.
CODE_WORDS: dict[str, str] = {
    "/": "present",
    "\\": "present",
    "L": "late, arrived before the register closed",
    "U": "arrived after the register closed",
    "K": "attending provision arranged by the local authority",
    "V": "on an educational visit or trip",
    "P": "at an approved sporting activity",
    "W": "on work experience",
    "B": "at another approved educational activity",
    "D": "attending another school where also registered",
    "C1": "leave: regulated performance or employment abroad",
    "M": "leave: medical or dental appointment",
    "J1": "leave: interview",
    "S": "leave: study leave",
    "X": "not required to attend (non-compulsory school age)",
    "C2": "leave: part-time timetable",
    "C": "leave: exceptional circumstances",
    "T": "parent travelling for occupational purposes",
    "R": "religious observance",
    "I": "illness",
    "E": "suspended or permanently excluded, no alternative provision",
    "Q": "unable to attend: lack of access arrangements",
    "Y1": "unable to attend: transport not available",
    "Y2": "unable to attend: widespread disruption to travel",
    "Y3": "unable to attend: part of the school premises closed",
    "Y4": "unable to attend: whole school site unexpectedly closed",
    "Y5": "unable to attend: in criminal justice detention",
    "Y6": "unable to attend: public health guidance or law",
    "Y7": "unable to attend: any other unavoidable cause",
    "G": "holiday not granted leave of absence",
    "O": "absent in other or unknown circumstances",
    "N": "reason for absence not yet established",
    "Z": "prospective pupil not on the admission register",
    "#": "planned whole or partial school closure",
}

SEEN_CODES = frozenset({"/", "\\", "L", "U"})
UNEXPLAINED_CODES = frozenset({"N", "O", "G"})
ADMIN_CODES = frozenset({"Z", "#"})
EXPLAINED_CODES = frozenset(CODE_WORDS) - SEEN_CODES - UNEXPLAINED_CODES - ADMIN_CODES
# The 10-day return: absent for a continuous period of 10 school days, codes G, N, O or U
# (2024 Regulations, regulation 13, returns to the local authority; Working together, 2024).
TEN_DAY_RETURN_CODES = frozenset({"G", "N", "O", "U"})
# Deletion under regulation 9(1)(i): continuously absent for at least 20 school days, "recorded
# as G, N or O" throughout (and no reason to believe the child is ill or unavoidably absent).
DELETION_CODES = frozenset({"G", "N", "O"})
# Code N is entered when the reason is not known at registration, and must be replaced with the
# right code within 5 school days (regulation 10; Working together, 2024); a reason the school
# has not found out by then is recorded as O, absent in other or unknown circumstances.
UNKNOWN_AFTER_FIVE_DAYS = "O"
N_CODE_SCHOOL_DAYS = 5


def meaning(code: str) -> MarkMeaning:
    """What a mark says about the child; a code the regulations do not list counts as unknown
    (unexplained): a mis-keyed code must never close a case."""
    if code in SEEN_CODES:
        return MarkMeaning.SEEN
    if code in EXPLAINED_CODES:
        return MarkMeaning.EXPLAINED
    if code in ADMIN_CODES:
        return MarkMeaning.NOT_A_MARK
    return MarkMeaning.UNEXPLAINED


def words(code: str) -> str:
    """'I (illness)': a code as a chronology entry says it."""
    return f"{code} ({CODE_WORDS.get(code, 'a code the 2024 regulations do not list')})"


def is_explanation_code(code: str) -> bool:
    """A code staff may give as the reason for an absence (``call --code I``)."""
    return code in EXPLAINED_CODES


SESSION_ORDER = {"AM": 0, "": 0, "PM": 1}


def session_key(on: date, session: str | None) -> tuple[date, int]:
    """Order marks: a day's AM (or whole-day) mark before its PM mark."""
    return on, SESSION_ORDER.get(session or "", 0)


def at_or_after(on: date, session: str | None, first_day: date, first_session: str | None) -> bool:
    """Whether a mark is for the case's first absent session or later.

    A mark before the absence began (a re-fed old file) says nothing about the child since; a
    mark with no session on the first day counts as that day's.
    """
    if on != first_day:
        return on > first_day
    return not (first_session == "PM" and session == "AM")


TEN_DAY_RETURN_DAYS = 10
DELETION_DAYS = 20


def continuous_days(
    school_dates: Sequence[date], marks: dict[tuple[date, str], str], codes: frozenset[str], through: date
) -> tuple[int, date | None]:
    """School days in a row from the first of ``school_dates`` whose every mark is in ``codes``.

    Counted from the marks the feed sent, through ``through``: a day with a mark outside
    ``codes`` ends the run, and so does a school day with no mark at all (returned, so a person
    can feed that day's register): the deletion rule counts what the register says, not what
    the case assumes.
    """
    by_day: dict[date, list[str]] = {}
    for (on, _), code in marks.items():
        by_day.setdefault(on, []).append(code)
    count = 0
    for d in school_dates:
        if d > through:
            break
        day_codes = by_day.get(d)
        if not day_codes:
            return count, d
        if any(c not in codes for c in day_codes):
            break
        count += 1
    return count, None
