"""The MIS write-back: lines the schema accepts, written once, whole or not at all (a full disk
included), and taken by a consumer through pending, export and ack.

The activity is run directly in ``ActivityEnvironment`` (the workflow tests run it in a worker).
A full disk is simulated by replacing the outbox's low-level write: it puts part (or all) of the
batch down and then fails with ENOSPC, as a real filesystem can, so the test sees the cut-back.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import stat
import threading
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from tests.conftest import TEST_DIRECTORY
from tests.factories import TEST_URN, make_upn
from whereabouts import mis_outbox
from whereabouts.activities.deps import Deps
from whereabouts.activities.mis import MisActivities
from whereabouts.cli import mis as cli
from whereabouts.mis_outbox import COLUMNS, Outbox, append_new, csv_cell, read_lines
from whereabouts.settings import Settings
from whereabouts.steps import CaseRef, MisBatch, MisLine
from whereabouts.vocabulary import CmeOutcome

AT = datetime(2026, 11, 30, 10, 15, tzinfo=UTC)
MONDAY = date(2026, 11, 30)


@pytest.fixture
def acts(tmp_path) -> MisActivities:
    settings = Settings(var_dir=tmp_path / "var", directory_path=TEST_DIRECTORY)
    return MisActivities(Deps.from_settings(settings))


def outbox_of(acts: MisActivities) -> Path:
    return acts.deps.settings.mis_outbox


def batch(
    step: str = "call_1", *, case: str = "cme-test-0001", lines: list[MisLine] | None = None
) -> MisBatch:
    return MisBatch(
        ref=CaseRef(case_id=case, run_id="run-first", step=step),
        school_urn=TEST_URN,
        upn=make_upn(serial=101),
        mis_pupil_id="P-0042",
        lines=lines
        or [
            MisLine(
                step=f"{step}_mark",
                kind="mark_change",
                mark_date=MONDAY,
                session="AM",
                old_code="N",
                new_code="I",
                comment="mother: ill with a cold",
            ),
            MisLine(
                step=f"{step}_reason", kind="reason", mark_date=MONDAY, comment="mother: ill with a cold"
            ),
        ],
        at=AT,
    )


def closing() -> MisBatch:
    return batch(
        "outcome",
        lines=[
            MisLine(step="outcome", kind="case_outcome", value="explained_absence", comment="ill"),
            MisLine(step="referral", kind="note", value="referred_cme"),
        ],
    )


async def record(acts: MisActivities, b: MisBatch) -> int:
    return await ActivityEnvironment().run(acts.record_in_mis, b)


def validator() -> Draft202012Validator:
    schema = json.loads(mis_outbox.SCHEMA_PATH.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


# --- the writer -------------------------------------------------------------------------------


async def test_written_lines_validate_against_the_schema(acts):
    assert await record(acts, batch()) == 2
    assert await record(acts, closing()) == 2
    path = outbox_of(acts)
    lines = [json.loads(x) for x in path.read_bytes().split(b"\n") if x]
    for line in lines:
        assert list(validator().iter_errors(line)) == [], line
        assert set(line) == set(COLUMNS)
    assert [x["id"] for x in lines] == [
        "cme-test-0001/run-first/call_1_mark",
        "cme-test-0001/run-first/call_1_reason",
        "cme-test-0001/run-first/outcome",
        "cme-test-0001/run-first/referral",
    ]
    assert lines[0] | {"upn": "-"} == {
        "id": "cme-test-0001/run-first/call_1_mark",
        "kind": "mark_change",
        "school_urn": TEST_URN,
        "upn": "-",
        "mis_pupil_id": "P-0042",
        "date": "2026-11-30",
        "session": "AM",
        "old_code": "N",
        "new_code": "I",
        "value": None,
        "comment": "mother: ill with a cold",
        "case_id": "cme-test-0001",
        "recorded_at": "2026-11-30T10:15:00+00:00",
    }
    assert mis_outbox.problems(read_lines(path).lines) == []
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_schema_refuses_what_a_kind_needs_missing():
    v = validator()
    good = {c: None for c in COLUMNS} | {
        "id": "cme-x/run/s",
        "case_id": "cme-x",
        "school_urn": TEST_URN,
        "upn": make_upn(serial=7),
        "recorded_at": "2026-11-30T10:15:00+00:00",
    }
    mark = good | {"kind": "mark_change", "date": "2026-11-30", "old_code": "N", "new_code": "C1"}
    assert v.is_valid(mark)
    assert not v.is_valid(mark | {"date": None})
    assert not v.is_valid(mark | {"new_code": None})
    assert not v.is_valid(mark | {"new_code": "ILL"})  # codes are 1 or 2 characters
    assert v.is_valid(mark | {"old_code": "\\", "new_code": "Y7"})
    assert not v.is_valid(good | {"kind": "reason", "date": "2026-11-30"})  # needs a comment
    assert not v.is_valid(good | {"kind": "case_outcome", "value": "gone"})
    assert not v.is_valid(good | {"kind": "note"})
    assert not v.is_valid(mark | {"session": "EVENING"})
    assert not v.is_valid(mark | {"extra": 1})


def test_the_schema_lists_every_case_outcome():
    schema = json.loads(mis_outbox.SCHEMA_PATH.read_text())
    rule = next(r for r in schema["allOf"] if r["if"]["properties"]["kind"]["const"] == "case_outcome")
    assert rule["then"]["properties"]["value"]["enum"] == [o.value for o in CmeOutcome]


async def test_a_retried_batch_writes_nothing_twice(acts):
    assert await record(acts, batch()) == 2
    before = outbox_of(acts).read_bytes()
    assert await record(acts, batch()) == 0
    assert outbox_of(acts).read_bytes() == before
    # The same step with one line more (a later code version): only the new line goes in.
    more = batch()
    more.lines.append(MisLine(step="call_1_note", kind="note", value="called_back"))
    assert await record(acts, more) == 1
    assert len(read_lines(outbox_of(acts)).lines) == 3


def test_a_line_repeated_within_a_batch_is_written_once(tmp_path):
    path = tmp_path / "out.jsonl"
    assert append_new(path, [{"id": "a"}, {"id": "a"}, {"id": "b"}]) == ["a", "b"]
    assert path.read_bytes().count(b"\n") == 2


def failing_write(monkeypatch, *, part: float, code: int = errno.ENOSPC) -> None:
    """The disk fills after ``part`` of the batch is down: the rest of the write fails."""
    real = mis_outbox._write_all

    def write(fd: int, data: bytes) -> None:
        real(fd, data[: int(len(data) * part)])
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(mis_outbox, "_write_all", write)


@pytest.mark.parametrize(("part", "code"), [(0.5, errno.ENOSPC), (1.0, errno.EDQUOT), (0.0, errno.ENOSPC)])
async def test_a_full_disk_leaves_the_file_as_it_was_and_retries(acts, monkeypatch, part, code):
    await record(acts, batch("call_1"))
    before = outbox_of(acts).read_bytes()
    failing_write(monkeypatch, part=part, code=code)
    with pytest.raises(ApplicationError) as raised:
        await record(acts, closing())
    assert outbox_of(acts).read_bytes() == before
    err = raised.value
    assert not err.non_retryable
    assert f"waiting for disk space: {errno.errorcode[code]}" in err.message
    assert "step outcome" in err.message
    assert make_upn(serial=101) not in err.message and "P-0042" not in err.message
    # Space is freed: the retry writes the batch, once.
    monkeypatch.undo()
    assert await record(acts, closing()) == 2
    assert [x.id.rsplit("/", 1)[1] for x in read_lines(outbox_of(acts)).lines] == [
        "call_1_mark",
        "call_1_reason",
        "outcome",
        "referral",
    ]


async def test_another_write_error_is_retryable_too(acts, monkeypatch):
    failing_write(monkeypatch, part=0.3, code=errno.EIO)
    with pytest.raises(ApplicationError) as raised:
        await record(acts, batch())
    assert not raised.value.non_retryable
    assert "cannot write the MIS outbox: EIO" in raised.value.message
    assert outbox_of(acts).read_bytes() == b""


async def test_a_torn_last_line_stays_one_damaged_line(acts, monkeypatch):
    path = outbox_of(acts)
    await record(acts, batch("call_1"))
    with path.open("ab") as fh:
        fh.write(b'{"id": "cme-test-0001/run-first/to')  # a crash mid-line, long ago
    before = path.read_bytes()
    failing_write(monkeypatch, part=0.5)
    with pytest.raises(ApplicationError):
        await record(acts, closing())
    assert path.read_bytes() == before  # not even the newline the batch began with
    monkeypatch.undo()
    assert await record(acts, closing()) == 2
    read = read_lines(path)
    assert read.damaged == [3]
    assert [x.number for x in read.lines] == [1, 2, 4, 5]
    assert mis_outbox.problems(read.lines) == []


def test_concurrent_writers_leave_only_whole_lines(tmp_path):
    path = tmp_path / "out.jsonl"
    comment = "x" * 5000  # lines longer than a pipe buffer, several per write

    def writer(n: int) -> None:
        for i in range(15):
            append_new(path, [{"id": f"{n}/{i}/{k}", "comment": comment} for k in range(3)])

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    read = read_lines(path)
    assert read.damaged == []
    assert len({x.id for x in read.lines}) == len(read.lines) == 6 * 15 * 3


# --- the consumer -----------------------------------------------------------------------------


def write_lines(path: Path, *raw: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(x + "\n" for x in raw))


async def test_damaged_lines_are_skipped_and_reported(acts, capsys):
    await record(acts, batch())
    path = outbox_of(acts)
    good = path.read_text().splitlines()
    write_lines(path, good[0], "not json at all", '["an", "array"]', '{"no": "id"}', "", good[1])
    read = Outbox(path).read()
    assert read.damaged == [2, 3, 4]
    assert [x.number for x in read.lines] == [1, 6]
    assert len(Outbox(path).pending()) == 2

    assert cli.main(["pending", "--outbox", str(path)]) == 0
    captured = capsys.readouterr()
    assert "2 pending, 0 acknowledged" in captured.out
    assert "damaged lines" in captured.err and "2, 3, 4" in captured.err

    assert cli.main(["check", "--outbox", str(path)]) == cli.FOUND_PROBLEMS
    out = capsys.readouterr().out
    for n in (2, 3, 4):
        assert f"line {n}: damaged" in out
    assert "3 of 5 lines need a look" in out


async def test_ack_pending_and_export_round_trip(acts, tmp_path, capsys):
    await record(acts, batch("call_1"))
    await record(acts, closing())
    path = outbox_of(acts)
    box = Outbox(path)
    assert len(box.pending()) == 4

    export = tmp_path / "office" / "today.csv"
    assert cli.main(["export", "--outbox", str(path), "--csv", str(export)]) == 0
    assert "wrote 4 pending lines" in capsys.readouterr().err
    assert stat.S_IMODE(export.stat().st_mode) == 0o600
    raw = export.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel's sign that a CSV is UTF-8
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == list(COLUMNS)
    assert [r[0] for r in rows[1:]] == [x.id for x in box.pending()]
    assert rows[1][COLUMNS.index("upn")] == make_upn(serial=101)
    assert rows[1][COLUMNS.index("value")] == ""  # null is an empty cell

    # The office imported the first two rows and acknowledges them by the file it imported.
    imported = tmp_path / "imported.csv"
    imported.write_text("\n".join(raw.decode("utf-8-sig").splitlines()[:3]) + "\n")
    assert cli.main(["ack", "--outbox", str(path), "--file", str(imported)]) == 0
    assert "acknowledged 2 lines (0 already were)" in capsys.readouterr().out
    assert [x.id.rsplit("/", 1)[1] for x in box.pending()] == ["outcome", "referral"]
    assert stat.S_IMODE(box.ack_path.stat().st_mode) == 0o600
    assert box.ack_path.name == "mis-outbox.ack"

    # Acknowledging again is harmless; --through takes the rest; --all exports everything.
    assert cli.main(["ack", "--outbox", str(path), "--file", str(imported)]) == 0
    assert "acknowledged 0 lines (2 already were)" in capsys.readouterr().out
    last = "cme-test-0001/run-first/referral"
    assert cli.main(["ack", "--outbox", str(path), "--through", last]) == 0
    assert "acknowledged 2 lines (2 already were)" in capsys.readouterr().out
    assert box.pending() == []
    assert cli.main(["export", "--outbox", str(path), "--csv", "-"]) == 0
    assert capsys.readouterr().out.strip() == ",".join(COLUMNS)
    assert cli.main(["export", "--outbox", str(path), "--csv", "-", "--all"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 5
    assert len(read_lines(box.ack_path).lines) == 4


async def test_an_unknown_id_is_an_error_naming_it_and_nothing_is_acknowledged(acts, capsys):
    await record(acts, batch())
    path = str(outbox_of(acts))
    known = "cme-test-0001/run-first/call_1_mark"
    assert cli.main(["ack", "--outbox", path, known, "cme-typo/run/x"]) == cli.BAD_INPUT
    err = capsys.readouterr().err
    assert "not in the outbox: cme-typo/run/x" in err and "nothing acknowledged" in err
    assert Outbox(outbox_of(acts)).acknowledged() == set()
    assert cli.main(["ack", "--outbox", path, "--through", "cme-typo/run/x"]) == cli.BAD_INPUT
    assert cli.main(["ack", "--outbox", path]) == cli.BAD_INPUT  # nothing to acknowledge
    assert cli.main(["ack", "--outbox", path, known, "--through", known]) == cli.BAD_INPUT


async def test_pending_names_lines_by_id_and_only_json_carries_them(acts, capsys):
    await record(acts, batch())
    path = str(outbox_of(acts))
    upn = make_upn(serial=101)
    assert cli.main(["pending", "--outbox", path]) == 0
    out = capsys.readouterr().out
    assert "cme-test-0001/run-first/call_1_mark  mark_change" in out
    assert upn not in out and "cold" not in out
    assert cli.main(["pending", "--outbox", path, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [x["upn"] for x in report["pending"]] == [upn, upn]
    assert report["acknowledged"] == 0 and report["damaged_lines"] == []


async def test_check_names_the_field_not_the_value(acts, capsys):
    await record(acts, batch())
    path = outbox_of(acts)
    assert cli.main(["check", "--outbox", str(path)]) == 0
    assert "2 lines, all valid" in capsys.readouterr().out
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    lines[1]["date"] = None  # a reason without its day
    lines[0]["upn"] = "NOT-A-UPN-123"
    lines.append(lines[0] | {"upn": make_upn(serial=101)})  # the same id twice
    write_lines(path, *(json.dumps(x) for x in lines))
    assert cli.main(["check", "--outbox", str(path)]) == cli.FOUND_PROBLEMS
    out = capsys.readouterr().out
    assert "line 1: upn: does not match" in out
    assert "line 2: date: should be string (for a reason line)" in out
    assert "line 3: id: the same as line 1" in out
    assert "NOT-A-UPN-123" not in out and "cold" not in out


async def test_a_full_disk_while_acknowledging_writes_nothing(acts, monkeypatch, capsys):
    await record(acts, batch())
    path = str(outbox_of(acts))
    failing_write(monkeypatch, part=0.5)
    assert cli.main(["ack", "--outbox", path, "cme-test-0001/run-first/call_1_mark"]) == cli.CANNOT_WRITE
    assert "the disk is full (ENOSPC); nothing was written" in capsys.readouterr().err
    assert Outbox(outbox_of(acts)).ack_path.read_bytes() == b""


def test_no_outbox_yet_is_nothing_pending(tmp_path, capsys):
    path = str(tmp_path / "none.jsonl")
    assert cli.main(["pending", "--outbox", path]) == 0
    assert "0 pending, 0 acknowledged" in capsys.readouterr().out
    assert cli.main(["check", "--outbox", path]) == 0


# --- CSV --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ('=HYPERLINK("http://example.invalid")', '\'=HYPERLINK("http://example.invalid")'),
        ("+44 7700 900123", "'+44 7700 900123"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("-2+3", "'-2+3"),
        ("-x", "'-x"),
        ("-2", "-2"),
        ("-0.5", "-0.5"),
        ("-", "-"),
        ("2026-11-30", "2026-11-30"),
        ("/", "/"),
        ("\\", "\\"),
        ("C1", "C1"),
        ("ill with a cold", "ill with a cold"),
        (None, ""),
    ],
)
def test_csv_cells_never_run_as_formulas(value, cell):
    assert csv_cell(value) == cell


async def test_an_exported_formula_comes_back_as_text(acts, tmp_path):
    await record(
        acts,
        batch(lines=[MisLine(step="r", kind="reason", mark_date=MONDAY, comment="=cmd|'/c calc'!A1")]),
    )
    target = tmp_path / "x.csv"
    assert mis_outbox.export_csv(Outbox(outbox_of(acts)).pending(), target) == 1
    (row,) = csv.DictReader(io.StringIO(target.read_text(encoding="utf-8-sig")))
    assert row["comment"] == "'=cmd|'/c calc'!A1"
    assert list(row) == list(COLUMNS)


def test_the_command_runs_as_a_module_with_its_exit_codes(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "var" / "mis-outbox.jsonl"
    write_lines(path, "torn {")
    env = {**os.environ, "WHEREABOUTS_VAR_DIR": str(tmp_path / "var")}

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "whereabouts.cli.mis", *argv], capture_output=True, text=True, env=env
        )

    assert run("check").returncode == cli.FOUND_PROBLEMS  # the outbox from WHEREABOUTS_VAR_DIR
    assert run("pending").returncode == 0
    bad = run("ack", "cme-nope/run/x")
    assert bad.returncode == cli.BAD_INPUT and bad.stderr.startswith("mis: not in the outbox")
    assert run("frobnicate").returncode == 2  # argparse's usage error


def test_an_unreadable_outbox_is_one_line_and_code_2(tmp_path, capsys):
    path = tmp_path / "outbox.jsonl"
    path.mkdir()  # not a file (works as root too, unlike a chmod)
    assert cli.main(["pending", "--outbox", str(path)]) == cli.BAD_INPUT
    assert capsys.readouterr().err.startswith(f"mis: cannot read {path}")
