"""admin.py, the staff script, run in-process against the real dev server and a real worker.

Most tests use a worker whose school day lasts five minutes, so a case waits at Day 1 while staff
record calls and risk; the home visit and the LA's decision need the fast clock (a day in 1.5 s).
Each command is checked by what it did to the case (status, chronology, result), not by its words
alone; refusals by the exit code, the case's own sentence and an unchanged chronology.
"""

from __future__ import annotations

import asyncio
import getpass
import io
import json
import socket
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio

from tests.conftest import TEST_DIRECTORY, close_started, until, until_prompted, until_waiting_for
from tests.factories import TEST_URN, case_id_of, last_school_day, make_case, make_upn, school_day_before
from tests.signer import key_file
from whereabouts.activities.deps import Deps
from whereabouts.cli import admin
from whereabouts.cli import casefile_view as view
from whereabouts.models import Address, CaseResult, CaseStatus
from whereabouts.times import day
from whereabouts.vocabulary import (
    CallOutcome,
    CmeOutcome,
    CmeStage,
    ContactRestriction,
    LaDecision,
    RiskConcern,
    RiskStatus,
)
from whereabouts.worker import build_worker
from whereabouts.workflows.case import CmeCaseWorkflow

OTHER_URN = "990203"
WHOLE_CASE = 40.0


# --------------------------------------------------------------------------------------------
# Helpers and fixtures
# --------------------------------------------------------------------------------------------
async def cli(settings, *argv: str) -> tuple[int, str, str]:
    """admin.py as a member of staff runs it; ``--by NAME`` here means "with NAME's own key"
    (tests/data/keys), since the case takes the name from the key, not from the command line."""
    args = list(argv)
    who = "T. Hale"
    if "--by" in args:
        at = args.index("--by")
        who = args[at + 1]
        del args[at : at + 2]
    settings = settings.model_copy(update={"signing_key": key_file(who)})
    out, err = io.StringIO(), io.StringIO()
    code = await admin.run(args, settings=settings, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def new_upn() -> str:
    """A valid UPN no other case on this server has, so the UPN alone finds the case."""
    n = uuid.uuid4().int
    return make_upn(establishment=n % 9000 + 1000, year=n // 10**4 % 100, serial=n // 10**6 % 1000)


@pytest.fixture
def staff(dev_env, settings):
    """admin.py's settings: the worker's, pointed at the dev server."""
    return settings.model_copy(update={"temporal_address": dev_env.client.service_client.config.target_host})


@pytest_asyncio.fixture
async def day_worker(dev_env, settings, tmp_path):
    """A real worker with two schools and a five-minute school day: cases stay at Day 1."""
    text = TEST_DIRECTORY.read_text()
    school = text[text.index("[[schools]]") :]
    school = school[: school.index("[[schools]]", 1)]  # Test Hill only
    other = (
        school.replace(f'urn = "{TEST_URN}"', f'urn = "{OTHER_URN}"')
        .replace("Test Hill Primary", "Test Vale Academy")
        .replace("testhill", "testvale")
    )
    directory = tmp_path / "schools.toml"
    directory.write_text(text + "\n" + other)
    settings.directory_path = directory
    settings.school_day_seconds = 300
    async with build_worker(dev_env.client, settings, Deps.from_settings(settings)):
        yield
        await close_started()


UPNS: dict[str, str] = {}  # case ID -> the synthetic pupil's UPN (the ID is a pseudonym of it)


async def start_one(start_case, dev_env):
    case = a_case()
    UPNS[case_id_of(case)] = case.pupil.upn
    return await start_case(dev_env.client, case, id=case_id_of(case))


def a_case(urn: str = TEST_URN, upn: str | None = None):
    """A synthetic case from the last school day, under its own case ID (found by ID or UPN)."""
    return make_case(last_school_day(), urn=urn, upn=upn or new_upn())


async def day1(handle):
    return await until(handle, lambda s: s.stage is CmeStage.DAY1_CALL and s.next_action_at, "day 1")


async def entries(handle):
    return await handle.query(CmeCaseWorkflow.chronology_entries)


async def listed(staff, *argv: str, want, what: str, timeout: float = 10.0) -> list[dict]:
    """``cases --json`` until ``want(rows)`` holds: the visibility store catches up in a moment."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        code, out, err = await cli(staff, "cases", "--json", *argv)
        assert code == 0, err
        rows = json.loads(out)["cases"]
        if want(rows) or asyncio.get_running_loop().time() > deadline:
            assert want(rows), f"{what}: {rows}"
            return rows
        await asyncio.sleep(0.3)


def ids(rows) -> list[str]:
    return [r["case_id"] for r in rows]


# --------------------------------------------------------------------------------------------
# Words and usage: checked before anything is sent (no server needed)
# --------------------------------------------------------------------------------------------
async def test_help_lists_the_words_and_a_near_miss_gets_a_suggestion(settings):
    nowhere = settings.model_copy(update={"temporal_address": "127.0.0.1:1"})
    for command, words in (
        ("call", CallOutcome),
        ("risk", RiskConcern),
        ("la-decision", LaDecision),
        ("cases", CmeStage),
    ):
        code, out, _ = await cli(nowhere, command, "--help")
        assert code == 0
        assert all(w.value in out for w in words), out
    for argv, hint in (
        (["call", "cme-990201-X", "no_anser"], "did you mean no_answer?"),
        (["call", "cme-990201-X", "Not-Reasured"], "did you mean not_reassured?"),
        (["la-decision", "cme-990201-X", "remove_from_rol"], "did you mean remove_from_roll?"),
        (["risk", "cme-990201-X", "--at-risk", "--concern", "radicalisaton"], "did you mean radicalisation?"),
        (["cases", "--stage", "home_vist"], "did you mean home_visit?"),
        (["visit", "cme-990201-X", "banana"], "choose from child_seen"),
        (["cases", "--school", "12"], "not a school URN"),
        (["cases", "--due-before", "next week"], "not a date"),
        (["withdraw", "cme-990201-X"], "--reason"),
        (["risk", "cme-990201-X", "--at-risk", "--not-at-risk", "--concern", "other"], "not allowed"),
        ([], "COMMAND"),
    ):
        code, out, err = await cli(nowhere, *argv)
        assert code == 2, (argv, out, err)
        assert hint in err, (argv, err)
    # The action's own rules (pydantic), in one line, before Temporal is asked anything.
    for argv, line in (
        (["call", "cme-990201-X", "safe_with_parent"], "needs the reason for the absence (--reason)"),
        (["risk", "cme-990201-X", "--at-risk"], "at least one concern (--concern)"),
        (["withdraw", "cme-990201-X", "--reason", "no"], "--reason: String should have at least 3"),
    ):
        code, out, err = await cli(nowhere, *argv)
        assert (code, out) == (2, ""), (argv, err)
        assert line in err and err.count("\n") == 1, err


async def test_temporal_unreachable_is_one_line_exit_4(settings):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connection refused
        nowhere = settings.model_copy(update={"temporal_address": f"127.0.0.1:{port}"})
        for argv in (["cases"], ["show", "cme-990201-A123456789012"], ["contact", "A123456789012"]):
            code, out, err = await cli(nowhere, *argv)
            assert code == 4, err
            assert out == "" and err.count("\n") == 1 and "cannot reach Temporal" in err


# --------------------------------------------------------------------------------------------
# Day 1: calls, risk, refusals, show, closing
# --------------------------------------------------------------------------------------------
async def test_day1_call_risk_refusals_and_closing(dev_env, settings, staff, day_worker, start_case):
    h = await start_one(start_case, dev_env)
    upn = UPNS[h.id]
    await day1(h)

    code, out, err = await cli(
        staff, "call", upn, "no_answer", "--note", "rang mobile and landline", "--by", "T. Hale"
    )
    assert code == 0, err
    assert f"{h.id}: recorded by T. Hale" in out
    assert "stage day1_callback" in out and "next: call back (2 hours after no answer)" in out
    last = (await entries(h))[-1]
    assert (last.what, last.by, last.detail) == (
        "Day 1 call: no answer",
        "T. Hale",
        "rang mobile and landline",
    )
    before = await entries(h)

    # Refusals: the case's own sentence, exit 1, nothing changed.
    for argv, sentence in (
        (["call", h.id, "not_reassured"], "The Day 1 call outcome is already recorded (no_answer)"),
        (["visit", h.id, "child_seen"], "No home visit is booked yet"),
        (["la-decision", h.id, "remove_from_roll"], "has not been referred to the local authority yet"),
    ):
        code, out, err = await cli(staff, *argv)
        assert code == 1, (argv, out, err)
        assert sentence in err and "Nothing was changed" in err, err
    assert await entries(h) == before

    # Risk: the record names the key's owner (T. Hale here), never the machine's login name.
    code, out, err = await cli(staff, "risk", h.id, "--not-at-risk", "--note", "known family, usually rings")
    assert code == 0, err
    assert (await h.query(CmeCaseWorkflow.status)).risk is RiskStatus.NOT_AT_RISK
    assert (await entries(h))[-1].by == "T. Hale" != getpass.getuser()
    code, out, err = await cli(
        staff, "risk", h.id, "--at-risk", "--concern", "domestic_abuse", "other", "--by", "Dana Lead"
    )
    assert code == 0, err
    assert "risk escalated" in out
    status = await h.query(CmeCaseWorkflow.status)
    assert status.risk is RiskStatus.ESCALATED
    judged = [e for e in await entries(h) if e.what.startswith("Risk assessment: AT RISK")]
    assert judged[-1].detail.startswith("concerns: domestic_abuse, other")
    code, _, err = await cli(staff, "risk", h.id, "--not-at-risk")
    assert code == 1 and "only the DSL can revise that, with the reason" in err

    # show: the case file for staff, as text and as JSON carrying the same status.
    code, out, err = await cli(staff, "show", upn)
    assert code == 0, err
    for text in (
        "Robin Testperson",
        "07700 900123",
        "Stage:           day1_callback",
        "escalated",
        "Day 1 call: no answer  [T. Hale]",
        "rang mobile and landline",
        "Chronology",
    ):
        assert text in out, out
    code, out, err = await cli(staff, "show", h.id, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert (data["status"]["stage"], data["status"]["risk"]) == ("day1_callback", "escalated")
    assert data["status"]["next_action"] == status.next_action
    assert data["pupil"]["name"] == "Robin Testperson"
    assert [e["what"] for e in data["chronology"]] == [e.what for e in await entries(h)]

    # The parent rings: the case closes, and a closed case takes nothing more.
    code, out, err = await cli(staff, "contact", upn, "--reason", "mother rang: family emergency")
    assert code == 0, err
    assert "case closed: parent contact" in out
    result: CaseResult = await h.result()
    assert result.outcome is CmeOutcome.PARENT_CONTACT
    closed = await entries(h)
    for argv in (["withdraw", upn, "--reason", "opened in error"], ["seen", h.id]):
        code, out, err = await cli(staff, *argv)
        assert code == 1, err
        assert f"case {h.id} is closed: nothing more can be recorded" in err
    assert await entries(h) == closed
    code, out, err = await cli(staff, "show", upn, "--json")
    assert code == 0, err
    assert json.loads(out)["status"]["outcome"] == "parent_contact"


async def test_each_closing_action_records_who_and_why(dev_env, settings, staff, day_worker, start_case):
    seen, safe, withdrawn = [await start_one(start_case, dev_env) for _ in range(3)]
    await asyncio.gather(day1(seen), day1(safe), day1(withdrawn))
    for argv, handle, outcome, by, detail in (
        (
            ["seen", seen.id, "--where", "in class after lunch"],
            seen,
            CmeOutcome.CHILD_SEEN,
            None,
            "in class after lunch",
        ),
        (
            ["call", safe.id, "safe_with_parent", "--reason", "chickenpox", "--by", "T. Hale"],
            safe,
            CmeOutcome.EXPLAINED_ABSENCE,
            "T. Hale",
            "chickenpox",
        ),
        (
            ["withdraw", withdrawn.id, "--reason", "opened in error: wrong pupil", "--by", "T. Hale"],
            withdrawn,
            CmeOutcome.WITHDRAWN,
            "T. Hale",
            "opened in error: wrong pupil",
        ),
    ):
        code, out, err = await cli(staff, *argv)
        assert code == 0, (argv, err)
        result: CaseResult = await handle.result()
        assert result.outcome is outcome
        assert f"case closed: {outcome.value.replace('_', ' ')}" in out
        last = result.chronology[-1]
        assert last.what.startswith("Case closed") and last.detail == detail
        assert last.by == (by or "T. Hale")
    outbox = [json.loads(x) for x in settings.mis_outbox.read_text().splitlines()]
    assert {"explained_absence", "child_seen", "withdrawn"} <= {x["value"] for x in outbox}


# --------------------------------------------------------------------------------------------
# The DSL's plan and a parent's "still missing", and what show says of each contact
# --------------------------------------------------------------------------------------------
def guarded_case():
    """A case whose second contact is under a court order and lives elsewhere, with a social
    worker and the day the pupil last attended."""
    case = a_case()
    aunt = case.contacts[1].model_copy(
        update={
            "restriction": ContactRestriction.COURT_ORDER,
            "address": Address(line1="Flat 12", line2="Ferry Court", town="Northbridge", postcode="EX4 6FC"),
        }
    )
    return case.model_copy(
        update={
            "contacts": [case.contacts[0], aunt],
            "social_worker_email": "sw.team@testshire.example.gov.uk",
            "last_attended": school_day_before(case.first_day_absent),
        }
    )


def test_the_case_file_shows_who_must_not_be_contacted_and_where_each_contact_lives():
    """No server: the layout. A restricted contact's numbers are left off, so nobody rings them
    from this screen; the restriction, an own address, the social worker and last_attended show."""
    case = guarded_case()
    status = CaseStatus(
        case_id=case_id_of(case),
        school_urn=case.school_urn,
        stage=CmeStage.DAY1_CALL,
        risk=RiskStatus.NOT_ASSESSED,
        opened_at=datetime.now(UTC),
    )
    text = view.casefile(status, [], case, datetime.now(UTC))
    (grace,) = [x for x in text.splitlines() if "Grace Testperson" in x]
    (aunt,) = [x for x in text.splitlines() if "Aunt Synthia" in x]
    assert "07700 900123" in grace and "DO NOT CONTACT" not in grace and "lives at" not in grace
    assert aunt.strip().startswith("Aunt Synthia (aunt); DO NOT CONTACT: court order")
    assert "lives at Flat 12, Ferry Court, Northbridge, EX4 6FC" in aunt
    assert "07700 900456" not in aunt and "aunt@family.example.net" not in aunt
    assert "Social worker:   sw.team@testshire.example.gov.uk" in text
    last, first = day(case.last_attended), day(case.first_day_absent)
    assert f"Last attended:   {last} (first day absent {first})" in text
    plain = view.casefile(status, [], a_case(), datetime.now(UTC))
    assert "Social worker" not in plain and "Last attended:   not sent by the MIS" in plain
    assert "DO NOT CONTACT" not in plain and "lives at" not in plain


async def test_plan_and_still_missing_on_an_escalated_case_read_back_in_show(
    dev_env, settings, staff, day_worker, start_case
):
    case = guarded_case()
    h = await start_case(dev_env.client, case, id=case_id_of(case))
    await day1(h)
    await until_prompted(h)  # the prompt's entry is in before the snapshot

    # Neither is for a case nobody has judged at risk or reported missing: refused, nothing changed.
    before = await entries(h)
    for argv, sentence in (
        (
            ["plan", h.id, "--letter", "send", "--visit", "school", "--note", "routine"],
            "a plan is for a child",
        ),
        (["still-missing", h.id], "No parent has reported this child missing"),
    ):
        code, out, err = await cli(staff, *argv)
        assert code == 1, (argv, out, err)
        assert sentence in err and "Nothing was changed" in err, err
    assert await entries(h) == before

    code, _, err = await cli(
        staff, "call", h.id, "missing_parent_concerned", "--note", "not home since last night"
    )
    assert code == 0, err
    code, out, err = await cli(
        staff, "risk", h.id, "--at-risk", "--concern", "child_sexual_exploitation", "--by", "Dana Lead"
    )
    assert code == 0 and "risk escalated" in out, err
    code, out, err = await cli(
        staff,
        "plan",
        h.id,
        "--letter",
        "hold",
        "--visit",
        "joint",
        "--note",
        "joint visit with police tomorrow; nothing in writing to the home",
        "--by",
        "Dana Lead",
    )
    assert code == 0, err
    assert f"{h.id}: recorded by Dana Lead" in out
    # The parent who reported the child missing rings again: not a contact that closes the case.
    code, _, err = await cli(staff, "contact", h.id, "--reason", "mother rang")
    assert code == 1 and "admin.py still-missing CASE" in err, err
    code, out, err = await cli(
        staff, "still-missing", h.id, "--note", "mother rang at 11: still not home", "--by", "T. Hale"
    )
    assert code == 0, err
    assert f"{h.id}: recorded by T. Hale" in out and "risk escalated" in out
    status = await h.query(CmeCaseWorkflow.status)
    assert status.outcome is None and status.stage is not CmeStage.CLOSED

    code, out, err = await cli(staff, "show", h.id)
    assert code == 0, err
    for text in (
        "Safeguarding plan: letter hold, visit joint  [Dana Lead]",
        "joint visit with police tomorrow; nothing in writing to the home",
        "Parent: the child is still missing  [T. Hale]",
        "mother rang at 11: still not home",
        "Aunt Synthia (aunt); DO NOT CONTACT: court order",
        "lives at Flat 12, Ferry Court, Northbridge, EX4 6FC",
        "Social worker:   sw.team@testshire.example.gov.uk",
        f"Last attended:   {day(case.last_attended)}",
    ):
        assert text in out, (text, out)
    code, out, err = await cli(staff, "show", h.id, "--json")
    assert code == 0, err
    data = json.loads(out)
    pupil = data["pupil"]
    assert pupil["social_worker_email"] == "sw.team@testshire.example.gov.uk"
    assert pupil["last_attended"] == case.last_attended.isoformat()
    grace, aunt = pupil["contacts"]
    assert (grace["restriction"], grace["may_be_contacted"], grace["address"]) == (None, True, None)
    assert (aunt["restriction"], aunt["may_be_contacted"]) == ("court_order", False)
    assert aunt["address"] == ["Flat 12", "Ferry Court", "Northbridge", "EX4 6FC"]
    said = {(e["what"], e["by"], e["detail"]) for e in data["chronology"]}
    assert ("Parent: the child is still missing", "T. Hale", "mother rang at 11: still not home") in said
    assert (
        "Safeguarding plan: letter hold, visit joint",
        "Dana Lead",
        "joint visit with police tomorrow; nothing in writing to the home",
    ) in said

    # Only the child being seen closes it.
    code, out, err = await cli(staff, "seen", h.id, "--where", "found at a friend's house by police")
    assert code == 0 and "case closed: child seen" in out, err


# --------------------------------------------------------------------------------------------
# Later stages on the fast clock: the home visit and the LA's decision
# --------------------------------------------------------------------------------------------
async def test_visit_then_la_decisions(dev_env, settings, staff, fast_worker, start_case):
    h = await start_one(start_case, dev_env)
    await until(h, lambda s: s.visit_booked_for is not None, "visit booked", WHOLE_CASE)
    code, out, err = await cli(
        staff,
        "visit",
        h.id,
        "no_answer",
        "--spoke-to",
        "neighbour at no. 9",
        "--note",
        "curtains drawn",
        "--by",
        "Vic Visitor",
    )
    assert code == 0, err
    visit = [e for e in await entries(h) if e.what == "Home visit: no answer"]
    assert visit[0].by == "Vic Visitor" and visit[0].detail == "spoke to neighbour at no. 9; curtains drawn"
    code, _, err = await cli(staff, "visit", h.id, "child_seen")
    assert code == 1 and "home visit outcome is already recorded (no_answer, by Vic Visitor)" in err

    await until(h, lambda s: s.stage is CmeStage.REFERRED and s.next_action_at, "referred", WHOLE_CASE)
    code, out, err = await cli(staff, "la-decision", h.id, "keep_on_roll", "--note", "still enquiring")
    assert code == 0, err
    assert "stage referred" in out and "LA decision" in out
    # Too soon to delete: the refusal says what regulation 9(1)(i) still needs, and show lists it.
    code, out, err = await cli(staff, "la-decision", h.id, "remove_from_roll", "--note", "moved abroad")
    assert code == 1 and "cannot be deleted from the roll yet" in err and "9(1)(i)" in err
    code, out, err = await cli(staff, "enquiry", h.id, "other_agencies", "--note", "GP: no contact")
    assert code == 0, err
    code, out, err = await cli(staff, "la-update", h.id, "feedback", "--note", "checking port records")
    assert code == 0, err
    code, out, _ = await cli(staff, "show", h.id)
    assert "Enquiries:       other_agencies" in out and "Before deletion:" in out
    assert "LA feedback to the school" in out
    code, out, err = await cli(staff, "la-decision", h.id, "child_located", "--note", "on roll elsewhere")
    assert code == 0, err
    result: CaseResult = await h.result()
    assert result.outcome is CmeOutcome.CHILD_LOCATED
    assert [e.what for e in result.chronology if e.what.startswith("LA decision")] == [
        "LA decision: keep on roll",
        "LA decision: child located",
    ]


# --------------------------------------------------------------------------------------------
# The case list, and finding a case
# --------------------------------------------------------------------------------------------
async def test_cases_filters_table_and_json(dev_env, settings, staff, day_worker, start_case):
    a = await start_one(start_case, dev_env)
    upn = UPNS[a.id]
    b = await start_case(
        dev_env.client, (c := a_case(OTHER_URN, upn)), id=case_id_of(c)
    )  # same pupil, another school
    c = await start_one(start_case, dev_env)
    d = await start_one(start_case, dev_env)
    await asyncio.gather(*(day1(x) for x in (a, b, c, d)))
    # Each prompt sent, so each case's next action is its Day 1 outcome, no longer the prompt.
    await asyncio.gather(*(until_waiting_for(x, "Day 1 call outcome") for x in (a, b, c, d)))
    assert (await cli(staff, "risk", c.id, "--at-risk", "--concern", "other"))[0] == 0
    assert (await cli(staff, "contact", d.id, "--reason", "rang in"))[0] == 0

    rows = await listed(
        staff,
        "--school",
        TEST_URN,
        want=lambda r: {a.id, c.id} <= set(ids(r)) and d.id not in ids(r),
        what="school filter",
    )
    assert b.id not in ids(rows)
    listed_at = [r["next_action_at"] for r in rows if r["next_action_at"]]
    assert listed_at == sorted(listed_at)  # earliest next action first
    row = rows[ids(rows).index(a.id)]
    assert row["school_urn"] == TEST_URN and row["stage"] == "day1_call" and row["risk"] == "not_assessed"
    assert row["next_action"] == "record the Day 1 call outcome" and row["status"] == "running"
    assert row["next_action_at"] == (await a.query(CmeCaseWorkflow.status)).next_action_at.isoformat()
    assert row["days_open"] == 0 and row["outcome"] is None and not row["overdue"]
    rows = await listed(staff, "--school", OTHER_URN, want=lambda r: b.id in ids(r), what="other school")
    assert not {a.id, c.id} & set(ids(rows))
    rows = await listed(staff, "--risk", "escalated", want=lambda r: c.id in ids(r), what="risk filter")
    assert not {a.id, b.id} & set(ids(rows))
    rows = await listed(
        staff, "--stage", "day1_call", want=lambda r: {a.id, b.id, c.id} <= set(ids(r)), what="stage filter"
    )
    assert d.id not in ids(rows)
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    await listed(staff, "--due-before", soon, want=lambda r: a.id in ids(r), what="due soon")
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    await listed(staff, "--due-before", past, want=lambda r: a.id not in ids(r), what="due earlier")
    rows = await listed(staff, "--all", "--school", TEST_URN, want=lambda r: d.id in ids(r), what="--all")
    closed = rows[ids(rows).index(d.id)]
    assert (closed["status"], closed["outcome"], closed["next_action_at"]) == (
        "completed",
        "parent_contact",
        None,
    )

    # The table carries the same facts as the JSON, and no name.
    rows = await listed(staff, "--school", TEST_URN, want=lambda r: {a.id, c.id} <= set(ids(r)), what="again")
    code, table, err = await cli(staff, "cases", "--school", TEST_URN)
    assert code == 0, err
    lines = table.splitlines()
    assert lines[0].split()[:4] == ["CASE", "SCHOOL", "STAGE", "RISK"]
    for r in rows:
        if r["case_id"] not in (a.id, c.id):
            continue
        (line,) = [x for x in lines if x.startswith(r["case_id"] + " ")]
        for fact in (r["school_urn"], r["stage"], r["risk"], r["next_action"], str(r["days_open"])):
            assert fact in line, (fact, line)
    assert "Robin" not in table and "Testperson" not in table

    # Finding a case: the UPN is now at two schools, so it needs the full ID. (admin.py works out
    # the UPN's case ID at each school of its directory: the one with both schools in it.)
    staff = staff.model_copy(update={"directory_path": settings.directory_path})
    code, _, err = await cli(staff, "show", upn)
    assert code == 2 and "several schools" in err and a.id in err and b.id in err
    code, _, err = await cli(staff, "call", upn, "no_answer")
    assert code == 2 and "several schools" in err
    assert (await cli(staff, "show", a.id.replace("cme-", "CME-").lower()))[0] == 0  # as typed
    code, _, err = await cli(staff, "show", case_id_of(a_case()))
    assert code == 3 and "no case cme-" in err
    code, _, err = await cli(staff, "show", f"cme-{TEST_URN}-{upn}")  # the old, UPN-bearing form
    assert code == 2 and "not a case ID" in err
    code, _, err = await cli(staff, "call", new_upn(), "no_answer")
    assert code == 3 and "no case for that UPN" in err
    code, _, err = await cli(staff, "show", "robin!")
    assert code == 2 and "neither a case ID" in err


async def test_no_worker_answering_is_exit_4(dev_env, settings, staff, monkeypatch, start_case):
    """A case whose worker is down: the command says so after a bounded wait, never hangs."""
    monkeypatch.setattr(admin, "QUERY_TIMEOUT", timedelta(seconds=1))
    monkeypatch.setattr(admin, "UPDATE_TIMEOUT", timedelta(seconds=2))
    monkeypatch.setattr(admin, "LIST_QUERY_TIMEOUT", timedelta(seconds=1))
    case = a_case()
    h = await start_case(dev_env.client, case, id=case_id_of(case), task_queue=f"nobody-{uuid.uuid4()}")
    try:
        code, _, err = await cli(staff, "show", h.id)
        assert code == 4 and "is the worker running?" in err, err
        code, _, err = await cli(staff, "call", h.id, "no_answer")
        assert code == 4 and "is the worker running?" in err, err
        code, out, err = await cli(staff, "cases", "--json")
        assert code == 0 and "did not say their next action (is the worker running?)" in err, err
        (row,) = [r for r in json.loads(out)["cases"] if r["case_id"] == h.id]
        assert row["next_action"] is None and row["status"] == "running"
    finally:
        await close_started()
