"""The staff script: see the cases, read one, record what happened.

    python admin.py cases [--school URN] [--stage STAGE] [--risk RISK] [--due-before DATE] [--all] [--json]
    python admin.py show CASE [--json]
    python admin.py call CASE OUTCOME [--reason TEXT] [--at TIME] [--number TEXT] [--note TEXT]
    python admin.py risk CASE (--at-risk | --not-at-risk) [--concern C ...] [--note TEXT]
    python admin.py visit CASE OUTCOME [--note TEXT] [--spoke-to TEXT] [--concern]
    python admin.py plan CASE --letter send|hold --visit school|joint|none --note TEXT
    python admin.py still-missing CASE [--note TEXT]
    python admin.py contact CASE [--reason TEXT]
    python admin.py seen CASE [--where TEXT]
    python admin.py la-decision CASE DECISION [--note TEXT]
    python admin.py withdraw CASE --reason TEXT
    python admin.py notified CASE AGENCY [--at TIME] [--note TEXT]
    python admin.py advised CASE [--at TIME] [--note TEXT]

CASE is the case ID (``cme-<URN>-<pseudonym>``) or the pupil's UPN (its case ID is worked out). TIME is
HH:MM today in school time or YYYY-MM-DDTHH:MM, never in the future; AGENCY is police,
social_care or la.

The case decides: every action is a Temporal update whose validator refuses what the procedure
does not allow, with one sentence, before anything changes. This script only checks the words
(so a typing slip is caught before it reaches the case), finds the case, and reports.

Exit codes: 0 done; 1 the case refused the action, or is closed (nothing changed); 2 bad usage
(unknown word, missing reason, ambiguous UPN, bad settings); 3 no such case; 4 Temporal, or the
worker behind a case, is not answering.

``cases`` reads only Temporal's visibility store (search attributes, no personal data) plus each
open case's next-action wording; it lists first, marked for an operator or for staff, every case
not running normally (its run failed, was terminated, timed out or cancelled, or its
``CmeAttention`` holds a reason), and warns of schools whose term dates run out soon. ``show`` is
for staff and names the pupil and the contacts.
Settings and the connection are the worker's (``whereabouts.settings``, ``whereabouts.connect``),
so the same command works against the local stack and a remote cluster with TLS or an API key.

This module is the entry point (``run``, ``main``, ``console_main``) and holds how long the script
waits. The rest is beside it: the command line in ``admin_args``, the records it builds in
``admin_records``, the times staff type in ``admin_times``, finding a case in ``admin_find``, the
commands in ``admin_commands``, the layout in ``casefile_view``, and what every command shares
(one-line errors, the client) in ``common``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Sequence
from datetime import timedelta
from typing import TextIO

from pydantic import ValidationError
from temporalio.service import RPCError

from whereabouts.cli.admin_args import UNREACHABLE, USAGE, login, parser
from whereabouts.cli.admin_commands import cmd_action, cmd_cases, cmd_show
from whereabouts.cli.admin_find import UNANSWERED, Naming, Waits
from whereabouts.cli.admin_records import ACTIONS, StaffRecord, invalid
from whereabouts.cli.admin_times import Misused
from whereabouts.cli.common import CommandError, exit_now, first_line, load_settings, open_client, run_main
from whereabouts.directory import DirectoryError, load_directory
from whereabouts.directory_checks import directory_warnings
from whereabouts.identity import new_key
from whereabouts.pseudonym import PseudonymKeyError, pseudonyms_for
from whereabouts.settings import Settings
from whereabouts.vocabulary import CmeOutcome

# How long the script waits; never hang for ever. Read at each run, so a test can shorten them.
UPDATE_TIMEOUT = timedelta(seconds=30)  # an update waits for the worker
QUERY_TIMEOUT = timedelta(seconds=10)
LIST_TIMEOUT = timedelta(seconds=30)
LIST_QUERY_TIMEOUT = timedelta(seconds=5)  # next-action wording per listed case
CLOSE_WAIT_SECONDS = 10.0  # after a closing action, how long to wait to confirm the outcome


async def run(
    argv: Sequence[str] | None = None,
    *,
    settings: Settings | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """The command, callable in-process (tests); returns the exit code."""
    out, err = stdout or sys.stdout, stderr or sys.stderr
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            args = parser().parse_args(argv)
        except SystemExit as exc:  # --help (0) or a usage error (2), already printed
            return int(exc.code or 0)
    try:
        return await _run(args, settings, out, err)
    except CommandError as stop:
        err.write(f"admin: {stop}\n")
        return stop.code
    finally:
        out.flush()
        err.flush()


async def _run(args: argparse.Namespace, settings: Settings | None, out: TextIO, err: TextIO) -> int:
    if args.command == "keygen":
        return keygen(args, out)
    record: StaffRecord | None = None
    closes: CmeOutcome | None = None
    if args.command in ACTIONS:
        args.by = login()
        try:  # the words are checked before anything is sent
            record, closes = ACTIONS[args.command].record(args)
        except ValidationError as exc:
            raise CommandError(USAGE, invalid(exc)) from None
        except Misused as exc:
            raise CommandError(USAGE, str(exc)) from None
    settings = settings or load_settings(USAGE)
    client = await open_client(settings, unreachable=UNREACHABLE, bad_setup=USAGE)
    waits = Waits(
        update=UPDATE_TIMEOUT,
        query=QUERY_TIMEOUT,
        listing=LIST_TIMEOUT,
        list_query=LIST_QUERY_TIMEOUT,
        close_seconds=CLOSE_WAIT_SECONDS,
    )
    try:
        if args.command == "cases":
            for warning in directory_warnings(settings.directory_path):  # names schools only
                err.write(f"admin: warning: {warning}\n")
            return await cmd_cases(client, args, out, err, waits, directory_path=settings.directory_path)
        naming = _naming(settings)
        if args.command == "show":
            return await cmd_show(client, args, out, err, waits, naming)
        assert record is not None
        return await cmd_action(client, args, record, closes, out, waits, naming)
    except RPCError as exc:
        if exc.status in UNANSWERED:
            raise CommandError(
                UNREACHABLE, f"Temporal at {settings.temporal_address} is not answering: {first_line(exc)}"
            ) from None
        raise CommandError(UNREACHABLE, f"Temporal refused: {first_line(exc)}") from None


def _naming(settings: Settings) -> Naming:
    """How a UPN typed here finds its case: the pseudonym key and the directory's schools."""
    try:
        ids = pseudonyms_for(settings)
    except PseudonymKeyError as exc:
        raise CommandError(USAGE, str(exc)) from None
    try:
        schools = tuple(s.urn for s in load_directory(settings.directory_path).schools)
    except DirectoryError:
        schools = ()  # a UPN then finds nothing, and says so; a full case ID still works
    return Naming(ids=ids, schools=schools)


def main(argv: Sequence[str] | None = None) -> int:
    return run_main("admin", lambda: run(argv))


def console_main() -> None:
    """The ``whereabouts-admin`` command and ``python admin.py``."""
    exit_now(main())


if __name__ == "__main__":
    console_main()


def keygen(args: argparse.Namespace, out: TextIO) -> int:
    """A new key pair; the directory entry to add, printed (the private key stays in FILE)."""
    try:
        public = new_key(args.file)
    except FileExistsError:
        raise CommandError(USAGE, f"{args.file} exists: a key is never overwritten") from None
    except OSError as exc:
        raise CommandError(USAGE, f"cannot write {args.file}: {exc.strerror}") from None
    lines = ["[[people]]", f"name = {json.dumps(args.name)}", f"roles = {json.dumps(args.roles)}"]
    if args.schools:
        lines.append(f"schools = {json.dumps(args.schools)}")
    if args.las:
        lines.append(f"las = {json.dumps(args.las)}")
    lines.append(f'public_key = "{public}"')
    out.write("\n".join(lines) + "\n")
    out.write(f"# add this to the school directory; then act with WHEREABOUTS_SIGNING_KEY={args.file}\n")
    return 0
