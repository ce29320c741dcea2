"""What every Whereabouts command shares: one-line errors, exit codes, and how a command ends.

``starter.py``, ``admin.py`` and ``bench`` are read by people at a terminal and by scripts that
act on the exit code, so an error is always one line naming what went wrong, never a traceback,
and a command always leaves with its real exit code, even though the Temporal client's threads can
abort an interpreter that is shutting down (temporalio/sdk-python#300).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, NoReturn

from pydantic import ValidationError
from temporalio.client import Client

from whereabouts.codec import CodecKeyError
from whereabouts.connect import TemporalUnreachable, codec_for, connect
from whereabouts.errors import first_line
from whereabouts.pseudonym import PseudonymKeyError, pseudonyms_for
from whereabouts.settings import Settings, get_settings

__all__ = ["CommandError", "exit_now", "first_line", "load_settings", "open_client", "run_main"]

INTERRUPTED = 130  # what a shell reports for Ctrl-C


class CommandError(Exception):
    """Ends a command with one line for the person and an exit code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def load_settings(bad_setup: int) -> Settings:
    """The environment's settings, or a ``CommandError`` naming the first bad one."""
    try:
        return get_settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        raise CommandError(bad_setup, f"settings: WHEREABOUTS_{where.upper()}: {first['msg']}") from None


async def open_client(
    settings: Settings, *, unreachable: int, bad_setup: int, signs_as: str = "staff"
) -> Client:
    """A Temporal client, or a ``CommandError`` with the command's own code for each failure.

    Each command documents its own exit codes (``starter.py`` says 3 for Temporal unreachable,
    ``admin.py`` says 4), so the caller passes them in.
    """
    try:
        codec_for(settings)  # the encryption key first: without it nothing else matters
        pseudonyms_for(settings)  # no key, no case IDs: say so before connecting
    except (CodecKeyError, PseudonymKeyError) as exc:
        raise CommandError(bad_setup, f"cannot start: {exc}") from None
    try:
        return await connect(settings, signs_as=signs_as)
    except TemporalUnreachable as exc:
        raise CommandError(unreachable, str(exc)) from None
    except CodecKeyError as exc:
        raise CommandError(bad_setup, f"cannot start: {exc}") from None


def run_main(
    prog: str,
    main: Callable[[], Coroutine[Any, Any, int]],
    *,
    interrupted: str = "interrupted",
    codes: Mapping[type[BaseException], int] | None = None,
) -> int:
    """Run an async command to its exit code: Ctrl-C is one line and 130, a ``CommandError``
    its line and code, and any exception type in ``codes`` its first line and that code."""
    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        print(f"{prog}: {interrupted}", file=sys.stderr)
        return INTERRUPTED
    except CommandError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return exc.code
    except Exception as exc:
        for kind, code in (codes or {}).items():
            if isinstance(exc, kind):
                print(f"{prog}: {first_line(exc)}", file=sys.stderr)
                return code
        raise


def exit_now(code: int) -> NoReturn:
    """End a short-lived client process now, skipping interpreter teardown.

    The Temporal client's Rust threads can outlive the event loop and call into Python while the
    interpreter is finalizing, which aborts the process (SIGABRT, temporalio/sdk-python#300) after
    all the work was done. A command-line tool whose exit code an MIS integration reads must not
    die like that, so flush what was printed and leave.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
