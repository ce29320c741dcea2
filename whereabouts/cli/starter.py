"""The MIS feed: each morning's attendance marks in, cases started.

    python starter.py FEED [FEED ...] [--rejects FILE] [--dry-run] [--json]

An N mark with no open case starts one (workflow ID ``cme-<URN>-<UPN>``); a further N for an
open case is noted in it; a present mark for an open case closes it as "child seen"; every other
mark is counted and left alone. Rows that fail their checks go to a rejects file a person can fix
and feed again. Feeding the same file twice changes nothing, so after any failure the answer is
always "feed it again".

Exit codes: 0 all rows taken, 1 some rows rejected (or to feed again, or a feed was cut short:
its complete rows went in), 2 a feed (or the school directory) could not be read, 3 Temporal
unreachable or refusing: the report says which rows went in before that.

``feed()`` is the part an HTTP endpoint or a folder watcher reuses: it takes a Temporal client
and checked rows (``whereabouts.feed.parse_feed``) and returns a ``FeedReport``. Nothing here
logs or prints a name, address or phone number: rows are named by their number and case ID.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import TextIO

from pydantic import BaseModel, Field
from temporalio.client import Client, WorkflowExecutionDescription, WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from whereabouts.cli.common import exit_now
from whereabouts.codec import CodecKeyError
from whereabouts.connect import TemporalUnreachable, connect
from whereabouts.directory import DirectoryError, load_directory
from whereabouts.feed import (
    MAX_FEED_BYTES,
    SESSIONS,
    Feed,
    FeedRow,
    FeedUnreadable,
    Reject,
    decode,
    parse_feed,
    read_feed,
    write_rejects,
)
from whereabouts.models import ChildSeen, FeedStamp
from whereabouts.settings import Settings, get_settings
from whereabouts.times import LONDON
from whereabouts.workflows.case import CmeCaseWorkflow

__all__ = ["FeedReport", "feed", "main", "parse_feed", "run"]

# Starts in flight at once: enough to keep a local or remote frontend busy, few enough that a
# 10,000-row feed does not open 10,000 requests and trip the server's rate limits.
DEFAULT_CONCURRENCY = 64
# A pupil seen and then absent again in one feed needs the first case closed (by the worker)
# before the second can start; wait this long, then ask for the row to be fed again.
CLOSE_WAIT_SECONDS = 5.0
PROGRESS_ROWS = 200
SEEN_BY = "MIS feed"
UNREACHABLE = {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED}


# --------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------
class RowRef(BaseModel):
    row: int
    case_id: str


class FailedRow(RowRef):
    error: str


class RejectRef(BaseModel):
    """A rejected row as the report shows it: no value, so no personal data on the terminal."""

    row: int
    field: str
    reason: str


class FeedReport(BaseModel):
    """What one feed did. Lists name rows (1-based, as in the rejects file) and case IDs."""

    feed: str = "feed"
    rows: int = 0
    dry_run: bool = False
    unreadable: str | None = None
    cut_short: str | None = Field(
        default=None, description="the file ends early: its complete rows are in, the rest is missing"
    )
    codes: dict[str, int] = Field(default_factory=dict, description="valid rows by attendance code")
    started: list[RowRef] = Field(default_factory=list)
    already_open: list[RowRef] = Field(default_factory=list)
    already_handled: list[RowRef] = Field(default_factory=list)
    closed_as_seen: list[RowRef] = Field(default_factory=list)
    ignored: dict[str, int] = Field(default_factory=dict, description="rows left alone, by code")
    rejected: list[RejectRef] = Field(default_factory=list)
    rejects_file: str | None = None
    deferred: list[RowRef] = Field(default_factory=list, description="feed these rows again shortly")
    failed: list[FailedRow] = Field(default_factory=list, description="Temporal refused these rows")
    not_done: list[int] = Field(default_factory=list, description="rows not tried: Temporal unreachable")
    unreachable: str | None = None
    seconds: float = 0.0

    def counts(self) -> dict[str, int]:
        return {
            "rows": self.rows,
            "started": len(self.started),
            "already_open": len(self.already_open),
            "already_handled": len(self.already_handled),
            "closed_as_seen": len(self.closed_as_seen),
            "ignored": sum(self.ignored.values()),
            "rejected": len(self.rejected),
            "deferred": len(self.deferred),
            "failed": len(self.failed),
            "not_done": len(self.not_done),
        }

    def exit_code(self) -> int:
        if self.unreachable or self.failed or self.not_done:
            return 3
        if self.unreadable:
            return 2
        if self.rejected or self.deferred or self.cut_short:
            return 1
        return 0


# --------------------------------------------------------------------------------------------
# Feeding rows to Temporal
# --------------------------------------------------------------------------------------------
class _Pupil:
    """What this feed has already done to one pupil's case, as their marks go by in order."""

    def __init__(self) -> None:
        self.seen_signalled = False


async def feed(
    client: Client,
    rows: Sequence[FeedRow] | tuple[Sequence[FeedRow], Sequence[Reject]] | Feed,
    settings: Settings,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Callable[[int, int], None] | None = None,
    name: str = "feed",
) -> FeedReport:
    """Start, mark or close cases for checked rows; never raises for Temporal trouble.

    ``rows``: ``FeedRow`` objects, the ``(rows, rejects)`` pair ``parse_feed`` returns, or a
    ``Feed``; rejects passed in are listed in the report. One pupil's marks are handled in the
    order they happened (date, then AM before PM), different pupils concurrently, at most
    ``concurrency`` requests at once. If Temporal becomes unreachable the report's
    ``unreachable`` says why, ``started`` holds what went in, and ``not_done`` what did not;
    feeding the same rows again later is safe.
    """
    began = time.monotonic()
    rejects: Sequence[Reject] = ()
    cut_short = None
    if isinstance(rows, Feed):
        rows, rejects, cut_short = rows.rows, rows.rejects, rows.cut_short
    elif isinstance(rows, tuple) and len(rows) == 2 and not isinstance(rows[0], FeedRow):
        rows, rejects = rows
    report = FeedReport(
        feed=name,
        rows=len(rows) + len(rejects),
        cut_short=cut_short,
        rejected=[RejectRef(row=r.row, field=r.field, reason=r.reason) for r in rejects],
    )
    report.codes = dict(Counter(r.attendance_code for r in rows))
    ignored: Counter[str] = Counter()
    pupils: dict[str, list[FeedRow]] = {}
    for row in rows:
        if row.starts_case or row.is_present:
            pupils.setdefault(row.case_id, []).append(row)
        else:
            ignored[row.attendance_code] += 1

    total = len(rows)
    done = total - sum(len(v) for v in pupils.values())
    gate = asyncio.Semaphore(concurrency)

    async def one_pupil(marks: list[FeedRow]) -> None:
        nonlocal done
        pupil = _Pupil()
        for row in sorted(marks, key=lambda r: r.order):
            async with gate:
                if report.unreachable:
                    report.not_done.append(row.row)
                else:
                    try:
                        await _handle_row(client, settings, row, pupil, report, ignored)
                    except RPCError as exc:
                        if exc.status in UNREACHABLE:
                            report.unreachable = report.unreachable or _first_line(exc)
                            report.not_done.append(row.row)
                        else:
                            report.failed.append(_failed(row, exc))
                    except Exception as exc:  # one row's surprise must not stop the others
                        report.failed.append(_failed(row, exc))
            done += 1
            if progress:
                progress(done, total)

    if progress:
        progress(done, total)
    await asyncio.gather(*(one_pupil(marks) for marks in pupils.values()))
    report.ignored = dict(sorted(ignored.items()))
    for name_ in ("started", "already_open", "already_handled", "closed_as_seen", "deferred", "failed"):
        getattr(report, name_).sort(key=lambda r: r.row)
    report.not_done.sort()
    report.seconds = round(time.monotonic() - began, 3)
    return report


async def _handle_row(
    client: Client,
    settings: Settings,
    row: FeedRow,
    pupil: _Pupil,
    report: FeedReport,
    ignored: Counter[str],
) -> None:
    handle = client.get_workflow_handle(row.case_id)
    ref = RowRef(row=row.row, case_id=row.case_id)
    if row.is_present:
        await _present(handle, row, ref, pupil, report, ignored)
    else:
        await _absent(client, settings, handle, row, ref, pupil, report)


async def _absent(
    client: Client,
    settings: Settings,
    handle: WorkflowHandle,
    row: FeedRow,
    ref: RowRef,
    pupil: _Pupil,
    report: FeedReport,
) -> None:
    """N: start a case, or note the mark in the open one, or leave a closed episode closed."""
    stamp = FeedStamp(attendance_date=row.attendance_date, session=row.session, attendance_code="N")
    for _ in range(3):  # the case can change under us (started or closed elsewhere): decide again
        desc = await _describe(handle)
        if desc is not None and desc.status == WorkflowExecutionStatus.RUNNING and pupil.seen_signalled:
            # Seen earlier in this feed, absent again later: a new episode once the old one closes.
            desc = await _wait_closed(handle)
            if desc is None or desc.status == WorkflowExecutionStatus.RUNNING:
                report.deferred.append(ref)
                return
        if desc is not None and desc.status == WorkflowExecutionStatus.RUNNING:
            first_day, _ = await _first_mark(desc)
            if row.attendance_date < first_day:
                # Before this case began: an earlier episode's mark (e.g. a re-fed old file).
                report.already_handled.append(ref)
                return
            try:
                await handle.signal(CmeCaseWorkflow.feed_mark, stamp)
            except RPCError as exc:
                if exc.status == RPCStatusCode.NOT_FOUND:
                    continue
                raise
            report.already_open.append(ref)
            return
        if desc is not None:
            first_day, _ = await _first_mark(desc)
            if first_day >= row.attendance_date:
                report.already_handled.append(ref)
                return
        try:
            await client.start_workflow(
                CmeCaseWorkflow.run,
                row.to_case(),
                id=row.case_id,
                task_queue=settings.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                static_summary=f"CME case: school URN {row.school_urn}",
                memo=_memo(row),
            )
        except WorkflowAlreadyStartedError:
            continue  # started a moment ago by someone else: it is open, so note the mark in it
        pupil.seen_signalled = False
        report.started.append(ref)
        return
    raise RuntimeError("the case kept changing while the row was handled; feed the row again")


def _memo(row: FeedRow) -> dict[str, str]:
    """Read back by the next feed: which episode this case is (see ``_first_mark``)."""
    return {"first_day_absent": row.attendance_date.isoformat(), "first_session": row.session or ""}


async def _present(
    handle: WorkflowHandle,
    row: FeedRow,
    ref: RowRef,
    pupil: _Pupil,
    report: FeedReport,
    ignored: Counter[str],
) -> None:
    """A present mark after the case's first absence closes it: the child has been seen."""
    desc = await _describe(handle)
    if desc is None or desc.status != WorkflowExecutionStatus.RUNNING or pupil.seen_signalled:
        ignored[row.attendance_code] += 1
        return
    first_day, first_session = await _first_mark(desc)
    later = row.attendance_date > first_day or (
        row.attendance_date == first_day and first_session == "AM" and row.session == "PM"
    )
    if not later:
        # Present before (or, sessions unknown, on) the day the absence began: an earlier mark,
        # e.g. a re-fed old file, says nothing about the child since.
        ignored[row.attendance_code] += 1
        return
    where = f"present mark {row.attendance_code} on {row.attendance_date} {row.session or ''}".strip()
    try:
        await handle.signal(CmeCaseWorkflow.child_seen, ChildSeen(by=SEEN_BY, where=where))
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        ignored[row.attendance_code] += 1
        return
    pupil.seen_signalled = True
    report.closed_as_seen.append(ref)


async def _describe(handle: WorkflowHandle) -> WorkflowExecutionDescription | None:
    """The latest run with this case ID, open or closed; None if the pupil never had a case."""
    try:
        return await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


async def _first_mark(desc: WorkflowExecutionDescription) -> tuple[date, str]:
    """The first day (and session) of absence a case was started for, from its memo.

    A case started without the memo (by hand, or before this starter) counts from the day it
    was started, in school time.
    """
    memo = await desc.memo()
    try:
        first = date.fromisoformat(str(memo["first_day_absent"]))
    except (KeyError, ValueError):
        first = desc.start_time.astimezone(LONDON).date()
    session = str(memo.get("first_session") or "")
    return first, session if session in SESSIONS else ""


async def _wait_closed(handle: WorkflowHandle) -> WorkflowExecutionDescription | None:
    deadline = time.monotonic() + CLOSE_WAIT_SECONDS
    desc = await _describe(handle)
    while desc is not None and desc.status == WorkflowExecutionStatus.RUNNING:
        if time.monotonic() > deadline:
            return desc
        await asyncio.sleep(0.2)
        desc = await _describe(handle)
    return desc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def _failed(row: FeedRow, exc: BaseException) -> FailedRow:
    return FailedRow(row=row.row, case_id=row.case_id, error=f"{type(exc).__name__}: {_first_line(exc)}")


# --------------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------------
def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="starter.py",
        description="Turn the morning's attendance feed into CME cases.",
        epilog="Exit codes: 0 all rows taken; 1 some rejected (see the rejects file) or to feed again; "
        "2 a feed or the school directory could not be read; 3 Temporal unreachable or refusing.",
    )
    p.add_argument("feeds", nargs="+", metavar="FEED", help="CSV or JSON file; - reads standard input")
    p.add_argument(
        "--rejects",
        metavar="FILE",
        type=Path,
        help="write rejected rows here (default: beside each feed as NAME.rejects.csv; "
        "for standard input rejects.csv in the current directory)",
    )
    p.add_argument("--dry-run", action="store_true", help="check the feed and report; do not touch Temporal")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    return p.parse_args(argv)


def _label(source: str) -> str:
    return "stdin" if source == "-" else source


def _default_rejects(source: str) -> Path:
    if source == "-":
        return Path.cwd() / "rejects.csv"
    path = Path(source)
    return path.with_name(f"{path.stem}.rejects.csv")


def _read(source: str, stdin: TextIO | None) -> bytes:
    """The feed's bytes, at most ``MAX_FEED_BYTES``: a wrong file (a disk image, a video) is
    refused before it is read into memory, not after."""
    too_big = FeedUnreadable(
        f"larger than {MAX_FEED_BYTES // 2**20} MB: far more than a morning's attendance marks; "
        "is it the right file?"
    )
    if source == "-":
        stream = stdin if stdin is not None else sys.stdin
        buffer = getattr(stream, "buffer", None)
        data = buffer.read(MAX_FEED_BYTES + 1) if buffer is not None else stream.read().encode("utf-8")
        if len(data) > MAX_FEED_BYTES:
            raise too_big
        return data
    try:
        with Path(source).open("rb") as fh:
            data = fh.read(MAX_FEED_BYTES + 1)
        if len(data) > MAX_FEED_BYTES:
            raise too_big
        return data
    except FileNotFoundError:
        raise FeedUnreadable("no such file") from None
    except IsADirectoryError:
        raise FeedUnreadable("is a directory, not a file") from None
    except PermissionError:
        raise FeedUnreadable("permission denied") from None
    except OSError as exc:
        raise FeedUnreadable(f"cannot read it: {exc.strerror}") from None


class _Progress:
    """A one-line counter on stderr for big feeds read by a person at a terminal."""

    def __init__(self, stream: TextIO, label: str) -> None:
        self.stream, self.label = stream, label
        self.last = 0.0
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self.last < 0.25:
            return
        self.last = now
        self.shown = True
        self.stream.write(f"\r{self.label}: {done}/{total} rows")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


def _ranges(rows: Sequence[int]) -> str:
    """[2, 3, 4, 9] -> "2-4, 9": a few words even for thousands of rows."""
    out: list[str] = []
    nums = sorted(rows)
    i = 0
    while i < len(nums):
        j = i
        while j + 1 < len(nums) and nums[j + 1] == nums[j] + 1:
            j += 1
        out.append(str(nums[i]) if i == j else f"{nums[i]}-{nums[j]}")
        i = j + 1
    return ", ".join(out)


def _summary(report: FeedReport, out: TextIO) -> None:
    head = f"{report.feed}: {report.rows} row{'' if report.rows == 1 else 's'}"
    if report.unreadable:
        out.write(f"{report.feed}: not read: {report.unreadable}\n")
        return
    if report.dry_run:
        codes = ", ".join(f"{c} {n}" for c, n in sorted(report.codes.items())) or "none"
        out.write(f"{head} (dry run: Temporal not contacted)\n")
        out.write(f"  {'valid, by code':<17}{codes}\n")
    else:
        ignored = ", ".join(f"{c}: {n}" for c, n in report.ignored.items())
        out.write(f"{head}\n")
        for label, value in (
            ("started", len(report.started)),
            ("already open", len(report.already_open)),
            ("already handled", len(report.already_handled)),
            ("closed as seen", len(report.closed_as_seen)),
            ("ignored", f"{sum(report.ignored.values())}" + (f"  ({ignored})" if ignored else "")),
        ):
            out.write(f"  {label:<17}{value}\n")
    if report.cut_short:
        out.write(f"  {'CUT SHORT':<17}{report.cut_short}\n")
    where = f"  -> {report.rejects_file}" if report.rejected and report.rejects_file else ""
    out.write(f"  {'rejected':<17}{len(report.rejected)}{where}\n")
    for r in report.rejected[:20]:
        several = " | " in r.field  # the reason then names its columns
        out.write(f"    row {r.row}: {r.reason if several else f'{r.field}: {r.reason}'}\n")
    if len(report.rejected) > 20:
        out.write(f"    ... and {len(report.rejected) - 20} more in the rejects file\n")
    if report.deferred:
        out.write(
            f"  {'feed again':<17}{len(report.deferred)}  rows {_ranges([r.row for r in report.deferred])}: "
            "the pupil's earlier case was still closing\n"
        )
    for f in report.failed[:20]:
        out.write(f"  failed: row {f.row} ({f.case_id}): {f.error}\n")
    if report.unreachable or report.not_done:
        started = _ranges([r.row for r in report.started]) or "none"
        out.write(
            f"  Temporal unreachable: rows started before that: {started}; "
            f"not done: {_ranges(report.not_done) or 'none'}. Feed the file again when Temporal "
            "is back: rows already in are recognised.\n"
        )


async def run(
    argv: Sequence[str] | None = None,
    *,
    settings: Settings | None = None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """The command, callable in-process (tests); returns the exit code."""
    out, err = stdout or sys.stdout, stderr or sys.stderr
    args = _arguments(argv)

    def say(line: str) -> None:
        err.write(f"starter: {line}\n")
        err.flush()

    try:
        settings = settings or get_settings()
    except Exception as exc:  # pydantic ValidationError from the environment
        say(f"settings: {_first_line(exc)}")
        return 2
    try:
        directory = load_directory(settings.directory_path)
    except DirectoryError as exc:
        say(f"cannot check URNs: {exc}")
        return 2

    reports: list[FeedReport] = []
    feeds: list[tuple[str, Feed, FeedReport]] = []
    for source in args.feeds:
        label = _label(source)
        report = FeedReport(feed=label, dry_run=args.dry_run)
        reports.append(report)
        try:
            parsed = read_feed(decode(_read(source, stdin)), directory=directory)
        except (FeedUnreadable, RecursionError) as exc:
            report.unreadable = str(exc) if isinstance(exc, FeedUnreadable) else "JSON nested too deeply"
            say(f"{label}: not read: {report.unreadable}")
            continue
        report.rows = parsed.size
        report.cut_short = parsed.cut_short
        if parsed.cut_short:
            say(f"{label}: {parsed.cut_short}")
        report.codes = dict(Counter(r.attendance_code for r in parsed.rows))
        report.rejected = [RejectRef(row=r.row, field=r.field, reason=r.reason) for r in parsed.rejects]
        if parsed.unknown_columns:
            shown = [c if len(c) <= 40 else f"{c[:40]}..." for c in parsed.unknown_columns[:10]]
            more = f" and {len(parsed.unknown_columns) - 10} more" if len(parsed.unknown_columns) > 10 else ""
            say(f"{label}: columns ignored (not part of the feed): {', '.join(shown)}{more}")
        feeds.append((source, parsed, report))

    _write_all_rejects(args.rejects, feeds, say)

    todo = [(s, f, r) for s, f, r in feeds if f.rows]
    if not args.dry_run and todo:
        try:
            client = await connect(settings)
        except TemporalUnreachable as exc:
            say(str(exc))
            for _, parsed, report in todo:
                report.unreachable = str(exc)
                report.not_done = sorted(r.row for r in parsed.rows)
            client = None
        except CodecKeyError as exc:
            say(f"cannot start: {exc}")
            return 2
        for source, parsed, report in todo if client else ():
            label = _label(source)
            if any(r.unreachable for r in reports):
                report.unreachable = "not tried: Temporal became unreachable on an earlier feed"
                report.not_done = sorted(r.row for r in parsed.rows)
                continue
            show = err.isatty() and len(parsed.rows) > PROGRESS_ROWS
            done = await feed(client, parsed, settings, progress=_Progress(err, label) if show else None)
            done.feed, done.dry_run, done.rejects_file = label, False, report.rejects_file
            reports[reports.index(report)] = done
            if done.unreachable:
                say(f"{label}: Temporal became unreachable: {done.unreachable}")
            for f in done.failed[:5]:
                say(f"{label}: row {f.row} ({f.case_id}) not taken: {f.error}")

    code = max((r.exit_code() for r in reports), default=0)
    if args.json:
        totals: Counter[str] = Counter()
        for r in reports:
            totals.update(r.counts())
        body = {
            "feeds": [r.model_dump(mode="json") for r in reports],
            "totals": dict(totals),
            "exit_code": code,
        }
        out.write(json.dumps(body, indent=2) + "\n")
    else:
        for r in reports:
            _summary(r, out)
    out.flush()
    return code


def _write_all_rejects(target: Path | None, feeds: list[tuple[str, Feed, FeedReport]], say) -> None:
    """Rejects go where a person will look; a file left from an earlier run is emptied, so it
    never lists rows that have since gone in. Feeds sharing a file (``--rejects``, or the same
    default name: ``today.csv`` and ``today.json``) get a ``reject_feed`` column, as row numbers
    are per feed."""
    groups: dict[Path, list[tuple[str, Feed, FeedReport]]] = {}
    for item in feeds:
        groups.setdefault(target or _default_rejects(item[0]), []).append(item)
    for path, items in groups.items():
        if not any(f.rejects for _, f, _ in items) and not path.exists():
            continue
        try:
            write_rejects(path, [(_label(s), f) for s, f, _ in items], feed_column=len(items) > 1)
        except OSError as exc:
            say(f"cannot write the rejects to {path}: {exc.strerror}")
            continue
        for _, f, report in items:
            if f.rejects:
                report.rejects_file = str(path)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return asyncio.run(run(argv))
    except KeyboardInterrupt:
        print("starter: interrupted; feed the file again: rows already in are recognised", file=sys.stderr)
        return 130


def console_main() -> None:
    """The ``whereabouts-feed`` command and ``python starter.py``."""
    exit_now(main())


if __name__ == "__main__":
    console_main()
