"""``whereabouts-directory``: build or update ``schools.toml`` from GIAS and term-date calendars.

    whereabouts-directory gias EXTRACT.csv --la 940 [--urn URN ...] [--as-la CODE] --into schools.toml
    whereabouts-directory terms TERMS.ics --urn URN [--urn URN ...] --into schools.toml
    python -m whereabouts.cli.directory ...        (the same, from a checkout)

``gias`` updates the name, address and phone of the directory's schools in that LA from the DfE's
*Get Information About Schools* extract, and adds the schools named with ``--urn`` that it lacks;
``terms`` sets the named schools' terms and INSET days from an iCalendar file. Both keep what a
person added (DSL, visiting staff, hours...), keep the previous file beside the new one, and say
what they changed; ``--dry-run`` says it without writing. See ``whereabouts/directory_import.py``.

Exit codes: 0 done; 1 done, but some rows or events were refused, or an added entry needs filling
in by hand before the worker can use the file; 2 nothing done (a file could not be read, or is
not what it should be).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from whereabouts.directory_import import SourceError, import_gias, import_terms


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="whereabouts-directory",
        description="Build or update the school directory (schools.toml) from GIAS and term-date calendars.",
    )
    sub = top.add_subparsers(dest="source", required=True, metavar="{gias,terms}")

    gias = sub.add_parser(
        "gias",
        help="names, addresses and phones from the DfE's Get Information About Schools extract (CSV)",
        description="Update the directory's schools in LA CODE from a GIAS establishment extract "
        "(edubasealldata*.csv, Windows-1252), and add the schools named with --urn.",
    )
    gias.add_argument("extract", type=Path, metavar="EXTRACT.csv")
    gias.add_argument("--la", required=True, metavar="CODE", help="the LA's number in GIAS, e.g. 940")
    gias.add_argument(
        "--urn",
        action="append",
        metavar="URN",
        help="only this school (repeat for more); a school not in the directory yet is added",
    )
    gias.add_argument(
        "--as-la",
        metavar="CODE",
        help="the [[local_authorities]] code new schools belong to, when it is not the GIAS number or name",
    )

    terms = sub.add_parser(
        "terms",
        help="terms and INSET days from an iCalendar (.ics) file of term dates",
        description="Set the named schools' terms and INSET days, within the dates the file covers, "
        "from an iCalendar file of terms, holidays and INSET (training) days.",
    )
    terms.add_argument("calendar", type=Path, metavar="TERMS.ics")
    terms.add_argument(
        "--urn", action="append", required=True, metavar="URN", help="a school (repeat for more)"
    )

    for each in (gias, terms):
        each.add_argument(
            "--into", type=Path, required=True, metavar="schools.toml", help="the directory file"
        )
        each.add_argument("--dry-run", action="store_true", help="say what would change; write nothing")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.source == "gias":
            report = import_gias(
                args.extract,
                args.into,
                la=args.la,
                urns=set(args.urn) if args.urn else None,
                as_la=args.as_la,
                dry_run=args.dry_run,
            )
        else:
            report = import_terms(
                args.calendar, args.into, urns=list(dict.fromkeys(args.urn)), dry_run=args.dry_run
            )
    except SourceError as exc:
        print(f"whereabouts-directory: {exc}; nothing was changed", file=sys.stderr)
        return 2
    print("\n".join(report.lines()))
    if args.source == "terms" and report.problems and not report.changed:
        return 2
    return report.exit_code


def console_main() -> None:
    """The ``whereabouts-directory`` command and ``python -m whereabouts.cli.directory``."""
    sys.exit(main())


if __name__ == "__main__":
    console_main()
