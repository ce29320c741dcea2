"""``admin.py``'s command line: its words, its options, its exit codes, and the record each action sends.

Apart from the commands so that everything a person can type, and every way it can be wrong, is
checked here before Temporal is asked anything: a typing slip in a vocabulary word gets the right
word suggested (exit 2) instead of reaching the case. The mapping from arguments to the action
models (``ACTIONS``) is here too, because building a record is the last check of what was typed
(the models' own rules, reported in the command's terms by ``invalid``).
"""

from __future__ import annotations

import argparse
import difflib
import getpass
import re
from collections.abc import Callable
from datetime import date
from enum import StrEnum
from pathlib import Path

from whereabouts.cli.admin_times import due_date, past_time
from whereabouts.identity import Role
from whereabouts.vocabulary import (
    Agency,
    CallOutcome,
    CmeStage,
    EnquiryItem,
    LaDecision,
    LaUpdateKind,
    LetterPlan,
    RiskConcern,
    RiskStatus,
    VisitOutcome,
    VisitPlan,
)

OK, REFUSED, USAGE, NO_CASE, UNREACHABLE = 0, 1, 2, 3, 4

URN = re.compile(r"^\d{6}$")


# --------------------------------------------------------------------------------------------
# Words: the procedure's vocabulary, with a suggestion for a near miss
# --------------------------------------------------------------------------------------------
def vocabulary(kind: type[StrEnum], noun: str) -> Callable[[str], StrEnum]:
    """An argparse type for one vocabulary: 'No-Answer' is no_answer; 'no_anser' gets a hint."""
    values = [v.value for v in kind]

    def parse(text: str) -> StrEnum:
        key = text.strip().lower().replace("-", "_").replace(" ", "_")
        if key in values:
            return kind(key)
        near = difflib.get_close_matches(key, values, n=1)
        if near:
            raise argparse.ArgumentTypeError(f"{text!r} is not {noun}: did you mean {near[0]}?")
        raise argparse.ArgumentTypeError(f"{text!r} is not {noun}; choose from {', '.join(values)}")

    return parse


def one_of(kind: type[StrEnum]) -> str:
    return ", ".join(v.value for v in kind)


def school_urn(text: str) -> str:
    if not URN.match(text.strip()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a school URN (six digits)")
    return text.strip()


def school_date(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def login() -> str:
    """This machine's login name, sent as a hint only: the case writes the name the directory
    gives the key that signed the action (``whereabouts.identity``), never what a client says."""
    try:
        return getpass.getuser()
    except Exception:  # no login name (some containers): still record, but say so
        return "unknown"


# --------------------------------------------------------------------------------------------
# The command line
# --------------------------------------------------------------------------------------------
def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="admin.py",
        description="Whereabouts for staff: list cases, read one, record what happened.",
        epilog="CASE is the case ID (cme-<URN>-<pseudonym>) or the pupil's UPN, whose case ID is worked out. "
        "Exit codes: 0 done, 1 refused by the case or case closed (nothing changed), 2 bad usage, "
        "3 no such case, 4 Temporal or the worker not answering.",
    )
    sub = top.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "cases", help="list open cases (and any that ended badly): needing a person first, then overdue"
    )
    p.add_argument("--school", type=school_urn, metavar="URN", help="one school's cases")
    p.add_argument("--stage", type=vocabulary(CmeStage, "a stage"), help=f"one of: {one_of(CmeStage)}")
    p.add_argument(
        "--risk", type=vocabulary(RiskStatus, "a risk status"), help=f"one of: {one_of(RiskStatus)}"
    )
    p.add_argument(
        "--due-before",
        type=due_date,
        metavar="DATE",
        help="next action due before DATE (YYYY-MM-DD in school time, an ISO date-time, today, tomorrow)",
    )
    p.add_argument("--all", action="store_true", help="closed cases too")
    p.add_argument("--json", action="store_true", help="JSON instead of a table")

    p = sub.add_parser("show", help="one case: status, next action, full chronology")
    p.add_argument("case", metavar="CASE", help="case ID (cme-<URN>-<pseudonym>) or UPN")
    p.add_argument("--json", action="store_true", help="status and chronology as JSON")

    p = sub.add_parser(
        "keygen",
        help="make your signing key; prints the directory entry with its public key",
        description="Make a key pair for signing your actions (the private key FILE, readable by "
        "you only; it is never overwritten) and print the [[people]] entry for the school "
        "directory with its public key. Use it with WHEREABOUTS_SIGNING_KEY=FILE.",
    )
    p.add_argument("file", metavar="FILE", type=Path, help="where to write the private key")
    p.add_argument("--name", required=True, help="your name as the chronology should show it")
    p.add_argument(
        "--role",
        dest="roles",
        action="append",
        required=True,
        choices=[r.value for r in Role],
        help="a role you hold (repeat for several)",
    )
    p.add_argument("--school", dest="schools", action="append", default=[], metavar="URN")
    p.add_argument("--la", dest="las", action="append", default=[], metavar="CODE")

    def action(name: str, help: str, description: str) -> argparse.ArgumentParser:
        a = sub.add_parser(name, help=help, description=description)
        a.add_argument("case", metavar="CASE", help="case ID (cme-<URN>-<pseudonym>) or UPN")
        return a

    def word(a: argparse.ArgumentParser, dest: str, kind: type[StrEnum], noun: str) -> None:
        a.add_argument(
            dest, metavar=dest.upper(), type=vocabulary(kind, noun), help=f"one of: {one_of(kind)}"
        )

    def explanation(a: argparse.ArgumentParser) -> None:
        a.add_argument(
            "--code",
            metavar="CODE",
            help="the register code the reason calls for (I illness, M medical, ...): every absence "
            "session of the case is written back with it",
        )
        a.add_argument(
            "--until",
            metavar="DATE",
            type=school_date,
            help="the last day the child will be off (YYYY-MM-DD): an N up to then is corrected, not chased",
        )

    def at(a: argparse.ArgumentParser, what: str) -> None:
        a.add_argument(
            "--at",
            metavar="TIME",
            type=past_time,
            help=f"when {what}: HH:MM today (school time) or YYYY-MM-DDTHH:MM (default: now)",
        )

    p = action(
        "call",
        "record a call's outcome",
        "Record the outcome of the call the case is waiting for (Day 1, call-back or Day 2). "
        "safe_with_parent needs --reason and closes the case; not_reassured asks the DSL for a "
        "risk assessment; missing_parent_concerned sends the parent the advice and alerts the DSL, "
        "and the case stays open: when that parent rings again to say the child is still missing, "
        "record it with still-missing (only seen closes the case).",
    )
    word(p, "outcome", CallOutcome, "a call outcome")
    p.add_argument("--reason", help="the reason for the absence (needed for safe_with_parent)")
    explanation(p)
    at(p, "the call was made")
    p.add_argument("--number", metavar="TEXT", help="the number that was rung")
    p.add_argument("--note")

    p = action(
        "risk",
        "record the DSL's risk assessment",
        "Record the designated safeguarding lead's judgement. --at-risk (with at least one "
        "--concern) notifies police and children's social care at once; the search goes on.",
    )
    judgement = p.add_mutually_exclusive_group(required=True)
    judgement.add_argument(
        "--at-risk", dest="at_risk", action="store_true", default=None, help="needs at least one --concern"
    )
    judgement.add_argument("--not-at-risk", dest="at_risk", action="store_false")
    p.add_argument(
        "--concern",
        dest="concerns",
        metavar="C",
        nargs="+",
        action="extend",
        default=[],
        type=vocabulary(RiskConcern, "a concern"),
        help=f"one or more of: {one_of(RiskConcern)}",
    )
    p.add_argument("--note")

    p = action(
        "visit",
        "record the home visit's outcome",
        "Record what the home visit found, and who the visitors spoke to with --spoke-to (the "
        "parent, a neighbour, nobody): the LA's referral reports it. child_seen and "
        "parent_contact close the case. --concern: the visitors came away worried, and the DSL is "
        "told (as after refused_access or moved_away).",
    )
    word(p, "outcome", VisitOutcome, "a visit outcome")
    p.add_argument(
        "--spoke-to",
        metavar="TEXT",
        help="who the visitors spoke to, and who they are to the child (e.g. 'neighbour at no. 9', 'nobody')",
    )
    p.add_argument("--note", help="anything else the visit found")
    p.add_argument(
        "--concern",
        action="store_true",
        help="the visitors came away worried about the child: the DSL is told (say why in --note)",
    )

    p = action(
        "plan",
        "record the DSL's plan for the held letter and visit (at risk, or reported missing)",
        "Record the designated safeguarding lead's plan once a child is judged at risk, or a parent "
        "has reported the child missing: the Day 3 letter and the home visit are held until it is "
        "recorded, since a letter or a visit can alert the people the child is at risk from. "
        "--letter send lets the standard letter go, hold keeps it back; --visit school is the "
        "routine two-staff visit, joint a visit with police or children's social care (arranged by "
        "the DSL), none no visit by the school.",
    )
    p.add_argument(
        "--letter",
        required=True,
        type=vocabulary(LetterPlan, "a letter plan"),
        help=f"one of: {one_of(LetterPlan)}",
    )
    p.add_argument(
        "--visit",
        required=True,
        type=vocabulary(VisitPlan, "a visit plan"),
        help=f"one of: {one_of(VisitPlan)}",
    )
    p.add_argument("--note", required=True, help="the plan, in the DSL's words (who does what, and when)")

    p = action(
        "still-missing",
        "the parent who reported the child missing: still missing (the case stays open)",
        "Record that the parent who reported the child missing has been in touch again and the child "
        "is still missing. The case stays open and the DSL is told; only seen (the child is found) "
        "closes it.",
    )
    p.add_argument("--note", help="what the parent said, and when")

    p = action(
        "contact",
        "the parent made contact (closes the case)",
        "The parent made contact, which closes the case. Not for a parent who reported the child "
        "missing: record what they say with still-missing, or seen when the child is found.",
    )
    p.add_argument("--reason", help="what the parent said")
    explanation(p)
    p.add_argument("--note")

    p = action("seen", "the child has been seen (closes the case)", "The child has been seen.")
    p.add_argument("--where", metavar="TEXT", help="where, or by whom")
    p.add_argument("--note")

    p = action(
        "la-decision",
        "record the local authority's decision",
        "Record the LA's decision on a referred case. remove_from_roll and child_located close "
        "the case; keep_on_roll keeps it waiting (and chased).",
    )
    word(p, "decision", LaDecision, "an LA decision")
    p.add_argument("--note")
    p.add_argument("--new-address", metavar="TEXT", help="remove_from_roll: a new address, if known")
    p.add_argument("--new-school", metavar="TEXT", help="remove_from_roll: a new school, if known")

    p = action(
        "la-update",
        "the LA records its enquiries or feedback on a referred case",
        "For the LA tracking officer: record the LA's enquiries (what it did to find the child) or "
        "its feedback to the school, in the case's chronology. --complete: the LA's enquiries are "
        "finished and the child has not been found, which the deletion rule needs "
        "(regulation 9(1)(i) of the 2024 Regulations).",
    )
    word(p, "kind", LaUpdateKind, "an LA update")
    p.add_argument("--note", required=True, help="what the LA did, found or tells the school")
    p.add_argument("--complete", action="store_true", help="enquiry: finished, the child not found")

    p = action(
        "enquiry",
        "tick one of the school's enquiries before a deletion",
        "Tick one of the school's reasonable enquiries, which the deletion rule needs before "
        "remove_from_roll is accepted (regulation 9(1)(i)): calls, letter and visit are checked "
        "against what the case records; siblings_schools and other_agencies need --note (whom you "
        "asked, what they said); not_ill: no reason to believe the child is ill or unavoidably absent.",
    )
    word(p, "item", EnquiryItem, "an enquiry")
    p.add_argument("--note", help="whom you asked and what they said")

    p = action("withdraw", "close a case opened in error", "Withdraw the case, with the reason.")
    p.add_argument("--reason", required=True)

    p = action(
        "notified",
        "record that an agency was told by phone (or in person)",
        "Record that police, children's social care or the local authority were told about the "
        "case by staff themselves, e.g. by phone when Whereabouts' e-mail to them was not "
        "delivered. The case says it is waiting for this until it is recorded.",
    )
    word(p, "agency", Agency, "an agency")
    at(p, "they were told")
    p.add_argument("--note", help="who was told, and what was said")

    p = action(
        "advised",
        "record that staff gave the parent the missing-child advice",
        "Record that staff gave the parent the advice for a missing child themselves (police, "
        "people and places the child knows, GP and A&E, report back), on the phone or in person, "
        "e.g. when Whereabouts' e-mail could not reach the parent.",
    )
    at(p, "it was given")
    p.add_argument("--note", help="to whom, and how")
    return top
