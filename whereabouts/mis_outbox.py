"""The MIS write-back outbox, from the consumer's side: read it, see what is pending, acknowledge
what the MIS has taken, export lines as CSV, and check them against the schema.

The case workflow writes lines (``whereabouts/activities/mis.py``) to ``var/mis-outbox.jsonl``;
whatever takes them into the school's MIS (an integration, or an office importing a CSV) reads
them here. The outbox is never rewritten: a consumer records what it has taken by appending the
lines' ids to an acknowledgement file beside it (``mis-outbox.ack``), so the writer and the
consumer never touch the same file and a consumer that stops half way simply sees the rest as
still pending next time.

Both files are appended the same way (``append_new``): complete lines, in one write, under an
exclusive ``flock``, then ``fsync``, reading only the lines written since the process's last
append (``outbox_index.py``: a term's file is millions of lines). A write that fails (a full
disk above all) is cut back to the file's size before it, so a line is whole or not at all. A
line damaged anyway (a crash of the machine mid-write, a hand edit) is skipped by every reader
and reported by number, never fatal: one bad line must not stop the others reaching the MIS.

Lines are children's data: new files are created readable by their owner only (0600), an export
too, and nothing here logs a line's contents.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import json
import logging
import os
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from whereabouts.outbox_index import seen_in
from whereabouts.settings import ROOT

__all__ = ["COLUMNS", "SCHEMA_PATH", "Acknowledged", "Line", "Outbox", "Read", "UnknownIds"]
__all__ += ["append_new", "csv_cell", "export_csv", "load_schema", "problems", "read_lines", "write_csv"]

log = logging.getLogger(__name__)

SCHEMA_PATH = ROOT / "schemas" / "mis-writeback.schema.json"

# The CSV export's columns, in this order, always (the README lists them): an office's import
# template maps columns by position as often as by name.
# fmt: off
COLUMNS = (
    "id", "kind", "school_urn", "upn", "mis_pupil_id", "date", "session", "old_code", "new_code",
    "value", "comment", "case_id", "recorded_at",
)
# fmt: on

PRIVATE = 0o600


@dataclass(frozen=True)
class Line:
    """One readable line: its line number in the file (from 1) and the JSON object on it."""

    number: int
    data: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.data["id"])


@dataclass(frozen=True)
class Read:
    """What a file held: its readable lines, and the numbers of the damaged ones skipped."""

    lines: list[Line]
    damaged: list[int]


@dataclass(frozen=True)
class Acknowledged:
    """What one acknowledgement did: ids newly acknowledged, and ids that already were."""

    new: list[str]
    already: list[str]


class UnknownIds(ValueError):
    """Ids to acknowledge that are not in the outbox (a typo, or another school's outbox)."""

    def __init__(self, ids: Sequence[str]) -> None:
        super().__init__(f"not in the outbox: {', '.join(ids)}")
        self.ids = list(ids)


def _private(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_CLOEXEC, PRIVATE)


def _id_of(raw: bytes) -> str | None:
    """The ``id`` of a stored line, or None when the line is damaged or has none."""
    try:
        data = json.loads(raw)
    except ValueError:  # includes a line that is not UTF-8
        return None
    if isinstance(data, dict) and isinstance(data.get("id"), str):
        return data["id"]
    return None


def encode(record: Mapping[str, Any]) -> bytes:
    """One stored line. ASCII only (other characters as ``\\u`` escapes): no byte of it can be
    read as a line break by a consumer that splits on Unicode line separators, and no consumer
    has to guess its encoding."""
    return json.dumps(record, ensure_ascii=True).encode("ascii") + b"\n"


def append_new(path: Path, records: Sequence[Mapping[str, Any]]) -> list[str]:
    """Append the ``records`` whose ``id`` is not in ``path`` yet, all in one write, or none.

    Returns the ids written (empty when every one was there already, as on a retry). A record
    repeated within ``records`` is written once. Raises the ``OSError`` of a write or fsync that
    failed, after cutting the file back to its size before the write: the file is then exactly
    as it was. A file whose last line has no newline (torn by a crash) gets one first, so the new
    lines stay whole and the torn one stays a single damaged line.
    """
    wanted = {str(r["id"]) for r in records}
    if not wanted:
        return []
    path.parent.mkdir(parents=True, exist_ok=True)
    created = not path.exists()
    with open(path, "a+b", opener=_private) as fh:
        fd = fh.fileno()
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            seen = seen_in(path, fd)  # this process's ids of the file (``outbox_index.py``)
            torn = seen.catch_up(fh, _id_of)
            size = os.fstat(fd).st_size
            maybe = seen.maybe_present(wanted)
            present = _scan(fh, maybe)[0] if maybe else set()  # read only on a retry
            new: list[str] = []
            data = b"\n" if torn else b""
            for record in records:
                line_id = str(record["id"])
                if line_id in present or line_id in new:
                    continue
                new.append(line_id)
                data += encode(record)
            if not new:
                return []
            try:
                _write_all(fd, data)
                os.fsync(fd)
            except BaseException:
                _cut_back(fd, size)
                raise
            seen.written(new, size + len(data))
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    if created:
        _sync_directory(path.parent)
    return new


def _scan(fh: IO[bytes], wanted: set[str]) -> tuple[set[str], bool]:
    """Which of ``wanted`` the file holds, and whether its last line lacks its newline.

    Only a line that contains one of the ids as JSON text is parsed, so a retry costs one pass
    over the bytes, not a JSON parse of every line.
    """
    needles = {json.dumps(i, ensure_ascii=a).encode(): i for i in wanted for a in (True, False)}
    present: set[str] = set()
    last = b""
    fh.seek(0)
    for raw in fh:
        last = raw
        if any(n in raw for n in needles) and (found := _id_of(raw)) in wanted:
            present.add(str(found))
    return present, bool(last) and not last.endswith(b"\n")


def _write_all(fd: int, data: bytes) -> None:
    """``os.write`` until every byte is down: a regular file may take a write in parts."""
    view = memoryview(data)
    while view:
        done = os.write(fd, view)
        view = view[done:]


def _cut_back(fd: int, size: int) -> None:
    """Undo a failed append: truncate to the size before it (shrinking needs no free space)."""
    try:
        os.ftruncate(fd, size)
        os.fsync(fd)
    except OSError as exc:
        log.error("could not cut a failed append back to %d bytes: %s", size, exc.strerror)


def _sync_directory(directory: Path) -> None:
    """Make a new file's name durable too (best effort: not every filesystem allows it)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def read_lines(path: Path) -> Read:
    """Every line of a JSON-lines file that is an object with a string ``id``, in order.

    A line that is not JSON, not an object, or has no id is damaged: its number is reported and
    reading goes on. Blank lines are ignored. A missing file reads as empty (nothing written yet).
    Reads under a shared lock, so a batch being appended is seen whole or not at all.
    """
    lines: list[Line] = []
    damaged: list[int] = []
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        return Read(lines, damaged)
    with fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_SH)
        for number, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                data = json.loads(raw)
            except ValueError:
                damaged.append(number)
                continue
            if isinstance(data, dict) and isinstance(data.get("id"), str):
                lines.append(Line(number, data))
            else:
                damaged.append(number)
    return Read(lines, damaged)


@dataclass(frozen=True)
class Outbox:
    """An outbox and its acknowledgement file: what a consumer calls."""

    path: Path

    @property
    def ack_path(self) -> Path:
        """``mis-outbox.jsonl`` -> ``mis-outbox.ack``, beside it."""
        return self.path.with_suffix(".ack")

    def read(self) -> Read:
        return read_lines(self.path)

    def read_acks(self) -> Read:
        return read_lines(self.ack_path)

    def acknowledged(self) -> set[str]:
        return {line.id for line in self.read_acks().lines}

    def pending(self, read: Read | None = None) -> list[Line]:
        """Lines not acknowledged yet, first written first, each id once."""
        done = self.acknowledged()
        out: list[Line] = []
        for line in (read or self.read()).lines:
            if line.id not in done:
                done.add(line.id)
                out.append(line)
        return out

    def acknowledge(self, ids: Iterable[str], at: datetime | None = None) -> Acknowledged:
        """Record that the MIS has taken these lines. An id not in the outbox raises
        ``UnknownIds`` and nothing is recorded; an id already acknowledged is left as it is."""
        wanted = list(dict.fromkeys(ids))
        known = {line.id for line in self.read().lines}
        unknown = [i for i in wanted if i not in known]
        if unknown:
            raise UnknownIds(unknown)
        when = (at or datetime.now(UTC)).isoformat()
        new = append_new(self.ack_path, [{"id": i, "acknowledged_at": when} for i in wanted])
        return Acknowledged(new=new, already=[i for i in wanted if i not in new])

    def ids_through(self, line_id: str) -> list[str]:
        """Every id in the outbox up to and including ``line_id``: for a consumer that takes
        lines in order and acknowledges "everything up to here"."""
        ids: list[str] = []
        for line in self.read().lines:
            ids.append(line.id)
            if line.id == line_id:
                return list(dict.fromkeys(ids))
        raise UnknownIds([line_id])


# --- CSV ---------------------------------------------------------------------------------------

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def csv_cell(value: object) -> str:
    """A value as a spreadsheet can take it without running it.

    Excel and LibreOffice read a cell that starts with ``=``, ``+``, ``-``, ``@``, tab or CR as a
    formula, and a comment typed by staff (or put in a feed) could be one, so such a cell gets a
    leading ``'`` (OWASP's CSV-injection advice). A negative number, and the lone ``-`` (a register
    code some MIS use; one character cannot be a formula), are left as they are.
    """
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if text.startswith(_FORMULA_START) and not (text == "-" or _PLAIN_NUMBER.fullmatch(text)):
        return "'" + text
    return text


def write_csv(lines: Iterable[Line], out: IO[str]) -> int:
    """Write a header and one row per line, columns in ``COLUMNS`` order; returns the rows."""
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    count = 0
    for line in lines:
        writer.writerow([csv_cell(line.data.get(col)) for col in COLUMNS])
        count += 1
    return count


def export_csv(lines: Iterable[Line], target: Path) -> int:
    """Write the CSV to ``target`` whole or not at all (a temporary file beside it, renamed), 0600.

    UTF-8 with a byte-order mark, which is how Excel knows a CSV is UTF-8 (names with accents).
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8-sig", newline="") as out:
            count = write_csv(lines, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return count


# --- Schema ------------------------------------------------------------------------------------


def load_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return schema


def problems(lines: Iterable[Line], schema: Mapping[str, Any] | None = None) -> list[tuple[int, str]]:
    """(line number, what is wrong) for each line that breaks the schema or repeats an id.

    The sentence names the field and the rule, never the value (it may be a UPN or a comment).
    Needs ``jsonschema`` (a test dependency; ``ImportError`` without it).
    """
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(
        schema or load_schema(), format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    found: list[tuple[int, str]] = []
    first_seen: dict[str, int] = {}
    for line in lines:
        errors = sorted(validator.iter_errors(line.data), key=lambda e: [str(p) for p in e.absolute_path])
        if errors:
            kind = line.data.get("kind")
            found.append((line.number, "; ".join(_describe(e, kind) for e in errors[:3])))
        elif not line.id.startswith(f"{line.data['case_id']}/"):
            found.append((line.number, "id: does not start with its case_id"))
        if line.id in first_seen:
            found.append((line.number, f"id: the same as line {first_seen[line.id]}"))
        first_seen.setdefault(line.id, line.number)
    return found


def _describe(error: Any, kind: object) -> str:
    """A schema error as words that repeat the schema's rule, not the line's value."""
    field = "/".join(str(p) for p in error.absolute_path) or "line"
    rule = error.validator
    if rule in ("required", "additionalProperties"):
        text = error.message  # names properties, not values
    elif rule == "type":
        allowed = error.validator_value
        text = f"should be {' or '.join(allowed) if isinstance(allowed, list) else allowed}"
    elif rule == "pattern":
        text = f"does not match {error.validator_value}"
    elif rule in ("enum", "const"):
        text = "not one of the allowed values"
    elif rule == "format":
        text = f"not a valid {error.validator_value}"
    elif rule == "anyOf":
        text = "not a register code (1 or 2 characters: /, \\, L, N, O, I, C1, ...) or null"
    else:
        text = f"breaks the schema's {rule} rule"
    conditional = "then" in error.schema_path and isinstance(kind, str)
    return f"{field}: {text}" + (f" (for a {kind} line)" if conditional else "")
