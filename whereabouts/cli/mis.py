"""The MIS write-back, for whoever takes it into the school's MIS.

    python -m whereabouts.cli.mis pending [--json]
    python -m whereabouts.cli.mis export --csv FILE [--all]
    python -m whereabouts.cli.mis ack ID... | --file FILE | --through ID
    python -m whereabouts.cli.mis check

``pending`` says what the MIS has not taken yet, ``export`` writes it as a CSV an office can
import, ``ack`` records what the MIS has taken (so it is not offered again), and ``check``
validates every line against ``schemas/mis-writeback.schema.json``. Every command takes
``--outbox FILE`` (default: the worker's, ``WHEREABOUTS_VAR_DIR``/mis-outbox.jsonl).

Exit codes: 0 done; 1 ``check`` found damaged or invalid lines; 2 bad arguments, an id not in
the outbox, or a file that cannot be read; 3 the acknowledgement or the export could not be
written (a full disk: nothing was written, run it again).

The terminal output names lines by id and line number, never by UPN or comment: ``--json`` and
the CSV carry the lines themselves, for a program or an import, when asked for.
The work is the library's, ``whereabouts.mis_outbox``; this is only the command.
"""

from __future__ import annotations

import argparse
import csv
import errno
import io
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from whereabouts.cli.common import INTERRUPTED, CommandError, load_settings
from whereabouts.mis_outbox import Outbox, Read, UnknownIds, export_csv, problems, write_csv

__all__ = ["console_main", "main", "run"]

PROG = "python -m whereabouts.cli.mis"
FOUND_PROBLEMS = 1
BAD_INPUT = 2
CANNOT_WRITE = 3


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--outbox",
        type=Path,
        metavar="FILE",
        help="the outbox to read (default: the worker's, in WHEREABOUTS_VAR_DIR)",
    )
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Take the MIS write-back: see what is pending, export it, acknowledge it, check it.",
        epilog="Exit codes: 0 done; 1 check found damaged or invalid lines; 2 bad arguments, unknown id "
        "or unreadable file; 3 could not write (full disk?): nothing written, run it again.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    pending = sub.add_parser("pending", parents=[common], help="what the MIS has not acknowledged yet")
    pending.add_argument(
        "--json", action="store_true", help="print the pending lines themselves (with UPNs) as JSON"
    )

    export = sub.add_parser("export", parents=[common], help="write lines as CSV for an office import")
    export.add_argument(
        "--csv", required=True, metavar="FILE", help="the CSV to write; - for standard output"
    )
    export.add_argument("--all", action="store_true", help="every line, not only the pending ones")

    ack = sub.add_parser("ack", parents=[common], help="record lines the MIS has taken")
    ack.add_argument("ids", nargs="*", metavar="ID", help="line ids")
    ack.add_argument(
        "--file",
        metavar="FILE",
        help="ids from a file: one a line, or a CSV from `export` (its id column); - for standard input",
    )
    ack.add_argument("--through", metavar="ID", help="every line up to and including this one")

    sub.add_parser("check", parents=[common], help="validate every line against the schema")
    return p.parse_args(argv)


def _outbox(args: argparse.Namespace) -> Outbox:
    return Outbox(args.outbox if args.outbox else load_settings(BAD_INPUT).mis_outbox)


def _damaged_note(read: Read, err: TextIO) -> None:
    if read.damaged:
        numbers = ", ".join(str(n) for n in read.damaged)
        print(f"skipped damaged lines (not a JSON object with an id): {numbers}; see `check`", file=err)


def pending(outbox: Outbox, as_json: bool, out: TextIO, err: TextIO) -> int:
    read = outbox.read()
    waiting = outbox.pending(read)
    taken = len({line.id for line in read.lines}) - len(waiting)
    if as_json:
        report = {
            "outbox": str(outbox.path),
            "pending": [line.data for line in waiting],
            "acknowledged": taken,
            "damaged_lines": read.damaged,
        }
        print(json.dumps(report, ensure_ascii=False, indent=2), file=out)
    else:
        print(f"{len(waiting)} pending, {taken} acknowledged, in {outbox.path}", file=out)
        for line in waiting:
            print(f"  {line.id}  {line.data.get('kind')}", file=out)
    _damaged_note(read, err)
    return 0


def export(outbox: Outbox, target: str, every: bool, out: TextIO, err: TextIO) -> int:
    read = outbox.read()
    lines = read.lines if every else outbox.pending(read)
    if target == "-":
        count = write_csv(lines, out)
    else:
        try:
            count = export_csv(lines, Path(target))
        except OSError as exc:
            raise CommandError(CANNOT_WRITE, _write_failure(f"cannot write {target}", exc)) from None
        which = "lines" if every else "pending lines"
        print(f"wrote {count} {which} to {target}", file=err)
        if count and not every:
            print(f"once the MIS has them: {PROG} ack --file {target}", file=err)
    _damaged_note(read, err)
    return 0


def _ids_from_file(name: str, stdin: TextIO) -> list[str]:
    """Ids one a line (blank lines and # comments skipped), or the id column of a CSV."""
    try:
        text = stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise CommandError(BAD_INPUT, f"cannot read {name}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise CommandError(BAD_INPUT, f"cannot read {name}: not UTF-8 text") from None
    text = text.removeprefix("\ufeff")
    first = next((x for x in text.splitlines() if x.strip()), "")
    if first.split(",", 1)[0].strip() == "id":
        column = (row.get("id") or "" for row in csv.DictReader(io.StringIO(text)))
        return [cell.strip() for cell in column if cell.strip()]
    return [x.strip() for x in text.splitlines() if x.strip() and not x.lstrip().startswith("#")]


def ack(outbox: Outbox, args: argparse.Namespace, stdin: TextIO, out: TextIO) -> int:
    given = sum(bool(x) for x in (args.ids, args.file, args.through))
    if given != 1:
        raise CommandError(BAD_INPUT, "ack takes ids, or --file FILE, or --through ID (one of them)")
    try:
        if args.through:
            ids = outbox.ids_through(args.through)
        else:
            ids = _ids_from_file(args.file, stdin) if args.file else list(args.ids)
        if not ids:
            raise CommandError(BAD_INPUT, f"no ids in {args.file}")
        done = outbox.acknowledge(ids)
    except UnknownIds as exc:
        raise CommandError(BAD_INPUT, f"{exc}; nothing acknowledged") from None
    except OSError as exc:
        raise CommandError(CANNOT_WRITE, _write_failure("cannot acknowledge", exc)) from None
    print(f"acknowledged {len(done.new)} lines ({len(done.already)} already were)", file=out)
    return 0


def check(outbox: Outbox, out: TextIO) -> int:
    read = outbox.read()
    acks = outbox.read_acks()
    try:
        found = problems(read.lines)
    except ImportError:
        raise CommandError(BAD_INPUT, "check needs the jsonschema package: pip install jsonschema") from None
    for number in read.damaged:
        print(f"line {number}: damaged (not a JSON object with an id)", file=out)
    for number, what in found:
        print(f"line {number}: {what}", file=out)
    for number in acks.damaged:
        print(f"{outbox.ack_path.name} line {number}: damaged (not a JSON object with an id)", file=out)
    bad = len(read.damaged) + len({n for n, _ in found})
    total = len(read.lines) + len(read.damaged)
    if bad:
        print(f"{bad} of {total} lines need a look ({outbox.path})", file=out)
    else:
        print(f"{total} lines, all valid ({outbox.path})", file=out)
    return FOUND_PROBLEMS if bad or acks.damaged else 0


def _write_failure(what: str, exc: OSError) -> str:
    name = errno.errorcode.get(exc.errno or 0, "error")
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"{what}: the disk is full ({name}); nothing was written, free space and run it again"
    return f"{what}: {exc.strerror or name}; nothing was written"


def run(
    argv: Sequence[str] | None = None,
    *,
    stdin: TextIO | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """The command, on the given streams (the process's by default): its exit code."""
    args = _arguments(argv)
    stdin, out, err = stdin or sys.stdin, out or sys.stdout, err or sys.stderr
    outbox = _outbox(args)
    try:
        if args.command == "pending":
            return pending(outbox, args.json, out, err)
        if args.command == "export":
            return export(outbox, args.csv, args.all, out, err)
        if args.command == "ack":
            return ack(outbox, args, stdin, out)
        return check(outbox, out)
    except OSError as exc:  # writes say what they could not write; what is left is reading
        raise CommandError(BAD_INPUT, f"cannot read {exc.filename or outbox.path}: {exc.strerror}") from None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command to its exit code: an error is one line and its code, never a traceback.

    No Temporal client here (the outbox is a file), so no event loop and no ``exit_now``: the
    plumbing of ``cli.common`` that applies is ``CommandError`` and the settings."""
    try:
        return run(argv)
    except KeyboardInterrupt:
        print("mis: interrupted; nothing half-written: run it again", file=sys.stderr)
        return INTERRUPTED
    except CommandError as exc:
        print(f"mis: {exc}", file=sys.stderr)
        return exc.code


def console_main() -> None:
    """``python -m whereabouts.cli.mis`` (and a ``whereabouts-mis`` script, once pyproject has it)."""
    sys.exit(main())


if __name__ == "__main__":
    console_main()
