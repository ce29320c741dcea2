"""What staff type to record a call, an agency told by phone, or advice given: ``--at``, ``--number``,
``notified`` and ``advised``. In-process, with no server and no worker: every way the words can
be wrong is caught before Temporal is asked anything (exit 2, one line where it is ours).
The clock is set to Tue 1 Dec 2026, 10:00 in school time (GMT), so times read the same any day.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from whereabouts.cli import admin, admin_args, admin_times
from whereabouts.models import AdviceGiven, AgencyTold, CallRecord
from whereabouts.vocabulary import Agency, CallOutcome

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
    args = admin_args.parser().parse_args(list(argv))
    args.by = args.by or "T. Hale"
    return admin_args.ACTIONS[args.command].record(args)[0]


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
    assert admin_args.ACTIONS["advised"].record(args)[1] is None


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
