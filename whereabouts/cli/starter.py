"""The MIS feed: each morning's attendance marks in, cases started.

    python starter.py FEED [FEED ...] [--rejects FILE] [--dry-run] [--json]
                      [--profile sims|arbor|bromcom|wonde | --mapping FILE] [--contacts FILE]
                      [--school-urn URN]
    python starter.py schedule --folder DIR [--profile NAME] ...   (the drop-folder Schedule)

An MIS's own export is read through a column profile (``--profile``, or an LA's ``--mapping``
TOML), its contacts joined from a report of their own (``--contacts``): see
``whereabouts/feed/profiles/``.

An N mark with no open case starts one (workflow ID ``cme-<URN>-<pseudonym>``, a keyed pseudonym
of URN and UPN); a further N for an open case is noted in it; a present mark for an open case
closes it as "child seen"; every other mark is counted and left alone. Rows that fail their checks
go to a rejects file a person can fix and feed again. Feeding the same file twice changes nothing,
so after any failure the answer is always "feed it again".

Exit codes: 0 all rows taken, 1 some rows rejected (or to feed again, or a feed was cut short:
its complete rows went in), 2 a feed (or the school directory) could not be read, 3 Temporal
unreachable or refusing: the report says which rows went in before that.

This is only the command: the files, the terminal and the exit code. The work is the library's,
``whereabouts.feed``: ``read_feed`` checks a feed and ``feed()`` takes it to Temporal and
returns a ``FeedReport``, which an HTTP endpoint or a folder watcher calls just the same.
Nothing here logs or prints a name, address or phone number: rows are named by their number and
case ID.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from temporalio.client import Client

from whereabouts.cli.common import CommandError, exit_now, load_settings, open_client, run_main
from whereabouts.directory import Directory, DirectoryError, load_directory
from whereabouts.feed import (
    EXIT_UNREACHABLE,
    EXIT_UNREADABLE,
    MAX_FEED_BYTES,
    Feed,
    FeedReport,
    FeedUnreadable,
    decode,
    feed,
    read_feed,
    write_rejects,
)
from whereabouts.feed.profiles import ProfileError, load_mapping, load_profile, profile_names
from whereabouts.settings import Settings

__all__ = ["console_main", "main", "run"]

PROGRESS_ROWS = 200
INTERRUPTED = "interrupted; feed the file again: rows already in are recognised"

Say = Callable[[str], None]
Read = tuple[str, Feed, FeedReport]  # a feed read: its source, what was in it, its report so far


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
    how = p.add_mutually_exclusive_group()
    how.add_argument(
        "--profile", choices=profile_names(), help="the feed is this MIS's own export (column profile)"
    )
    how.add_argument(
        "--mapping", type=Path, metavar="FILE", help="the feed's columns as this TOML mapping says"
    )
    p.add_argument(
        "--contacts",
        metavar="FILE",
        help="the pupils' contacts, one row per contact (with --profile/--mapping)",
    )
    p.add_argument("--school-urn", metavar="URN", help="the school of a one-school export with no URN column")
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
    if source == "-":
        stream = stdin if stdin is not None else sys.stdin
        buffer = getattr(stream, "buffer", None)
        data = buffer.read(MAX_FEED_BYTES + 1) if buffer is not None else stream.read().encode("utf-8")
    else:
        data = _read_file(Path(source))
    if len(data) > MAX_FEED_BYTES:
        raise FeedUnreadable(
            f"larger than {MAX_FEED_BYTES // 2**20} MB: far more than a morning's attendance marks; "
            "is it the right file?"
        )
    return data


def _read_file(path: Path) -> bytes:
    try:
        with path.open("rb") as fh:
            return fh.read(MAX_FEED_BYTES + 1)
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
            ("closed, explained", len(report.closed_as_explained)),
            ("corrections", len(report.corrections)),
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
    given = list(sys.argv[1:] if argv is None else argv)
    if given[:1] == ["schedule"]:
        from whereabouts.feed.schedule import schedule_command  # Temporal's side: only when asked

        return await schedule_command(given[1:], settings=settings, stdout=out, stderr=err)
    args = _arguments(argv)

    def say(line: str) -> None:
        err.write(f"starter: {line}\n")
        err.flush()

    try:
        settings = settings or load_settings(EXIT_UNREADABLE)
        try:
            directory = load_directory(settings.directory_path)
        except DirectoryError as exc:
            raise CommandError(EXIT_UNREADABLE, f"cannot check URNs: {exc}") from None
        how = _how(args, stdin)
        reports, feeds = _read_all(args.feeds, args.dry_run, directory, stdin, say, how)
        _write_all_rejects(args.rejects, feeds, say)
        todo = [item for item in feeds if item[1].rows]
        if not args.dry_run and todo:
            await _feed_all(settings, todo, reports, err, say)
    except CommandError as exc:
        say(str(exc))
        return exc.code

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


def _how(args: argparse.Namespace, stdin: TextIO | None) -> dict[str, Any]:
    """How to read the feeds: a column profile or mapping, its contacts report, the school."""
    if args.contacts and not (args.profile or args.mapping):
        raise CommandError(EXIT_UNREADABLE, "--contacts needs --profile or --mapping (the export's layout)")
    try:
        profile = (
            load_profile(args.profile)
            if args.profile
            else load_mapping(args.mapping)
            if args.mapping
            else None
        )
    except ProfileError as exc:
        raise CommandError(EXIT_UNREADABLE, str(exc)) from None
    contacts = None
    if args.contacts:
        try:
            contacts = decode(_read(args.contacts, stdin))
        except FeedUnreadable as exc:
            raise CommandError(EXIT_UNREADABLE, f"{_label(args.contacts)}: not read: {exc}") from None
    return {"profile": profile, "contacts_text": contacts, "school_urn": args.school_urn}


def _read_all(
    sources: Sequence[str],
    dry_run: bool,
    directory: Directory,
    stdin: TextIO | None,
    say: Say,
    how: dict[str, Any] | None = None,
) -> tuple[list[FeedReport], list[Read]]:
    """Every feed read and checked, in order: a report for each, and the ones that could be read."""
    reports: list[FeedReport] = []
    feeds: list[Read] = []
    for source in sources:
        label = _label(source)
        try:
            parsed = read_feed(decode(_read(source, stdin)), directory=directory, **(how or {}))
        except (FeedUnreadable, RecursionError) as exc:
            why = str(exc) if isinstance(exc, FeedUnreadable) else "JSON nested too deeply"
            reports.append(FeedReport(feed=label, dry_run=dry_run, unreadable=why))
            say(f"{label}: not read: {why}")
            continue
        report = FeedReport.of(parsed, name=label, dry_run=dry_run)
        reports.append(report)
        if parsed.cut_short:
            say(f"{label}: {parsed.cut_short}")
        if parsed.unknown_columns:
            shown = [c if len(c) <= 40 else f"{c[:40]}..." for c in parsed.unknown_columns[:10]]
            more = f" and {len(parsed.unknown_columns) - 10} more" if len(parsed.unknown_columns) > 10 else ""
            say(f"{label}: columns ignored (not part of the feed): {', '.join(shown)}{more}")
        feeds.append((source, parsed, report))
    return reports, feeds


async def _feed_all(
    settings: Settings, todo: list[Read], reports: list[FeedReport], err: TextIO, say: Say
) -> None:
    """Each feed's rows to Temporal, its report replaced by what ``feed()`` did. Unreachable,
    every feed not done yet says so; any other trouble connecting is a ``CommandError``."""
    try:
        client = await open_client(
            settings, unreachable=EXIT_UNREACHABLE, bad_setup=EXIT_UNREADABLE, signs_as="feed"
        )
    except CommandError as exc:
        if exc.code != EXIT_UNREACHABLE:
            raise
        say(str(exc))
        for _, parsed, report in todo:
            report.unreachable = str(exc)
            report.not_done = sorted(r.row for r in parsed.rows)
        return
    for source, parsed, report in todo:
        if any(r.unreachable for r in reports):
            report.unreachable = "not tried: Temporal became unreachable on an earlier feed"
            report.not_done = sorted(r.row for r in parsed.rows)
            continue
        done = await _feed_one(client, settings, _label(source), parsed, err)
        done.rejects_file = report.rejects_file
        reports[next(i for i, r in enumerate(reports) if r is report)] = done
        if done.unreachable:
            say(f"{done.feed}: Temporal became unreachable: {done.unreachable}")
        for f in done.failed[:5]:
            say(f"{done.feed}: row {f.row} ({f.case_id}) not taken: {f.error}")


async def _feed_one(client: Client, settings: Settings, label: str, parsed: Feed, err: TextIO) -> FeedReport:
    show = err.isatty() and len(parsed.rows) > PROGRESS_ROWS
    return await feed(client, parsed, settings, progress=_Progress(err, label) if show else None, name=label)


def _write_all_rejects(target: Path | None, feeds: list[Read], say: Say) -> None:
    """Rejects go where a person will look; a file left from an earlier run is emptied, so it
    never lists rows that have since gone in. Feeds sharing a file (``--rejects``, or the same
    default name: ``today.csv`` and ``today.json``) get a ``reject_feed`` column, as row numbers
    are per feed."""
    groups: dict[Path, list[Read]] = {}
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
    return run_main("starter", lambda: run(argv), interrupted=INTERRUPTED)


def console_main() -> None:
    """The ``whereabouts-feed`` command and ``python starter.py``."""
    exit_now(main())


if __name__ == "__main__":
    console_main()
