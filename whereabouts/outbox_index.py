"""What one process has already read of an append-only lines file: how far, and which ids.

``mis_outbox.append_new`` writes a line id once: every append used to read the whole file for
the ids it was about to write, so each close read every line the school's cases had ever
written (a term of an LA's outbox is millions of lines: the appends slowed as it grew). Now
each process keeps, per file, the offset it has read to and a digest of every id before it;
under the file's lock an append reads only the lines written since (by any process) and checks
its ids against the digests. Only an id whose digest is there (a retry, or the rare collision)
is confirmed by reading the file, so a collision never drops a line.

A digest is 8 bytes of BLAKE2b held as an int: about 70 bytes of memory per line, 70 MB per
million lines. A file replaced (another inode) or cut shorter than what was read is read again
from the start.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

PREFIX = b'{"id": "'  # how every line the outbox writes begins (``mis_outbox.encode``)


def quick_id(raw: bytes, id_of: Callable[[bytes], str | None]) -> str | None:
    """A line's id without parsing the line when it begins as the outbox writes lines, else
    ``id_of`` (a JSON parse). A damaged line may give an id here that a parse would not: that
    only sends an append to confirm by reading, never drops a line."""
    if raw.startswith(PREFIX):
        end = raw.find(b'"', len(PREFIX))
        found = raw[len(PREFIX) : end]
        if end > 0 and b"\\" not in found:
            return found.decode("ascii", "replace")
    return id_of(raw)


def digest(line_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(line_id.encode(), digest_size=8).digest(), "big")


@dataclass
class SeenIds:
    """One file as this process has read it: ``offset`` is at the end of a whole line."""

    identity: tuple[int, int]  # (st_dev, st_ino): the file, not its name
    offset: int = 0
    digests: set[int] = field(default_factory=set)

    def catch_up(self, fh: IO[bytes], id_of: Callable[[bytes], str | None]) -> bool:
        """Read the whole lines written since ``offset``; True if the last line has no newline
        (torn by a crash: it is left unread, and the next append ends it)."""
        fh.seek(self.offset)
        for raw in fh:
            if not raw.endswith(b"\n"):
                return True
            self.offset += len(raw)
            found = quick_id(raw, id_of)
            if found is not None:
                self.digests.add(digest(found))
        return False

    def maybe_present(self, ids: Iterable[str]) -> set[str]:
        """The ids that may be in the file already (all that are, and perhaps a collision)."""
        return {i for i in ids if digest(i) in self.digests}

    def written(self, ids: Iterable[str], end: int) -> None:
        """Our own lines went in whole, ending the file at ``end``."""
        self.digests.update(digest(i) for i in ids)
        self.offset = end


_FILES: dict[Path, SeenIds] = {}
_LOCK = threading.Lock()


def seen_in(path: Path, fd: int) -> SeenIds:
    """This process's record of ``path``, open as ``fd`` under its exclusive lock; started
    afresh when the file was replaced or cut shorter than what was read of it."""
    st = os.fstat(fd)
    identity = (st.st_dev, st.st_ino)
    with _LOCK:
        seen = _FILES.get(path)
        if seen is None or seen.identity != identity or st.st_size < seen.offset:
            seen = _FILES[path] = SeenIds(identity)
        return seen
