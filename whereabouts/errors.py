"""An error as one line: what a terminal, a feed report or an operator's note shows of it.

Library code (the feed's report) and the commands both turn exceptions into text a person reads,
and a traceback or a multi-line RPC error in a report is noise that hides the one thing to fix.
"""

from __future__ import annotations


def first_line(exc: BaseException, limit: int = 300) -> str:
    """The first line of an error's message (its type when it has none), at most ``limit`` long."""
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:limit]
