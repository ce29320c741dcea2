"""``admin.py cases`` lists every case that is not running normally first, and warns of term dates
running out (as the worker's log does at start), so nothing leaves the list unseen.

Against the real dev server with the real worker of ``tests/test_admin.py`` (five-minute school
days: cases wait at Day 1). A case that needs staff is started with ``CmeAttention`` set and on a
task queue no worker polls, so the list is tested on its own: the workflow keeps that attribute
up to date itself, and its tests are where a message not delivered is made to happen.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import uuid
from datetime import date, datetime, timedelta

from temporalio.common import SearchAttributePair, TypedSearchAttributes

from tests.conftest import ROOT, STARTED, TEST_DIRECTORY
from tests.factories import TEST_URN, case_id_of, last_school_day, make_case, school_day_before
from tests.test_admin import (  # noqa: F401
    a_case,
    cli,
    day1,
    day_worker,
    ids,
    listed,
    new_upn,
    staff,
    start_one,
)
from whereabouts.cli import admin, admin_commands
from whereabouts.cli.casefile_view import school_days_since
from whereabouts.directory import load_directory
from whereabouts.directory_checks import terms_running_out
from whereabouts.schooldays import SchoolCalendar
from whereabouts.search import CME_ATTENTION, CME_SCHOOL_URN, CME_STAGE
from whereabouts.times import LONDON, day
from whereabouts.workflows.case import CmeCaseWorkflow

NO_SCHOOL = "990299"  # in no directory: a listing of it is quick and empty


def ending(tmp_path, last: date):
    """The test directory with the school's term dates ending on ``last``."""
    path = tmp_path / "ending.toml"
    # Only the first school's terms (Test Hill's) end; the other school's run on to 2099.
    path.write_text(TEST_DIRECTORY.read_text().replace("end = 2099-12-31", f"end = {last.isoformat()}", 1))
    return path


def warning_for(last: date, days: int) -> str:
    return (
        f"school {TEST_URN} (Test Hill Primary): its last term date in the school directory is "
        f"{day(last)}, only {days} school days ahead (fewer than 60): add its next terms, "
        "or its cases cannot be scheduled"
    )


# --------------------------------------------------------------------------------------------
# Term dates running out
# --------------------------------------------------------------------------------------------
def test_a_school_whose_terms_run_out_within_60_school_days_is_one_sentence(tmp_path):
    assert terms_running_out(load_directory(TEST_DIRECTORY)) == []  # terms to 2099
    short = load_directory(ending(tmp_path, date(2027, 2, 12)))
    # Mon 18 Jan to Fri 12 Feb 2027: four weeks, no bank holiday.
    assert terms_running_out(short, date(2027, 1, 15)) == [warning_for(date(2027, 2, 12), 20)]
    assert terms_running_out(short, date(2026, 11, 1)) == []  # 60 school days still ahead then


def school_time_today() -> date:
    return datetime.now(LONDON).date()


def days_to(path) -> int:
    """What the warning counts: school days from today to the end of the directory's terms."""
    school = load_directory(path).school(TEST_URN)
    return SchoolCalendar(school).school_days_ahead(school_time_today(), 60)


async def test_the_worker_warns_at_start_of_term_dates_running_out(tmp_path):
    last = school_time_today() + timedelta(days=30)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{s.getsockname()[1]}"  # no Temporal: the worker stops after its checks
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHEREABOUTS_")} | {
        "WHEREABOUTS_DIRECTORY_PATH": str(ending(tmp_path, last)),
        "WHEREABOUTS_TEMPORAL_ADDRESS": closed,
        "WHEREABOUTS_VAR_DIR": str(tmp_path / "var"),
        "WHEREABOUTS_DEMO_UNENCRYPTED": "1",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "worker.py"), env=env, cwd=tmp_path, stderr=asyncio.subprocess.PIPE
    )
    _, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 3, err
    days = days_to(ending(tmp_path, last))
    said = [line for line in err.decode().splitlines() if "WARNING" in line and "school directory" in line]
    assert len(said) == 1 and said[0].endswith(
        f"WARNING whereabouts.worker: school directory: {warning_for(last, days)}"
    ), err


async def test_cases_warns_of_term_dates_running_out_and_carries_on(staff, tmp_path):  # noqa: F811
    last = school_time_today() + timedelta(days=30)
    soon = staff.model_copy(update={"directory_path": ending(tmp_path, last)})
    days = days_to(soon.directory_path)
    code, out, err = await cli(soon, "cases", "--school", NO_SCHOOL)
    assert (code, out) == (0, "No open cases match.\n")
    assert err == f"admin: warning: {warning_for(last, days)}\n"
    # A directory that cannot be read is one line, and the list still comes.
    gone = staff.model_copy(update={"directory_path": tmp_path / "missing.toml"})
    code, out, err = await cli(gone, "cases", "--school", NO_SCHOOL)
    assert (code, out) == (0, "No open cases match.\n")
    missing = tmp_path / "missing.toml"
    assert err == f"admin: warning: term dates not checked: {missing}: school directory file not found\n"
    code, out, err = await cli(staff, "cases", "--school", NO_SCHOOL)  # terms to 2099: nothing to say
    assert (code, err) == (0, "")


# --------------------------------------------------------------------------------------------
# What needs a person, first
# --------------------------------------------------------------------------------------------
async def test_a_terminated_case_and_one_needing_staff_are_listed_first(
    dev_env,
    settings,
    staff,  # noqa: F811
    day_worker,  # noqa: F811
    start_case,
    monkeypatch,
):
    monkeypatch.setattr(admin, "LIST_QUERY_TIMEOUT", timedelta(seconds=1))  # the workerless case
    ordinary = await start_one(start_case, dev_env)
    ended = await start_one(start_case, dev_env)
    case = a_case()
    flagged = await dev_env.client.start_workflow(
        CmeCaseWorkflow.run,
        case,
        id=case_id_of(case),
        task_queue=f"nobody-{uuid.uuid4()}",
        search_attributes=TypedSearchAttributes(
            [  # as the workflow sets them (it never runs here)
                SearchAttributePair(CME_SCHOOL_URN, TEST_URN),
                SearchAttributePair(CME_STAGE, "day1_call"),
                SearchAttributePair(CME_ATTENTION, ["undelivered"]),
            ]
        ),
    )
    STARTED.append(flagged)
    await asyncio.gather(day1(ordinary), day1(ended))
    await ended.terminate("operator: wrong task queue")
    mine = {ordinary.id, ended.id, flagged.id}

    rows = await listed(
        staff, "--school", TEST_URN, want=lambda r: mine <= set(ids(r)), what="the three cases"
    )
    by_id = {r["case_id"]: r for r in rows}
    assert (by_id[ended.id]["status"], by_id[ended.id]["needs"]) == ("terminated", ["operator: terminated"])
    assert by_id[flagged.id]["attention"] == ["undelivered"]
    assert by_id[flagged.id]["needs"] == ["staff: message not delivered"]
    assert (by_id[ordinary.id]["needs"], by_id[ordinary.id]["attention"]) == ([], [])
    order = ids(rows)
    assert order.index(ended.id) < order.index(flagged.id) < order.index(ordinary.id)
    # Above the case needing staff, only cases needing an operator or staff; above those needing
    # staff, every case needing an operator (earlier tests leave terminated cases behind).
    above = rows[: order.index(flagged.id)]
    assert all(r["needs"] for r in above)
    assert not any(n.startswith("operator:") for r in rows[order.index(flagged.id) :] for n in r["needs"])

    # The table says the same in its NEEDS column, and names no one.
    code, table, err = await cli(staff, "cases", "--school", TEST_URN)
    assert code == 0, err
    lines = table.splitlines()
    assert lines[0].split()[-1] == "NEEDS"
    (line,) = [x for x in lines if x.startswith(ended.id + " ")]
    assert line.endswith("operator: terminated")
    (line,) = [x for x in lines if x.startswith(flagged.id + " ")]
    assert line.endswith("staff: message not delivered")
    (line,) = [x for x in lines if x.startswith(ordinary.id + " ")]
    assert line.endswith(" -")
    assert lines.index(next(x for x in lines if x.startswith(ended.id))) < lines.index(line)
    assert "Robin" not in table and "Testperson" not in table


async def test_only_the_newest_run_of_a_pupils_case_is_listed(
    dev_env,
    settings,
    staff,  # noqa: F811
    day_worker,  # noqa: F811
    start_case,
):
    async def terminated_then_started_again(case):
        first = await start_case(dev_env.client, case, id=case_id_of(case))
        await day1(first)
        await first.terminate("operator: started again")
        again = await start_case(dev_env.client, case, id=case_id_of(case))
        await day1(again)
        return first, again

    # P: terminated, then started again: one case, running.
    p = a_case()
    _, again_p = await terminated_then_started_again(p)
    # Q: the same, then closed by the procedure: nothing to list without --all.
    q = a_case()
    first_q, again_q = await terminated_then_started_again(q)
    assert (await cli(staff, "contact", case_id_of(q), "--reason", "mother rang"))[0] == 0
    await again_q.result()

    rows = await listed(
        staff,
        "--school",
        TEST_URN,
        want=lambda r: ids(r).count(case_id_of(p)) == 1 and case_id_of(q) not in ids(r),
        what="newest runs only",
    )
    (row,) = [r for r in rows if r["case_id"] == case_id_of(p)]
    assert (row["run_id"], row["status"], row["needs"]) == (again_p.result_run_id, "running", [])
    # With --all both runs are there, and the older one is history: nobody is asked to look.
    rows = await listed(
        staff, "--all", "--school", TEST_URN, want=lambda r: ids(r).count(case_id_of(q)) == 2, what="--all"
    )
    runs = {r["run_id"]: r for r in rows if r["case_id"] == case_id_of(q)}
    assert runs[first_q.result_run_id]["status"] == "terminated"
    assert runs[again_q.result_run_id]["outcome"] == "parent_contact"
    assert all(r["needs"] == [] for r in runs.values())


# --------------------------------------------------------------------------------------------
# DAYS OPEN: school days since Day 1
# --------------------------------------------------------------------------------------------
async def test_days_open_counts_school_days_since_day_1(
    dev_env,
    settings,
    staff,  # noqa: F811
    day_worker,  # noqa: F811
    start_case,
    tmp_path,
    monkeypatch,
):
    """A running case counts its own school days (Day 1 shows 0); a closed one, or one whose
    worker does not answer, is counted on the directory's calendar from its first day of absence
    (the feed's memo) to its close: an INSET day in between does not count, nor does a weekend."""
    monkeypatch.setattr(admin, "LIST_QUERY_TIMEOUT", timedelta(seconds=1))  # the workerless case
    last = last_school_day()
    d3 = school_day_before(last)
    d2 = school_day_before(d3)
    first = school_day_before(d2)  # Day 1: three school days before the last one
    text = settings.directory_path.read_text()  # the day worker's directory
    inset = tmp_path / "inset.toml"  # the same schools, with an INSET day on d2 at Test Hill
    inset.write_text(text.replace("[[schools]]", f"[[schools]]\ninset_days = [{d2.isoformat()}]", 1))
    listing = staff.model_copy(update={"directory_path": inset})
    # What admin.py's own settings say where its caller passes none (the command line).
    monkeypatch.setattr(admin_commands, "get_settings", lambda: listing, raising=False)

    async def started(task_queue: str):
        case = make_case(first, upn=new_upn())
        handle = await dev_env.client.start_workflow(
            CmeCaseWorkflow.run,
            case,
            id=case_id_of(case),
            task_queue=task_queue,
            memo={"first_day_absent": first.isoformat(), "first_session": "AM"},
            # as the workflow sets it: the workerless case never runs to set it itself
            search_attributes=TypedSearchAttributes([SearchAttributePair(CME_SCHOOL_URN, TEST_URN)]),
        )
        STARTED.append(handle)
        return handle

    today = await start_one(start_case, dev_env)  # Day 1 is today (its own compressed clock)
    closed = await started(settings.task_queue)
    unanswered = await started(f"nobody-{uuid.uuid4()}")
    await asyncio.gather(day1(today), day1(closed))
    assert (await cli(listing, "contact", closed.id, "--reason", "mother rang"))[0] == 0
    await closed.result()

    mine = {today.id, closed.id, unanswered.id}
    rows = await listed(
        listing, "--all", "--school", TEST_URN, want=lambda r: mine <= set(ids(r)), what="the three"
    )
    by_id = {r["case_id"]: r for r in rows if r["case_id"] in mine}
    # d3 and the last school day since Day 1 (d2 is an INSET day; today, if not a school day,
    # adds nothing), where the old count said 0 calendar days since the case was created.
    assert by_id[closed.id]["days_open"] == 2
    assert by_id[unanswered.id]["days_open"] == 2
    assert by_id[today.id]["days_open"] == 0
    code, table, _ = await cli(listing, "cases", "--all", "--school", TEST_URN)
    assert code == 0 and "DAYS OPEN" in table.splitlines()[0]
    (line,) = [x for x in table.splitlines() if x.startswith(closed.id + " ")]
    assert "  2  " in line


def test_school_days_since_day_1_on_the_directory_calendar():
    directory = load_directory(ROOT / "examples" / "schools.toml")
    oak = "990101"
    # Fri 27 Nov 2026 is Day 1: 0 that day, 0 over the weekend, 1 on the Monday.
    assert school_days_since(directory, oak, date(2026, 11, 27), date(2026, 11, 27)) == 0
    assert school_days_since(directory, oak, date(2026, 11, 27), date(2026, 11, 29)) == 0
    assert school_days_since(directory, oak, date(2026, 11, 27), date(2026, 11, 30)) == 1
    # A first day of absence on a Saturday: Day 1 is the Monday.
    assert school_days_since(directory, oak, date(2026, 11, 28), date(2026, 12, 1)) == 1
    # Across the Christmas holiday (18 Dec to 5 Jan): only school days count.
    assert school_days_since(directory, oak, date(2026, 12, 17), date(2027, 1, 6)) == 3
    # A school not in the directory: weekdays less bank holidays (25 Dec; Boxing Day on the 28th).
    assert school_days_since(directory, "990299", date(2026, 12, 24), date(2026, 12, 31)) == 3
