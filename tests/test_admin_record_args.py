"""What staff type to record a call, an agency told by phone, or advice given: ``--at``, ``--number``,
``notified`` and ``advised``; and the DSL's ``plan``, a parent's ``still-missing`` and a worrying
``visit --concern``. In-process, with no server and no worker: every way the words can
be wrong is caught before Temporal is asked anything (exit 2, one line where it is ours).
The clock is set to Tue 1 Dec 2026, 10:00 in school time (GMT), so times read the same any day.
"""

from __future__ import annotations

import contextlib
import io
from datetime import UTC, date, datetime

import pytest

from whereabouts.cli import admin, admin_args, admin_records, admin_times
from whereabouts.models import (
    AdviceGiven,
    AgencyTold,
    CallRecord,
    LaUpdate,
    MissingUpdate,
    SafeguardingPlan,
    SchoolEnquiry,
    VisitRecord,
)
from whereabouts.vocabulary import (
    Agency,
    CallOutcome,
    EnquiryItem,
    LaUpdateKind,
    LetterPlan,
    VisitOutcome,
    VisitPlan,
)

TEN_AM = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)  # 10:00 in London too: winter


@pytest.fixture(autouse=True)
def at_ten(monkeypatch):
    monkeypatch.setattr(admin_times, "now", lambda: TEN_AM)


@pytest.fixture
def nowhere(settings):
    """Settings pointing at no Temporal: anything that gets past the checks would fail (exit 4)."""
    return settings.model_copy(update={"temporal_address": "127.0.0.1:1"})


def record(*argv: str):
    """The record a command line would send, as ``admin.py`` builds it."""
    argv_ = list(argv)
    by = "T. Hale"
    if "--by" in argv_:  # who signs (admin.py takes it from the key): here, the record's ``by``
        at = argv_.index("--by")
        by = argv_[at + 1]
        del argv_[at : at + 2]
    args = admin_args.parser().parse_args(argv_)
    args.by = by
    return admin_records.ACTIONS[args.command].record(args)[0]


async def cli(settings, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = await admin.run(list(argv), settings=settings, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_a_call_records_when_it_was_made_and_the_number_rung():
    rec = record("call", "X", "no_answer", "--at", "09:40", "--number", "07700 900123")
    assert rec == CallRecord(
        outcome=CallOutcome.NO_ANSWER,
        at=datetime(2026, 12, 1, 9, 40, tzinfo=UTC),
        number="07700 900123",
        by="T. Hale",
    )
    assert record("call", "X", "no_answer").at is None  # now: the case records when it hears
    # A date and time, in school time (BST in summer) unless it names its zone.
    assert record("call", "X", "no_answer", "--at", "2026-06-01T09:15").at == datetime(
        2026, 6, 1, 8, 15, tzinfo=UTC
    )
    assert record("call", "X", "no_answer", "--at", "2026-11-30 16:05").at == datetime(
        2026, 11, 30, 16, 5, tzinfo=UTC
    )
    assert record("call", "X", "no_answer", "--at", "2026-12-01T09:15+00:00").at == datetime(
        2026, 12, 1, 9, 15, tzinfo=UTC
    )
    assert record("call", "X", "no_answer", "--at", "10:00").at == TEN_AM  # the very minute


def test_notified_and_advised_record_what_staff_did_by_phone():
    told = record("notified", "X", "Social-Care", "--at", "9.30", "--note", "rang the MASH", "--by", "D.L.")
    assert told == AgencyTold(
        agency=Agency.SOCIAL_CARE,
        at=datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
        note="rang the MASH",
        by="D.L.",
    )
    assert record("notified", "X", "police").agency is Agency.POLICE
    assert record("notified", "X", "la").at is None
    assert record("advised", "X", "--at", "09:50", "--note", "told the mother on the phone") == AdviceGiven(
        at=datetime(2026, 12, 1, 9, 50, tzinfo=UTC), note="told the mother on the phone", by="T. Hale"
    )
    # Neither closes the case.
    args = admin_args.parser().parse_args(["advised", "X"])
    args.by = "T. Hale"
    assert admin_records.ACTIONS["advised"].record(args)[1] is None


async def test_a_time_in_the_future_is_refused_in_one_line(nowhere):
    for argv, when in (
        (["call", "X", "no_answer", "--at", "10:30"], "Tue 1 Dec 2026, 10:30"),
        (["notified", "X", "police", "--at", "2026-12-02T08:00"], "Wed 2 Dec 2026, 08:00"),
        (["advised", "X", "--at", "23:59"], "Tue 1 Dec 2026, 23:59"),
    ):
        code, out, err = await cli(nowhere, *argv)
        assert (code, out) == (2, ""), (argv, err)
        assert err == f"admin: --at: {when} is in the future: give the time it happened (default: now)\n"


async def test_a_time_or_an_agency_that_cannot_be_read_is_bad_usage(nowhere):
    for argv, hint in (
        (["call", "X", "no_answer", "--at", "25:00"], "argument --at: '25:00' is not a time: use HH:MM"),
        (["call", "X", "no_answer", "--at", "yesterday"], "'yesterday' is not a time"),
        (["call", "X", "no_answer", "--at", "2026-12-01"], "'2026-12-01' is not a time"),  # when that day?
        (["advised", "X", "--at", "9"], "'9' is not a time"),
        (["notified", "X", "polis"], "argument AGENCY: 'polis' is not an agency: did you mean police?"),
        (["notified", "X", "socal_care"], "did you mean social_care?"),
        (["notified", "X", "fire"], "'fire' is not an agency; choose from police, social_care, la"),
        (["notified", "X"], "AGENCY"),
    ):
        code, out, err = await cli(nowhere, *argv)
        assert (code, out) == (2, ""), (argv, err)
        assert hint in err, (argv, err)
    code, out, err = await cli(nowhere, "call", "X", "no_answer", "--number", "0" * 41)
    assert (code, out) == (2, "") and err == "admin: --number: String should have at most 40 characters\n"


async def test_help_asks_for_the_time_the_number_and_who_the_visitors_spoke_to(nowhere):
    code, out, _ = await cli(nowhere, "call", "--help")
    assert code == 0 and "--at TIME" in out and "--number TEXT" in out and "HH:MM" in out
    code, out, _ = await cli(nowhere, "notified", "--help")
    assert code == 0 and all(a.value in out for a in Agency) and "--at TIME" in out
    code, out, _ = await cli(nowhere, "advised", "--help")
    assert code == 0 and "--at TIME" in out
    code, out, _ = await cli(nowhere, "visit", "--help")
    said = " ".join(out.split())
    assert code == 0 and "--spoke-to TEXT who the visitors spoke to, and who they are to the child" in said
    assert "who the visitors spoke to with --spoke" in said
    code, out, _ = await cli(nowhere, "--help")
    assert code == 0 and "notified" in out and "advised" in out


# --------------------------------------------------------------------------------------------
# The DSL's plan, a parent's "still missing", a visit that left the visitors worried
# --------------------------------------------------------------------------------------------
def test_plan_still_missing_and_a_worrying_visit_build_their_records():
    plan = record(
        "plan",
        "X",
        "--letter",
        "Hold",
        "--visit",
        "joint",
        "--note",
        "joint visit with police",
        "--by",
        "D.L.",
    )
    assert plan == SafeguardingPlan(
        letter=LetterPlan.HOLD, visit=VisitPlan.JOINT, note="joint visit with police", by="D.L."
    )
    assert record("plan", "X", "--letter", "send", "--visit", "none", "--note", "MASH visiting").visit is (
        VisitPlan.NONE
    )
    assert record("still-missing", "X", "--note", "mother rang at 11: not home") == MissingUpdate(
        note="mother rang at 11: not home", by="T. Hale"
    )
    assert record("still-missing", "X") == MissingUpdate(by="T. Hale")
    worried = record("visit", "X", "no_answer", "--concern", "--note", "curtains drawn, post piling up")
    assert worried == VisitRecord(
        outcome=VisitOutcome.NO_ANSWER, concern=True, note="curtains drawn, post piling up", by="T. Hale"
    )
    assert record("visit", "X", "no_answer").concern is False
    # None of them closes the case.
    for argv in (
        ["plan", "X", "--letter", "hold", "--visit", "school", "--note", "routine visit"],
        ["still-missing", "X"],
    ):
        args = admin_args.parser().parse_args(argv)
        args.by = "T. Hale"
        assert admin_records.ACTIONS[args.command].record(args)[1] is None


async def test_a_plan_typed_wrong_is_caught_before_anything_is_sent(nowhere):
    for argv, hint in (
        (["plan", "X", "--letter", "hld", "--visit", "joint", "--note", "x" * 5], "did you mean hold?"),
        (["plan", "X", "--letter", "hold", "--visit", "jiont", "--note", "x" * 5], "did you mean joint?"),
        (["plan", "X", "--letter", "post", "--visit", "joint", "--note", "x" * 5], "choose from send, hold"),
        (["plan", "X", "--letter", "hold", "--visit", "police", "--note", "x" * 5], "school, joint, none"),
        (
            ["plan", "X", "--letter", "hold", "--visit", "joint"],
            "the following arguments are required: --note",
        ),
        (["plan", "X", "--visit", "joint", "--note", "x" * 5], "required: --letter"),
        (["plan", "X", "--letter", "hold", "--note", "x" * 5], "required: --visit"),
        (["still-missing"], "CASE"),
    ):
        code, out, err = await cli(nowhere, *argv)
        assert (code, out) == (2, ""), (argv, err)
        assert hint in err, (argv, err)
    code, out, err = await cli(nowhere, "plan", "X", "--letter", "hold", "--visit", "joint", "--note", "ok")
    assert (code, out) == (2, "") and err == "admin: --note: String should have at least 3 characters\n"


async def test_a_concern_with_a_visit_that_closes_the_case_is_refused(nowhere):
    """child_seen or parent_contact closes the case: a concern recorded with it would reach
    nobody, so it is refused (exit 2) and staff are told to go to the DSL first."""
    for outcome in ("child_seen", "parent_contact"):
        code, out, err = await cli(nowhere, "visit", "X", outcome, "--concern")
        assert (code, out) == (2, ""), err
        assert err.startswith(f"admin: --concern: {outcome} closes the case") and "tell the DSL now" in err
        assert err.count("\n") == 1


async def test_help_says_how_a_missing_child_is_recorded_and_what_a_plan_is(nowhere):
    def said(command: str) -> str:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
            admin_args.parser().parse_args([command, "--help"])
        return " ".join(out.getvalue().split())

    for command in ("call", "contact"):
        assert "still-missing" in said(command), command
    plan = said("plan")
    assert all(w.value in plan for w in (*LetterPlan, *VisitPlan)) and "--note NOTE" in plan
    assert "held until it is recorded" in plan
    assert "only seen (the child is found) closes it" in said("still-missing")
    assert "--concern" in said("visit") and "the DSL is told" in said("visit")
    code, out, _ = await cli(nowhere, "--help")
    assert code == 0 and "plan" in out and "still-missing" in out


# --------------------------------------------------------------------------------------------
# The register rules: a reason's code and how long it covers, the enquiries, the LA's side
# --------------------------------------------------------------------------------------------
def test_a_reason_carries_its_register_code_and_the_day_the_child_is_back():
    rec = record(
        "call", "X", "safe_with_parent", "--reason", "tonsillitis", "--code", "i", "--until", "2026-12-03"
    )
    assert (rec.code, rec.until) == ("I", date(2026, 12, 3))
    contact = record("contact", "X", "--reason", "hospital appointment", "--code", "M")
    assert (contact.code, contact.until) == ("M", None)


def test_the_enquiries_and_the_las_records_are_what_the_deletion_rule_reads():
    assert record(
        "enquiry", "X", "siblings-schools", "--note", "brother's school: not seen"
    ) == SchoolEnquiry(item=EnquiryItem.SIBLINGS_SCHOOLS, note="brother's school: not seen", by="T. Hale")
    assert record("la-update", "X", "enquiry", "--note", "port check: left the UK", "--complete") == LaUpdate(
        kind=LaUpdateKind.ENQUIRY, note="port check: left the UK", complete=True, by="T. Hale"
    )
    removal = record("la-decision", "X", "remove_from_roll", "--new-address", "believed abroad")
    assert removal.new_address == "believed abroad" and removal.new_school is None


async def test_a_wrong_code_a_missing_note_or_a_code_without_a_reason_is_bad_usage(nowhere):
    for argv, hint in (
        (
            ["call", "X", "safe_with_parent", "--reason", "ill", "--code", "N"],
            "admin: --code: 'N' is not a code",
        ),
        (["call", "X", "no_answer", "--code", "I"], "--code and --until go with safe_with_parent"),
        (["call", "X", "safe_with_parent", "--reason", "ill", "--until", "Wednesday"], "is not a date"),
        (["enquiry", "X", "other_agencies"], "say whom you asked and what they said (--note)"),
        (["enquiry", "X", "sibling"], "did you mean siblings_schools?"),
        (["la-update", "X", "feedback"], "--note"),
        (["la-update", "X", "gossip", "--note", "x"], "'gossip' is not an LA update"),
    ):
        code, out, err = await cli(nowhere, *argv)
        assert (code, out) == (2, ""), (argv, err)
        assert hint in err, (argv, err)
