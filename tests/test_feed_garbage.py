"""Garbage in (issue 9): a bad row, a cut file, a binary file or a huge field stops nothing else.

Each morning's feed is a list of children someone should be looking for, so one damaged row
must not hold back the others, and nothing the MIS (or a person with a spreadsheet) can produce
may crash the starter. These run ``starter.py`` as the office does, a subprocess against the
dev server with a real worker, and look on the server for the cases the good rows start and in
the rejects files for the bad rows. ``tests/test_starter.py`` covers each check on a row (UPN,
URN, dates, ...) one by one; here they come mixed with the damage a file picks up on the way.
"""

from __future__ import annotations

import asyncio
import csv
import gzip
import io
import json
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest_asyncio
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from tests.conftest import ROOT, STARTED, close_started
from tests.factories import case_id_for
from tests.test_starter import DIRECTORY, NAMES, csv_text, new_upn, row
from tests.test_starter import _env as _starter_env
from whereabouts.activities.deps import Deps
from whereabouts.feed import COLUMNS, KEPT_CHARS, REJECT_COLUMNS, FeedUnreadable, read_feed
from whereabouts.worker import build_worker

TEN_MB = 10_000_000
FIFTY_MB = 50_000_000


def _env(dev_env, settings, **extra: str) -> dict[str, str]:
    """starter.py's environment: the dev server, and no key (the worker here reads plain JSON),
    which the starter accepts only as a declared throwaway demo."""
    return _starter_env(dev_env, settings, WHEREABOUTS_DEMO_UNENCRYPTED="1", **extra)


@pytest_asyncio.fixture
async def case_worker(dev_env, settings):
    """A real worker on the real school calendar: a started case waits for its Day 1 call."""
    async with build_worker(dev_env.client, settings, Deps.from_settings(settings)):
        yield
        await close_started()


@dataclass
class Ran:
    code: int
    out: str
    err: str
    max_rss_mb: float


def _run_blocking(args: list[str], env: dict[str, str], cwd: Path, timeout: float) -> Ran:
    """starter.py as a child of its own, reaped with wait4 so its peak memory is its own."""
    out_path, err_path = cwd / ".starter.out", cwd / ".starter.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "starter.py"), *args],
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
        )
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
            pid, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.02)
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    return Ran(proc.returncode, out_path.read_text(), err_path.read_text(), usage.ru_maxrss / 1024)


async def starter(*args: str, env: dict[str, str], cwd: Path, timeout: float = 60) -> Ran:
    """In a thread: the worker serving the feed's cases runs on this test's event loop."""
    ran = await asyncio.to_thread(_run_blocking, list(args), env, cwd, timeout)
    assert "Traceback" not in ran.err, ran.err
    assert not any(n in ran.out + ran.err for n in NAMES)  # rows are named by number, never by name
    return ran


def case(upn: str) -> str:
    return case_id_for(upn)


async def running(client, upns: list[str]) -> dict[str, bool]:
    """Which pupils have an open case on the server; the ones found are closed after the test."""
    found = {}
    for upn in upns:
        handle = client.get_workflow_handle(case(upn))
        try:
            found[upn] = (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
            STARTED.append(handle)
        except RPCError as exc:
            assert exc.status == RPCStatusCode.NOT_FOUND, exc
            found[upn] = False
    return found


def rejects(path: Path) -> dict[tuple[str, int], dict[str, str]]:
    """A rejects file by (feed, row). Two feeds share one (``x.csv`` and ``x.json`` both write
    ``x.rejects.csv``), so it names each row's feed: row numbers are per feed."""
    with path.open(newline="", encoding="utf-8") as fh:
        lines = list(csv.DictReader(fh))
    assert lines, f"{path} holds no rejects"
    assert list(lines[0])[-5:] == [*REJECT_COLUMNS, "reject_feed"]
    return {(r["reject_feed"], int(r["reject_row"])): r for r in lines}


def line(values: dict) -> str:
    buf = io.StringIO()
    csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n").writerow(values)
    return buf.getvalue()


HEADER = ",".join(COLUMNS) + "\n"


def other_check_letter(upn: str) -> str:
    return next(x for x in "AB" if x != upn[0]) + upn[1:]


# --------------------------------------------------------------------------------------------
# Malformed rows among good ones
# --------------------------------------------------------------------------------------------
async def test_malformed_rows_among_good_ones_go_to_the_rejects(dev_env, settings, case_worker, tmp_path):
    good = [new_upn() for _ in range(5)]
    bad = [new_upn() for _ in range(7)]  # valid UPNs: a bad row must not start a case anyway
    extra_cell = line(row(bad[0])).rstrip("\n") + ",surplus\n"
    cells = line(row(bad[1])).rstrip("\n").split(",")
    missing_cell = ",".join(cells[:7] + cells[8:]) + "\n"  # address_line2 lost: town under it
    stray_quote = line(row(bad[2])).replace("7 Imaginary Row", '"7 Imaginary Row')
    feed = (
        HEADER
        + line(row(good[0]))  # 2
        + extra_cell  # 3
        + missing_cell  # 4
        + stray_quote  # 5: used to swallow the rows after it, unseen
        + line(row(good[1]))  # 6
        + line(row(bad[3], attendance_date="31/02/2026"))  # 7
        + line(row(other_check_letter(bad[4])))  # 8
        + line(row(bad[5], school_urn="990999"))  # 9: not a school in the directory
        + "\n"  # 10: blank: spreadsheets leave them, skipped
        + "," * (len(COLUMNS) - 1)  # 11: a row of only commas, likewise
        + "\n"
        + line(row(good[2]))  # 12
    )
    (tmp_path / "mixed.csv").write_text(feed)
    items = [{k: v for k, v in row(u).items() if v} for u in (good[3], good[4])]
    jsonl = (
        json.dumps(items[0])  # 1
        + '\n{"school_urn": "990201", "upn": "'  # 2: broken mid-line, as a bad export leaves it
        + bad[6]
        + '", "forename": }\n'
        + json.dumps(items[1])  # 3
        + "\n"
    )
    (tmp_path / "mixed.jsonl").write_text(jsonl)

    ran = await starter("mixed.csv", "mixed.jsonl", "--json", env=_env(dev_env, settings), cwd=tmp_path)

    assert ran.code == 1, ran.err
    report = json.loads(ran.out)
    by_feed = {f["feed"]: f for f in report["feeds"]}
    csv_report, json_report = by_feed["mixed.csv"], by_feed["mixed.jsonl"]
    assert [r["row"] for r in csv_report["started"]] == [2, 6, 12]
    assert [r["row"] for r in json_report["started"]] == [1, 3]
    assert [(r["row"], r["field"]) for r in csv_report["rejected"]] == [
        (3, "(row)"),
        (4, "(row)"),
        (5, "address_line1"),
        (7, "attendance_date"),
        (8, "upn"),
        (9, "school_urn"),
    ]
    assert [(r["row"], r["field"]) for r in json_report["rejected"]] == [(2, "(row)")]
    assert await running(dev_env.client, good) == dict.fromkeys(good, True)
    assert await running(dev_env.client, bad) == dict.fromkeys(bad, False)

    # Each bad row, in a file a person can fix and feed again: the row as it came, then why.
    both = rejects(tmp_path / "mixed.rejects.csv")
    got = {n: r for (f, n), r in both.items() if f == "mixed.csv"}
    assert sorted(got) == [3, 4, 5, 7, 8, 9]  # not the blank line, nor the row of commas
    width = len(COLUMNS)  # 39 since the safeguarding columns (restriction, own address, social worker)
    assert f"{width + 1} cells but the header has {width}" in got[3]["reject_reason"]
    assert got[3]["reject_value"] == f"{width + 1} cells"
    assert f"{width - 1} cells" in got[4]["reject_reason"] and "wrong columns" in got[4]["reject_reason"]
    assert got[5]["reject_value"] == '"7 Imaginary Row' and "never closes" in got[5]["reject_reason"]
    assert got[5]["upn"] == bad[2] and got[5]["town"] == "Exampleton"  # its other cells in place
    assert (got[7]["reject_value"], got[7]["upn"]) == ("31/02/2026", bad[3])
    assert "not a real date" in got[7]["reject_reason"]
    assert "check letter" in got[8]["reject_reason"]
    assert got[9]["reject_value"] == "990999" and "school directory" in got[9]["reject_reason"]
    assert all(r["forename"] == "Robin" for r in got.values())
    broken = both["mixed.jsonl", 2]
    assert broken["reject_field"] == "(row)" and "not valid JSON" in broken["reject_reason"]
    assert broken["reject_value"] == f'{{"school_urn": "990201", "upn": "{bad[6]}", "forename": }}'


# --------------------------------------------------------------------------------------------
# A file cut short
# --------------------------------------------------------------------------------------------
async def test_a_file_cut_short_starts_its_complete_rows_and_keeps_the_cut_one(
    dev_env, settings, case_worker, tmp_path
):
    """An upload or copy that stopped early: the office is told where it ends, the complete
    rows start (each is a child to look for now), the cut row is kept, and exit 1 says feed
    again. Feeding the whole file later is harmless: rows already in are recognised."""
    upns = [new_upn() for _ in range(9)]
    cut_row = csv_text([row(u) for u in upns[:3]])
    cut_row = cut_row[: cut_row.index("mother", cut_row.index(upns[2])) + 3]  # row 4, in a cell
    quoted = csv_text([row(u, contact2_name="Aunt, Synthia") for u in upns[3:6]])
    quoted = quoted[: quoted.index("Aunt, ", quoted.index(upns[5])) + 6]  # row 4, in quotes
    array = json.dumps([{k: v for k, v in row(u).items() if v} for u in upns[6:]], indent=2)
    array = array[: array.index(upns[8]) + 5]  # item 3
    for name, text in (("cut.csv", cut_row), ("quoted.csv", quoted), ("cut.json", array)):
        (tmp_path / name).write_text(text)

    ran = await starter("cut.csv", "quoted.csv", "cut.json", env=_env(dev_env, settings), cwd=tmp_path)

    assert ran.code == 1, ran.err
    lines = ran.err.splitlines()
    assert lines == [
        f"starter: {name}: the file is cut short: it ends in the middle of {where}; rows after the cut "
        "are missing: export the feed again and feed the whole file (rows already in are recognised)"
        for name, where in (("cut.csv", "row 4"), ("quoted.csv", "row 4"), ("cut.json", "item 3"))
    ]
    assert ran.out.count("started          2\n") == 3 and ran.out.count("CUT SHORT") == 3
    started = [*upns[0:2], *upns[3:5], *upns[6:8]]
    assert await running(dev_env.client, upns) == {u: u in started for u in upns}

    shared = rejects(tmp_path / "cut.rejects.csv")  # cut.csv's and cut.json's
    assert sorted(shared) == [("cut.csv", 4), ("cut.json", 3)]
    cut = shared["cut.csv", 4]
    assert (cut["upn"], cut["reject_field"], cut["reject_value"]) == (upns[2], "contact1_relationship", "mot")
    cells = COLUMNS.index("contact1_relationship") + 1  # the cut cell is the last one read
    assert cut["reject_reason"] == (
        f"the file ends in the middle of this row (after {cells} of its {len(COLUMNS)} cells): "
        "it was cut short"
    )
    with (tmp_path / "quoted.rejects.csv").open(newline="", encoding="utf-8") as fh:
        (cut,) = list(csv.DictReader(fh))  # one feed, one file: no reject_feed column
    assert (cut["reject_row"], cut["reject_field"], cut["reject_value"]) == ("4", "contact2_name", "Aunt, ")
    assert "inside a quoted cell" in cut["reject_reason"] and cut["upn"] == upns[5]
    item = shared["cut.json", 3]
    assert item["reject_field"] == "(row)" and item["reject_value"].startswith("{")
    assert upns[8][:5] in item["reject_value"]  # the cut item as it came, to recognise
    assert item["reject_reason"] == "the file ends in the middle of this item: it was cut short"


# --------------------------------------------------------------------------------------------
# Binary files
# --------------------------------------------------------------------------------------------
async def test_a_binary_feed_is_refused_in_one_line_and_the_others_go_in(
    dev_env, settings, case_worker, tmp_path
):
    upns = [new_upn(), new_upn()]
    good = csv_text([row(u) for u in upns])
    noise = random.Random(9).randbytes(8192)
    feeds = {
        "noise.csv": (noise, "binary file"),
        "high.csv": (bytes(range(0x80, 0x100)) * 16, "not UTF-8"),  # no NUL, still not text
        "marks.png": (b"\x89PNG\r\n\x1a\n" + noise[:512], "a PNG image"),
        "today.csv.gz": (gzip.compress(good.encode()), "compressed with gzip"),
    }
    for name, (data, _) in feeds.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "good.csv").write_text(good)

    ran = await starter(*feeds, "good.csv", "--json", env=_env(dev_env, settings), cwd=tmp_path)

    assert ran.code == 2
    lines = ran.err.splitlines()
    assert len(lines) == len(feeds), ran.err
    for said, (name, (_, why)) in zip(lines, feeds.items(), strict=True):
        assert said.startswith(f"starter: {name}: not read: ") and why in said, said
    report = {f["feed"]: f for f in json.loads(ran.out)["feeds"]}
    assert all(report[name]["unreadable"] and report[name]["rows"] == 0 for name in feeds)
    assert [r["row"] for r in report["good.csv"]["started"]] == [2, 3]
    assert await running(dev_env.client, upns) == dict.fromkeys(upns, True)
    assert not list(tmp_path.glob("*.rejects.csv"))


# --------------------------------------------------------------------------------------------
# Whatever bytes a row holds (issue 18)
# --------------------------------------------------------------------------------------------
async def test_a_lone_surrogate_or_an_undecodable_item_stops_nothing(
    dev_env, settings, case_worker, tmp_path
):
    """A lone UTF-16 surrogate ("\\ud800", what an exporter leaves when it cuts an emoji in two)
    once crashed the starter while it wrote the rejects file: no row started and the exit code
    said only "some rows rejected". Now such a row, one with a number too long to convert and
    one nested too deeply to decode are each rejected on their own, in an array and in JSON
    lines, the good rows start, and the exit code is 1 because rows were rejected and for no
    other reason."""
    good = [new_upn() for _ in range(6)]
    bad = [new_upn() for _ in range(2)]

    def item(upn: str) -> str:
        return json.dumps({k: v for k, v in row(upn).items() if v})

    cut_emoji = item(bad[0]).replace('"Robin"', '"Rob\\ud800"')  # the JSON escape, as exporters write it
    assert "\\ud800" in cut_emoji
    huge_number = '{"school_urn": 1' + "0" * 5000 + "}"
    deep = '{"flags": ' + "[" * 50_000 + "]" * 50_000 + "}"  # an object, so a line of its own
    array = "[" + ",".join([item(good[0]), cut_emoji, item(good[1]), huge_number, deep, item(good[2])]) + "]"
    (tmp_path / "damaged.json").write_text(array)
    surrogate_key = item(bad[1]).replace('"forename"', '"fore\\udfffname"')
    lines = [item(good[3]), surrogate_key, item(good[4]), huge_number, deep, item(good[5])]
    (tmp_path / "damaged.jsonl").write_text("\n".join(lines) + "\n")

    ran = await starter("damaged.json", "damaged.jsonl", "--json", env=_env(dev_env, settings), cwd=tmp_path)

    assert ran.code == 1, ran.err  # rows rejected, the rest in: nothing else went wrong
    report = {f["feed"]: f for f in json.loads(ran.out)["feeds"]}
    for name in ("damaged.json", "damaged.jsonl"):
        assert [r["row"] for r in report[name]["started"]] == [1, 3, 6], report[name]
        assert [r["row"] for r in report[name]["rejected"]] == [2, 4, 5], report[name]
        assert not report[name].get("unreadable")
    assert await running(dev_env.client, good + bad) == {u: u in good for u in good + bad}

    got = rejects(tmp_path / "damaged.rejects.csv")  # both feeds share it: written, UTF-8
    assert sorted(got) == [(f, n) for f in ("damaged.json", "damaged.jsonl") for n in (2, 4, 5)]
    emoji = got["damaged.json", 2]
    assert emoji["upn"] == bad[0] and emoji["forename"] == "Rob\ufffd"  # the row kept, fixable
    assert "broken character" in emoji["reject_reason"] and emoji["reject_field"] == "forename"
    assert "broken character" in got["damaged.jsonl", 2]["reject_reason"]
    assert got["damaged.jsonl", 2]["upn"] == bad[1]
    for name in ("damaged.json", "damaged.jsonl"):
        assert "number far too long" in got[name, 4]["reject_reason"]
        assert "nested too deeply" in got[name, 5]["reject_reason"]


# --------------------------------------------------------------------------------------------
# Huge fields
# --------------------------------------------------------------------------------------------
async def test_huge_fields_are_rejected_and_good_rows_start(dev_env, settings, case_worker, tmp_path):
    """A 10 MB forename and a 50 MB line: rejected as damaged, the good rows start, and the
    rejects file keeps the rows with the huge values cut to their first KEPT_CHARS and a note.
    (The starter's peak memory is printed, not asserted: memory goals belong in bench/.)"""
    good = [new_upn() for _ in range(3)]
    bad = [new_upn() for _ in range(2)]
    huge = line(row(bad[0], forename="R" * TEN_MB))
    feed = HEADER + line(row(good[0])) + huge + "x" * FIFTY_MB + "\n" + line(row(good[1]))
    (tmp_path / "huge.csv").write_bytes(feed.encode())
    items = [{k: v for k, v in row(u).items() if v} for u in (good[2], bad[1])]
    items[1]["address_line1"] = "7 " * (TEN_MB // 2)
    (tmp_path / "huge.jsonl").write_text("\n".join(json.dumps(i) for i in items) + "\n")

    ran = await starter("huge.csv", "huge.jsonl", "--json", env=_env(dev_env, settings), cwd=tmp_path)

    assert ran.code == 1, ran.err
    report = {f["feed"]: f for f in json.loads(ran.out)["feeds"]}
    assert [r["row"] for r in report["huge.csv"]["started"]] == [2, 5]
    assert [r["row"] for r in report["huge.jsonl"]["started"]] == [1]
    assert await running(dev_env.client, good + bad) == {u: u in good for u in good + bad}
    size_mb = (len(feed) + TEN_MB) / 2**20
    print(f"starter peak RSS {ran.max_rss_mb:.0f} MB for {size_mb:.0f} MB of feeds")

    cut = f"... [cut: {TEN_MB:,} characters in the feed]"
    got = rejects(tmp_path / "huge.rejects.csv")
    assert sorted(got) == [("huge.csv", 3), ("huge.csv", 4), ("huge.jsonl", 2)]
    assert (tmp_path / "huge.rejects.csv").stat().st_size < 20_000
    forename = got["huge.csv", 3]
    assert forename["reject_field"] == "forename" and forename["forename"] == "R" * KEPT_CHARS + cut
    assert forename["reject_value"] == forename["forename"]
    assert f"{TEN_MB:,} characters" in forename["reject_reason"] and "damaged" in forename["reject_reason"]
    assert (forename["upn"], forename["surname"], forename["contact1_phone"]) == (
        bad[0],
        "Testperson",
        "07700 900123; 01632 960777",
    )  # the rest of the row as it came, to fix and feed again
    line50 = got["huge.csv", 4]
    assert line50["reject_field"] == "school_urn" and f"{FIFTY_MB:,} characters" in line50["reject_reason"]
    assert line50["school_urn"] == "x" * KEPT_CHARS + f"... [cut: {FIFTY_MB:,} characters in the feed]"
    address = got["huge.jsonl", 2]
    assert address["reject_field"] == "address_line1" and address["upn"] == bad[1]
    assert address["address_line1"] == "7 " * (KEPT_CHARS // 2) + cut


# --------------------------------------------------------------------------------------------
# The same, in-process and without a server: the edges of the rules
# --------------------------------------------------------------------------------------------
def test_a_line_break_inside_quotes_is_still_one_row():
    """Legal CSV (Alt+Enter in an Excel cell) is not mistaken for a stray quote."""
    upns = [new_upn(), new_upn()]
    text = csv_text([row(upns[0], address_line1="Flat 2\nExample House"), row(upns[1])])
    feed = read_feed(text, directory=DIRECTORY)
    assert not feed.rejects and [r.row for r in feed.rows] == [2, 3]
    assert feed.rows[0].address_line1 == "Flat 2, Example House"  # one line of the address block
    # A faulty row with a line break in it is still one reject, not a stray-quote split.
    text = csv_text(
        [row(upns[0], address_line1="Flat 2\nExample House", contact1_email="x@@y"), row(upns[1])]
    )
    feed = read_feed(text, directory=DIRECTORY)
    assert [(r.row, r.field) for r in feed.rejects] == [(2, "contact1_email")] and [
        r.row for r in feed.rows
    ] == [3]


def test_cut_or_broken_before_any_usable_row_is_unreadable():
    text = csv_text([row(new_upn())])
    array = json.dumps([row(new_upn()), row(new_upn())])
    for damaged, why in [
        (text[:-60], "ends in the middle of row 2, and no complete row"),
        (array[:40], "ends in the middle of item 1, and no complete row"),
        (array.replace('"upn"', "upn", 1), "not valid JSON at line 1"),  # broken, yet closed by ]
    ]:
        try:
            read_feed(damaged, directory=DIRECTORY)
        except FeedUnreadable as exc:
            assert why in str(exc), str(exc)
        else:
            raise AssertionError(f"{damaged[:80]!r} was read")
