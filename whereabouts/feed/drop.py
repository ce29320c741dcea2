"""The drop folder: feeds an MIS leaves there are taken once each, fed, and kept with a report.

The scheduled import (``workflows/feed_import.py``) runs after each registration session; this
is what one run does to the folder, kept out of Temporal so it reads (and tests) as plain file
handling. A feed is *taken* by moving it into ``DIR/done/<stamp>-<name>`` with one ``rename``,
before it is read: a rename within a folder is atomic, so two runs (or a retried activity) can
never both take a file, and a file taken is never taken again. Its report lands beside it
(``<stamp>-<name>.report.json``), and its rejects (``<stamp>-<name>.rejects.csv``) when it had
any; a taken file with no report yet (the worker stopped mid-import) is finished by the next
run, which is safe because feeding the same rows twice changes nothing (``intake.py``).

An export with its contacts in a report of their own is dropped as two files, ``NAME.csv`` and
``NAME.contacts.csv``, taken together. The MIS (or person) should write a file under another
name (or elsewhere) and rename it in: a file still being written has no header yet, or ends
mid-row, and the feed reads it as cut short (its complete rows go in; the rest is in the report).

The result names files and counts only, never a pupil: it is the workflow's return value and
memo, which the Web UI shows to every operator.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from pathlib import Path

from pydantic import BaseModel, Field
from temporalio.client import Client

from whereabouts.directory import Directory
from whereabouts.feed.intake import feed
from whereabouts.feed.profiles.spec import Profile, ProfileError, load_mapping, load_profile
from whereabouts.feed.read import MAX_FEED_BYTES, decode, read_feed
from whereabouts.feed.rejects import FeedUnreadable, write_rejects
from whereabouts.feed.report import EXIT_UNREADABLE, FeedReport
from whereabouts.settings import Settings, write_private

FEED_SUFFIXES = (".csv", ".json", ".jsonl")
CONTACTS_MARK = ".contacts"
DONE = "done"
REPORT_SUFFIX = ".report.json"
REJECTS_SUFFIX = ".rejects.csv"


class DropImportInput(BaseModel):
    """What the Schedule starts each run with: the folder, and how to read what lands in it."""

    folder: str
    profile: str | None = None
    mapping: str | None = None
    school_urn: str | None = None
    only_school_days: bool = True  # a run on a day no school in the directory is open skips


class SchoolDayAnswer(BaseModel):
    day: date
    why_not: str | None = None  # None: a school day for at least one school


class FileTaken(BaseModel):
    """One feed taken: where it went, its report, its counts. No pupil data."""

    name: str
    taken_as: str
    report_file: str
    rejects_file: str | None = None
    contacts_file: str | None = None
    unreadable: str | None = None
    counts: dict[str, int] = Field(default_factory=dict)
    exit_code: int = 0


class DropImportResult(BaseModel):
    """A run's report, as the Web UI shows it (result and memo)."""

    folder: str
    day: date
    skipped: str | None = None
    files: list[FileTaken] = Field(default_factory=list)
    totals: dict[str, int] = Field(default_factory=dict)

    def summary(self) -> str:
        if self.skipped:
            return f"skipped: {self.skipped}"
        if not self.files:
            return f"nothing to import in {self.folder}"
        t = self.totals
        return (
            f"{len(self.files)} file(s): {t.get('rows', 0)} rows, {t.get('started', 0)} cases started, "
            f"{t.get('rejected', 0)} rejected"
            + (f", {t.get('unreadable', 0)} file(s) unreadable" if t.get("unreadable") else "")
        )


def why_not_a_school_day(directory: Directory, day: date) -> str | None:
    """None when ``day`` is a school day for any school in the directory, else why not."""
    from whereabouts.schooldays import SchoolCalendar

    reasons = []
    for school in directory.schools:
        why = SchoolCalendar(school).why_not_school_day(day)
        if why is None:
            return None
        reasons.append(why)
    return f"{day:%a %d %b %Y} is not a school day at any school in the directory ({reasons[0]})"


def _is_feed(path: Path) -> bool:
    name = path.name
    return (
        path.is_file()
        and not name.startswith((".", "~"))
        and path.suffix.lower() in FEED_SUFFIXES
        and not path.stem.lower().endswith(CONTACTS_MARK)
    )


def _contacts_for(path: Path) -> Path | None:
    for suffix in FEED_SUFFIXES:
        other = path.with_name(f"{path.stem}{CONTACTS_MARK}{suffix}")
        if other.is_file():
            return other
    return None


def _take(path: Path, done: Path, stamp: str) -> Path | None:
    """``path`` moved into ``done`` atomically; None if another run took it first."""
    target = done / f"{stamp}-{path.name}"
    n = 1
    while target.exists():
        n += 1
        target = done / f"{stamp}-{n}-{path.name}"
    try:
        os.rename(path, target)
    except FileNotFoundError:
        return None
    return target


def _unfinished(done: Path) -> list[Path]:
    """Feeds taken by an earlier run that stopped before writing their report."""
    return [
        p
        for p in sorted(done.iterdir())
        if _is_feed(p)
        and not p.name.endswith((REPORT_SUFFIX, REJECTS_SUFFIX))
        and not p.with_name(p.name + REPORT_SUFFIX).exists()
    ]


def take_files(folder: Path, now: datetime | None = None) -> list[tuple[str, Path, Path | None]]:
    """Every feed waiting in ``folder`` (and any an earlier run left unfinished), taken: its name
    as it landed, where it is now, and its contacts file if one came with it."""
    done = folder / DONE
    done.mkdir(mode=0o700, parents=True, exist_ok=True)
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    taken: list[tuple[str, Path, Path | None]] = []
    for path in _unfinished(done):
        name = path.name.split("-", 1)[1] if "-" in path.name else path.name
        contacts = _contacts_for(path)
        taken.append((name, path, contacts))
    for path in sorted(p for p in folder.iterdir() if _is_feed(p)):
        contacts = _contacts_for(path)
        moved = _take(path, done, stamp)
        if moved is None:
            continue
        moved_contacts = None
        if contacts is not None:
            # Beside the feed under the same stamp, so an unfinished import finds it again.
            moved_contacts = moved.with_name(f"{moved.stem}{CONTACTS_MARK}{contacts.suffix}")
            os.rename(contacts, moved_contacts)
        taken.append((path.name, moved, moved_contacts))
    return taken


def _profile(how: DropImportInput) -> Profile | None:
    if how.profile:
        return load_profile(how.profile)
    if how.mapping:
        return load_mapping(Path(how.mapping))
    return None


def _bytes(path: Path) -> bytes:
    with path.open("rb") as fh:
        data = fh.read(MAX_FEED_BYTES + 1)
    if len(data) > MAX_FEED_BYTES:
        raise FeedUnreadable(f"larger than {MAX_FEED_BYTES // 2**20} MB: is it the right file?")
    return data


async def import_taken(
    client: Client,
    settings: Settings,
    directory: Directory,
    how: DropImportInput,
    name: str,
    path: Path,
    contacts: Path | None,
) -> FileTaken:
    """One taken feed read, checked and fed (``intake.feed``), its rejects and report written
    beside it. Never raises for what the file holds: an unreadable file has a report too."""
    rejects_path = path.with_name(path.name + REJECTS_SUFFIX)
    report_path = path.with_name(path.name + REPORT_SUFFIX)
    try:
        profile = _profile(how)
        contacts_text = decode(_bytes(contacts)) if contacts is not None else None
        parsed = read_feed(
            decode(_bytes(path)),
            directory=directory,
            profile=profile,
            contacts_text=contacts_text,
            school_urn=how.school_urn,
        )
    except (FeedUnreadable, ProfileError, OSError, RecursionError) as exc:
        why = str(exc) if not isinstance(exc, RecursionError) else "JSON nested too deeply"
        report = FeedReport(feed=name, unreadable=why)
    else:
        report = await feed(client, parsed, settings, name=name)
        if parsed.rejects:
            write_rejects(rejects_path, [(name, parsed)])
            report.rejects_file = str(rejects_path)
    write_private(report_path, report.model_dump_json(indent=2).encode("utf-8"))
    return FileTaken(
        name=name,
        taken_as=str(path),
        report_file=str(report_path),
        rejects_file=report.rejects_file,
        contacts_file=str(contacts) if contacts is not None else None,
        unreadable=report.unreadable,
        counts=report.counts(),
        exit_code=report.exit_code() if not report.unreadable else EXIT_UNREADABLE,
    )


def totals(files: list[FileTaken]) -> dict[str, int]:
    out: dict[str, int] = {"files": len(files), "unreadable": sum(1 for f in files if f.unreadable)}
    for f in files:
        for key, value in f.counts.items():
            out[key] = out.get(key, 0) + value
    return out
