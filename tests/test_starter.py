"""The morning feed (starter.py, whereabouts/feed/): marks in, cases started, rejects out.

Against the real dev server with a real worker on the real school calendar, so started cases
sit at Day 1 while the test looks at them, and a present mark closes one for real. Reading and
checking need no server and are tested on their own; the command runs in-process where it can
and as a subprocess for standard input and a Temporal that is not there.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import socket
import sys
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import cast

import pytest_asyncio
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from tests.conftest import ROOT, STARTED, TEST_DIRECTORY, close_started, until_settled
from tests.factories import TEST_URN, case_id_for, last_school_day, make_upn, school_day_before
from tests.signer import key_file
from whereabouts.activities.deps import Deps
from whereabouts.cli import starter
from whereabouts.directory import load_directory
from whereabouts.feed import (
    COLUMNS,
    REJECT_COLUMNS,
    FeedReport,
    FeedUnreadable,
    RowRef,
    decode,
    feed,
    parse_feed,
    read_feed,
)
from whereabouts.models import Address, CaseResult
from whereabouts.times import day
from whereabouts.vocabulary import CmeOutcome, ContactRestriction, PupilFlag
from whereabouts.worker import build_worker
from whereabouts.workflows.case import CmeCaseWorkflow

TODAY = last_school_day()  # the feed refuses an N mark on a weekend or a bank holiday
YESTERDAY = school_day_before(TODAY)
DIRECTORY = load_directory(TEST_DIRECTORY)
NAMES = ("Robin", "Testperson", "Grace", "Imaginary Row")  # must never reach output or IDs


def new_upn(la: int = 928) -> str:
    """A valid UPN no other test (nor an earlier run on this server) has used."""
    n = uuid.uuid4().int
    return make_upn(la=la, establishment=n % 9000 + 1000, year=n // 10**4 % 100, serial=n // 10**6 % 1000)


def row(upn: str, code: str = "N", on: date = TODAY, session: str | None = "AM", **over: str) -> dict:
    base = {
        "school_urn": TEST_URN,
        "upn": upn,
        "forename": "Robin",
        "surname": "Testperson",
        "date_of_birth": "14/03/2015",
        "year_group": "6",
        "address_line1": "7 Imaginary Row",
        "town": "Exampleton",
        "postcode": "EX9 1ZZ",
        "attendance_date": on.isoformat(),
        "session": session or "",
        "attendance_code": code,
        "contact1_name": "Grace Testperson",
        "contact1_relationship": "mother",
        "contact1_phone": "07700 900123; 01632 960777",
        "contact1_email": "parent.one@family.example.net",
        "contact1_language": "pl",
        "contact2_name": "Aunt Synthia",
        "contact2_phone": "07700 900456",
        "contact2_parental_responsibility": "no",
        "flags": "eal",
    }
    return base | over


def csv_text(rows: list[dict], newline: str = "\n") -> str:
    buf = io.StringIO()
    out = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator=newline)
    out.writeheader()
    out.writerows(rows)
    return buf.getvalue()


def track(report: FeedReport | dict, client) -> None:
    """Cases the feed started are terminated when the test ends."""
    started = report.started if isinstance(report, FeedReport) else report["started"]
    for ref in started:
        case = ref.case_id if isinstance(ref, RowRef) else ref["case_id"]
        STARTED.append(client.get_workflow_handle(case))


def rows_of(report: FeedReport) -> dict[str, list[int]]:
    return {
        k: [r.row for r in getattr(report, k)]
        for k in ("started", "already_open", "already_handled", "closed_as_seen", "deferred")
    }


@pytest_asyncio.fixture
async def case_worker(dev_env, settings):
    """A real worker on the real school calendar: a started case waits for its Day 1 call."""
    async with build_worker(dev_env.client, settings, Deps.from_settings(settings)):
        yield
        await close_started()


async def chronology(client, case_id: str) -> list[str]:
    entries = await client.get_workflow_handle(case_id).query(CmeCaseWorkflow.chronology_entries)
    return [e.what for e in entries]


# --------------------------------------------------------------------------------------------
# Reading and checking: no server needed
# --------------------------------------------------------------------------------------------
def test_every_kind_of_bad_row_is_rejected_and_the_good_rows_go_in():
    good = new_upn()
    northants = new_upn(la=940)  # West/North Northamptonshire: not in stdnum's 2011 list
    bad_check = next(u for u in ("A", "B") if u != good[0]) + good[1:]
    unknown_la = make_upn(la=999)
    rows = [
        row(good, contact1_email=""),  # 2: no e-mail is fine
        row(northants, date_of_birth="2015-03-14", attendance_date=TODAY.strftime("%d/%m/%Y")),  # 3
        row(bad_check),  # 4
        row(unknown_la),  # 5
        row("X12345"),  # 6
        row(new_upn(), school_urn="123456"),  # 7
        row(new_upn(), attendance_date="31/02/2026"),  # 8
        row(new_upn(), date_of_birth="2015-14-01"),  # 9
        row(new_upn(), contact1_phone="", contact2_phone=""),  # 10
        row(new_upn(), contact1_email="grace@"),  # 11
        row(new_upn(), contact2_name=""),  # 12
        row(new_upn(), flags="eal;vip"),  # 13
        row(new_upn(), contact1_parental_responsibility="perhaps"),  # 14
        row(new_upn(), session="midday"),  # 15
        row(new_upn(), forename="", postcode="nowhere"),  # 16
        row(new_upn(), attendance_date=(TODAY + timedelta(days=7)).isoformat()),  # 17
        row(new_upn(), "/", contact1_email="not-an-address", contact1_phone=""),  # 18: only the mark counts
        row(new_upn(), "I", forename="", contact1_name=""),  # 19
    ]
    good_rows, rejects = parse_feed(csv_text(rows), directory=DIRECTORY)
    assert [r.row for r in good_rows] == [2, 3, 18, 19]
    assert good_rows[1].upn == northants and good_rows[1].attendance_date == TODAY
    case = good_rows[0].to_case()
    assert case.contacts[0].phones == ["07700 900123", "01632 960777"]
    assert case.contacts[0].parental_responsibility and not case.contacts[1].parental_responsibility
    assert case.contacts[0].email is None and case.pupil.flags == ["eal"]
    got = {r.row: r.field for r in rejects}
    assert got == {
        4: "upn",
        5: "upn",
        6: "upn",
        7: "school_urn",
        8: "attendance_date",
        9: "date_of_birth",
        10: "contact1_phone",
        11: "contact1_email",
        12: "contact2_name",
        13: "flags",
        14: "contact1_parental_responsibility",
        15: "session",
        16: "forename | postcode",
        17: "attendance_date",
    }
    by_row = {r.row: r for r in rejects}
    assert "check letter" in by_row[4].reason and by_row[4].value == bad_check
    assert "LA number 999" in by_row[5].reason
    assert "school directory" in by_row[7].reason
    assert "not a real date" in by_row[8].reason
    assert "phone" in by_row[10].reason
    assert by_row[11].value == "grace@"
    assert "'vip'" in by_row[13].reason
    assert by_row[16].reason == (
        "forename: missing (an N mark starts a case, which needs it) | postcode: not a UK postcode"
    )
    assert "future" in by_row[17].reason
    assert all(r.original["school_urn"] for r in rejects)  # kept to write back out
    for r in rejects:  # reasons reach the terminal: no names, no addresses, no phones
        assert not any(x in r.reason for x in (*NAMES, "07700", "Imaginary"))


def test_restrictions_own_addresses_the_social_worker_and_the_mis_id_reach_the_case():
    """The feed's safeguarding columns: a contact not to be contacted (as an MIS spells it), a
    contact's own address (complete or not at all), the social worker's e-mail, the MIS pupil ID."""
    apart = {
        "contact2_address_line1": "Flat 12",
        "contact2_address_line2": "Ferry Court",
        "contact2_town": "Northbridge",
        "contact2_postcode": "ex4 6fc",
    }
    rows = [
        row(new_upn(), contact2_restriction="Court order", social_worker_email="SW@LA.example.gov.uk")
        | apart,
        row(new_upn(), contact1_restriction="No contact", contact2_restriction="court-order"),  # 3
        row(new_upn(), contact1_restriction="NO_CONTACT", contact2_restriction=" do not contact "),  # 4
        row(
            new_upn(),
            mis_pupil_id="ARB-000123_b",
            contact1_address_line1="2 Side St",
            contact1_town="Exampleton",
            contact1_postcode="EX9 2ZZ",
        ),  # 5: line 2 is optional
        row(new_upn(), contact2_restriction="yes"),  # 6
        row(new_upn(), contact1_restriction="restricted"),  # 7
        row(new_upn(), contact2_town="Northbridge"),  # 8: part of an address
        row(new_upn()) | apart | {"contact2_postcode": "nowhere"},  # 9
        row(new_upn()) | apart | {"contact2_town": ""},  # 10
        row(new_upn(), social_worker_email="social.worker@"),  # 11
        row(new_upn(), mis_pupil_id="ARB 000123"),  # 12
        row(new_upn(), mis_pupil_id="A" * 41),  # 13
        row(
            new_upn(),
            contact2_name="",
            contact2_phone="",
            contact2_parental_responsibility="",
            contact2_restriction="court_order",
        ),  # 14: a restriction, but whose?
        row(new_upn(), "/", contact1_restriction="maybe", social_worker_email="x@", mis_pupil_id="a b"),  # 15
    ]
    checked = read_feed(csv_text(rows), directory=DIRECTORY)
    assert [r.row for r in checked.rows] == [2, 3, 4, 5, 15]
    first, second, third, fourth = (r.to_case() for r in checked.rows[:4])
    grace, aunt = first.contacts
    assert grace.restriction is None and grace.may_be_contacted and grace.address is None
    assert aunt.restriction is ContactRestriction.COURT_ORDER and not aunt.may_be_contacted
    assert aunt.address == Address(
        line1="Flat 12", line2="Ferry Court", town="Northbridge", postcode="EX4 6FC"
    )
    assert first.social_worker_email == "SW@la.example.gov.uk"  # the domain normalised, as for contacts
    assert first.mis_pupil_id is None and fourth.mis_pupil_id == "ARB-000123_b"
    for case in (second, third):
        assert [c.restriction for c in case.contacts] == [
            ContactRestriction.NO_CONTACT,
            ContactRestriction.COURT_ORDER if case is second else ContactRestriction.NO_CONTACT,
        ]
    assert fourth.contacts[0].address == Address(line1="2 Side St", town="Exampleton", postcode="EX9 2ZZ")
    assert fourth.social_worker_email is None and fourth.contacts[0].restriction is None

    allowed = (
        "not a contact restriction: use no_contact or court_order (the contact must not be contacted), "
        "or leave blank"
    )
    got = {r.row: (r.field, r.value, r.reason) for r in checked.rejects}
    assert got[6] == ("contact2_restriction", "yes", allowed)
    assert got[7] == ("contact1_restriction", "restricted", allowed)
    part = "missing: contact 2's own address is given in part, and it needs its first line, town and postcode"
    assert got[8] == (
        "contact2_address_line1",
        "",
        f"{part} (missing: contact2_address_line1, contact2_postcode)",
    )
    assert got[9] == ("contact2_postcode", "nowhere", "not a UK postcode")
    assert got[10] == ("contact2_town", "", f"{part} (missing: contact2_town)")
    assert got[11][:2] == ("social_worker_email", "social.worker@") and "not a valid e-mail" in got[11][2]
    mis = "an MIS pupil ID is 1 to 40 letters, digits, - or _"
    assert got[12] == ("mis_pupil_id", "ARB 000123", mis) and got[13] == ("mis_pupil_id", "A" * 41, mis)
    assert got[14] == ("contact2_name", "", "missing: contact details given without a name")
    assert sorted(got) == [6, 7, 8, 9, 10, 11, 12, 13, 14]
    for r in checked.rejects:  # no names, addresses or phones in a reason
        assert not any(x in r.reason for x in (*NAMES, "07700", "Flat 12", "Northbridge"))

    # JSON carries the same keys, to the same contacts.
    items = [{k: v for k, v in r.items() if v != ""} for r in rows[:2]]
    from_json = read_feed(json.dumps(items), directory=DIRECTORY)
    assert not from_json.rejects and [r.to_case().contacts for r in from_json.rows] == [
        first.contacts,
        second.contacts,
    ]


def test_bom_crlf_json_array_and_json_lines_read_alike():
    upns = [new_upn(), new_upn()]
    rows = [row(upns[0]), row(upns[1], "/", session="PM")]
    plain = parse_feed(csv_text(rows), directory=DIRECTORY)[0]
    excel = b"\xef\xbb\xbf" + csv_text(rows, newline="\r\n").encode()  # "CSV UTF-8" from Excel
    from_excel = parse_feed(decode(excel), directory=DIRECTORY)[0]
    items = [{k: v for k, v in r.items() if v != ""} for r in rows]
    items[0] |= {"school_urn": int(TEST_URN), "contact2_parental_responsibility": False}
    array = parse_feed(json.dumps(items, indent=2), directory=DIRECTORY)[0]
    lines = parse_feed("\n".join(json.dumps(i) for i in items) + "\n", directory=DIRECTORY)[0]

    def dump(rs):
        return [r.model_dump(exclude={"row"}) for r in rs]

    assert len(plain) == 2 and dump(plain) == dump(from_excel) == dump(array) == dump(lines)
    assert [r.row for r in plain] == [r.row for r in from_excel] == [2, 3]  # header is row 1
    assert [r.row for r in array] == [r.row for r in lines] == [1, 2]  # JSON: item position
    # A JSON item that is not an object is a reject at its position; the rest still go in.
    good, rejects = parse_feed(json.dumps([items[0], 42, items[1]]), directory=DIRECTORY)
    assert [r.row for r in good] == [1, 3] and [r.row for r in rejects] == [2]


def test_feeds_that_cannot_be_read_say_why():
    for data, why in [
        (b"", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        ("school_urn,upn\nZoë".encode("latin-1"), "not UTF-8"),
    ]:
        try:
            decode(data)
        except FeedUnreadable as exc:
            assert why in str(exc)
        else:
            raise AssertionError(f"{data!r} was read")
    for text, why in [
        ('[{"school_urn": "990201", "upn": "A', "cut short"),
        ('{"school_urn": "990201"}\n{"upn": ', "cut short"),
        ("990201,A928200126001,Robin\n", "no header"),
        ("school_urn;upn;attendance_date;attendance_code\n", "use commas"),
    ]:
        try:
            read_feed(text, directory=DIRECTORY)
        except FeedUnreadable as exc:
            assert why in str(exc), str(exc)
        else:
            raise AssertionError(f"{text!r} was read")


def test_the_examples_are_good_feeds():
    examples = load_directory(ROOT / "examples" / "schools.toml")
    on = date(2026, 11, 27)  # the examples' date: checked as if fed that day
    cases = []
    for name, rows in (("absences.csv", 9), ("absences.json", 4)):
        feed = read_feed((ROOT / "examples" / name).read_text(), directory=examples, today=on)
        assert not feed.rejects and not feed.unknown_columns and feed.size == rows, feed.rejects
        cases += [r.to_case() for r in feed.rows if r.starts_case]
    assert {c.school_urn for c in cases} == {"990101", "990102"}
    assert {"pl", "ur"} <= {c.language for case in cases for c in case.contacts}
    assert any(c.email is None for case in cases for c in case.contacts)
    # The safeguarding columns, shown at work: a looked-after child with a social worker; a
    # contact under a court order (Leo's father, in the CSV make run feeds) living elsewhere.
    looked_after = [c for c in cases if PupilFlag.LOOKED_AFTER in c.pupil.flags]
    assert looked_after and all(c.social_worker_email for c in looked_after)
    leo = next(c for c in cases if c.pupil.forename == "Leo")
    (father,) = [c for c in leo.contacts if c.restriction is ContactRestriction.COURT_ORDER]
    assert father.address is not None and father.address != leo.pupil.address
    assert all(c.mis_pupil_id for c in cases)


# --------------------------------------------------------------------------------------------
# Feeding Temporal
# --------------------------------------------------------------------------------------------
async def test_mixed_feed_then_the_same_feed_again(dev_env, settings, case_worker):
    client = dev_env.client
    a, b, c, d, e = (new_upn() for _ in range(5))
    # B's case opened yesterday.
    before = await feed(client, read_feed(csv_text([row(b, on=YESTERDAY)]), directory=DIRECTORY), settings)
    track(before, client)
    assert rows_of(before)["started"] == [2]

    mixed = [
        row(a),  # 2: new absence -> started
        row(a, session="PM"),  # 3: same pupil in the afternoon -> already open
        row(b),  # 4: open since yesterday -> already open, noted in the case
        row(c),  # 5: new -> started
        row(c, "/", session="PM"),  # 6: in school this afternoon -> closed as seen
        row(d, "I"),  # 7: authorised (illness) -> ignored
        row(e, "/"),  # 8: present, no case -> ignored
        row(next(x for x in "AB" if x != a[0]) + a[1:]),  # 9: wrong check letter
        row(new_upn(), school_urn="990999"),  # 10: not our school
        row(new_upn(), attendance_date="2026-02-30"),  # 11: no such day
    ]
    text = csv_text(mixed)
    first = await feed(client, read_feed(text, directory=DIRECTORY), settings)
    track(first, client)
    assert rows_of(first) == {
        "started": [2, 5],
        "already_open": [3, 4],
        "already_handled": [],
        "closed_as_seen": [6],
        "deferred": [],
    }
    assert first.ignored == {"/": 1, "I": 1}
    assert [(r.row, r.field) for r in first.rejected] == [
        (9, "upn"),
        (10, "school_urn"),
        (11, "attendance_date"),
    ]
    assert first.rows == 10 and first.exit_code() == 1 and not first.failed

    # The started case: ID from URN and UPN, a summary and memo that name no one.
    case_a = case_id_for(a)
    assert [r.case_id for r in first.started] == [case_a, case_id_for(c)]
    desc = await client.get_workflow_handle(case_a).describe()
    assert desc.status == WorkflowExecutionStatus.RUNNING
    assert await desc.static_summary() == f"CME case: school URN {TEST_URN}"
    assert (await desc.memo())["first_day_absent"] == TODAY.isoformat()
    # C was seen: its case closes with that outcome.
    result: CaseResult = await asyncio.wait_for(
        client.get_workflow_handle_for(CmeCaseWorkflow.run, case_id_for(c)).result(), timeout=15
    )
    assert result.outcome is CmeOutcome.CHILD_SEEN
    assert any(f"register mark / (present), {day(TODAY)} PM" == (x.detail or "") for x in result.chronology)
    # B's case noted today's mark once. B opened yesterday, so its steps due since then run now:
    # read its chronology once it waits on a step still ahead.
    await until_settled(client.get_workflow_handle(case_id_for(b)))
    chron_b = await chronology(client, case_id_for(b))
    chron_a = await chronology(client, case_a)
    assert chron_b.count("MIS: still absent: register N (reason for absence not yet established)") == 1

    # The same feed again changes nothing.
    again = await feed(client, read_feed(text, directory=DIRECTORY), settings)
    track(again, client)
    assert rows_of(again) == {
        "started": [],
        "already_open": [2, 3, 4],
        "already_handled": [5],
        "closed_as_seen": [],
        "deferred": [],
    }
    assert again.ignored == {"/": 2, "I": 1}
    assert await chronology(client, case_id_for(b)) == chron_b
    assert await chronology(client, case_a) == chron_a


async def test_seen_then_absent_again_in_one_feed_is_a_new_case(dev_env, settings, case_worker):
    client = dev_env.client
    f = new_upn()
    rows = [row(f, on=YESTERDAY), row(f, "/", on=TODAY, session="AM"), row(f, on=TODAY, session="PM")]
    text = csv_text(rows)
    report = await feed(client, read_feed(text, directory=DIRECTORY), settings)
    track(report, client)
    assert rows_of(report) | {"ignored": report.ignored} == {
        "started": [2, 4],
        "already_open": [],
        "already_handled": [],
        "closed_as_seen": [3],
        "deferred": [],
        "ignored": {},
    }
    desc = await client.get_workflow_handle(case_id_for(f)).describe()
    assert (await desc.memo()) == {"first_day_absent": TODAY.isoformat(), "first_session": "PM"}
    # Fed again: yesterday's N and this morning's mark belong to the closed episode.
    again = await feed(client, read_feed(text, directory=DIRECTORY), settings)
    assert rows_of(again)["already_handled"] == [2] and rows_of(again)["already_open"] == [4]
    assert again.ignored == {"/": 1} and not again.started


class _FailingClient:
    """The dev server's client, until Temporal "goes away" after ``ok`` starts."""

    def __init__(self, client, ok: int) -> None:
        self.client, self.ok = client, ok

    def get_workflow_handle(self, *args, **kwargs):
        return self.client.get_workflow_handle(*args, **kwargs)

    async def start_workflow(self, *args, **kwargs):
        if self.ok <= 0:
            raise RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b"")
        self.ok -= 1
        return await self.client.start_workflow(*args, **kwargs)


async def test_temporal_lost_mid_feed_reports_what_went_in(dev_env, settings, case_worker):
    rows = [row(new_upn()) for _ in range(6)]
    report = await feed(
        cast(Client, _FailingClient(dev_env.client, ok=2)),  # only what feed() calls, failing on cue
        read_feed(csv_text(rows), directory=DIRECTORY),
        settings,
        concurrency=1,
    )
    track(report, dev_env.client)
    assert [r.row for r in report.started] == [2, 3]
    assert report.not_done == [4, 5, 6, 7]
    assert "connection refused" in (report.unreachable or "")
    assert report.exit_code() == 3


# --------------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------------
def _env(dev_env, settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHEREABOUTS_")}
    return env | {
        "WHEREABOUTS_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "WHEREABOUTS_DIRECTORY_PATH": str(TEST_DIRECTORY),
        "WHEREABOUTS_TASK_QUEUE": settings.task_queue,
        "WHEREABOUTS_VAR_DIR": str(settings.var_dir),
        "WHEREABOUTS_DEMO_UNENCRYPTED": "1",  # no codec key there: the in-process worker reads plain
        "WHEREABOUTS_SIGNING_KEY": str(key_file("MIS feed")),  # starter.py signs as the feed
        **extra,
    }


async def _starter(*args: str, env: dict[str, str], cwd: Path, stdin: bytes = b"") -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "starter.py"),
        *args,
        env=env,
        cwd=cwd,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin), timeout=30)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_stdin_rejects_file_then_fixed_and_fed_again(dev_env, settings, case_worker, tmp_path):
    good, fixed = new_upn(), new_upn()
    broken = next(x for x in "AB" if x != fixed[0]) + fixed[1:]
    feed = csv_text([row(good), row(broken, contact1_email="grace@@family")])
    code, out, err = await _starter(
        "-", "--json", env=_env(dev_env, settings), cwd=tmp_path, stdin=feed.encode()
    )
    report = json.loads(out)
    track(report["feeds"][0], dev_env.client)
    assert code == 1, err
    assert report["exit_code"] == 1 and report["totals"]["started"] == 1
    only = report["feeds"][0]
    assert only["feed"] == "stdin" and only["started"] == [{"row": 2, "case_id": case_id_for(good)}]
    assert [(r["row"], r["field"]) for r in only["rejected"]] == [(3, "upn | contact1_email")]
    assert "Traceback" not in err and not any(n in out + err for n in NAMES)

    # The rejects file: the original columns as they came, then where and why.
    rejects = tmp_path / "rejects.csv"
    assert only["rejects_file"] == str(rejects)
    with rejects.open(newline="", encoding="utf-8") as fh:
        lines = list(csv.DictReader(fh))
    assert list(lines[0]) == [*COLUMNS, *REJECT_COLUMNS]
    assert lines[0]["forename"] == "Robin" and lines[0]["upn"] == broken
    assert lines[0]["reject_row"] == "3" and lines[0]["reject_field"] == "upn | contact1_email"
    assert lines[0]["reject_value"] == f"{broken} | grace@@family"
    assert "check letter" in lines[0]["reject_reason"]

    # A person fixes the row in the rejects file and feeds that file: it goes in.
    lines[0] |= {"upn": fixed, "contact1_email": "grace@family.example.net"}
    with rejects.open("w", newline="", encoding="utf-8") as fh:
        out_csv = csv.DictWriter(fh, fieldnames=list(lines[0]))
        out_csv.writeheader()
        out_csv.writerows(lines)
    code, out, err = await _starter(str(rejects), "--json", env=_env(dev_env, settings), cwd=tmp_path)
    report = json.loads(out)
    track(report["feeds"][0], dev_env.client)
    assert code == 0, err
    assert report["feeds"][0]["started"] == [{"row": 2, "case_id": case_id_for(fixed)}]
    assert not (tmp_path / "rejects.rejects.csv").exists()


async def test_exit_codes(settings, tmp_path):
    good = tmp_path / "good.csv"
    good.write_text(csv_text([row(new_upn()), row(new_upn(), "/")]))
    some_bad = tmp_path / "some_bad.csv"
    some_bad.write_text(csv_text([row(new_upn()), row("A0")]))
    latin = tmp_path / "latin.csv"
    latin.write_bytes(csv_text([row(new_upn(), forename="Zoë")]).encode("latin-1"))
    binary = tmp_path / "sheet.xlsx"
    binary.write_bytes(b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(range(256)))
    truncated = tmp_path / "cut.json"
    # Cut inside its first item: nothing usable before the cut (cut later: tests/test_feed_garbage.py).
    truncated.write_text(json.dumps([row(new_upn())])[:-40])
    headless = tmp_path / "headless.csv"
    headless.write_text(csv_text([row(new_upn())]).split("\n", 1)[1])

    async def run(*args: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = await starter.run(list(args), settings=settings, stdout=out, stderr=err)
        assert "Traceback" not in err.getvalue()
        return code, out.getvalue(), err.getvalue()

    assert (await run(str(good), "--dry-run"))[0] == 0
    code, out, _ = await run(str(some_bad), "--dry-run")
    assert code == 1 and "row 3: upn:" in out and (tmp_path / "some_bad.rejects.csv").exists()
    for path, why in [
        (tmp_path / "missing.csv", "no such file"),
        (latin, "not UTF-8"),
        (binary, "binary"),
        (truncated, "cut short"),
        (headless, "no header"),
    ]:
        code, out, err = await run(str(path), "--dry-run")
        assert code == 2 and why in err and err.count("\n") == 1, (path, err)
    # One unreadable feed does not stop the others; the exit code says the worst.
    code, out, err = await run(str(good), str(headless), "--dry-run", "--json")
    assert code == 2 and [f["rows"] for f in json.loads(out)["feeds"]] == [2, 0]
    # A fixed file leaves no stale rejects behind.
    some_bad.write_text(csv_text([row(new_upn())]))
    assert (await run(str(some_bad), "--dry-run"))[0] == 0
    assert len((tmp_path / "some_bad.rejects.csv").read_text().splitlines()) == 1


async def test_temporal_unreachable_is_one_line_and_exit_3(dev_env, settings, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{s.getsockname()[1]}"
    feed = tmp_path / "today.csv"
    feed.write_text(csv_text([row(new_upn()), row(new_upn())]))
    env = _env(dev_env, settings, WHEREABOUTS_TEMPORAL_ADDRESS=closed)
    code, out, err = await _starter(str(feed), "--json", env=env, cwd=tmp_path)
    assert code == 3
    assert err.count("\n") == 1 and "cannot reach Temporal" in err and "Traceback" not in err
    report = json.loads(out)["feeds"][0]
    assert report["started"] == [] and report["not_done"] == [2, 3] and report["unreachable"]


def test_progress_line_for_big_feeds_at_a_terminal():
    shown = io.StringIO()
    progress = starter._Progress(shown, "today.csv")
    progress(0, 300)
    progress(1, 300)  # within a quarter second: not redrawn
    progress(300, 300)
    assert shown.getvalue() == "\rtoday.csv: 0/300 rows\rtoday.csv: 300/300 rows\n"
