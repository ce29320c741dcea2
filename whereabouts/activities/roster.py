"""Who may act on a school's cases: the directory's people, read afresh for each case.

A case checks every signed action against this roster (``workflows/gate.py``). It is read from
the directory file each time (not the copy the worker loaded at start), so a key added for a new
member of staff, or removed for one who has left, reaches open cases at their next daily refresh
without restarting anything. A directory that cannot be read keeps the worker's copy.

Read afresh means read when it has changed: the file's identity, size and modification time are
checked on each call and the parsed directory kept until they change, because a morning of
thousands of new cases would otherwise parse and validate the whole directory once per case
(an LA's directory names every school and member of staff).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from temporalio import activity

from whereabouts.activities.deps import Deps
from whereabouts.directory import Directory, DirectoryError, load_directory
from whereabouts.identity import Roster
from whereabouts.steps import RosterRequest


class RosterActivities:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self._read: tuple[tuple[int, int, int, int], Directory] | None = None

    def _directory(self) -> Directory:
        """The directory file as it is now: parsed again only when the file has changed."""
        path = self.deps.settings.directory_path
        try:
            st = os.stat(path)
        except OSError:
            st = None
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) if st is not None else None
        if key is not None and self._read is not None and self._read[0] == key:
            return self._read[1]
        directory = load_directory(path)
        if key is not None:
            self._read = (key, directory)
        return directory

    @activity.defn(name="load_roster")
    async def load_roster(self, req: RosterRequest) -> Roster:
        try:
            directory = self._directory()
        except DirectoryError as exc:
            activity.logger.warning("school directory unreadable, using the worker's copy: %s", exc)
            directory = self.deps.directory
        school = directory.school(req.school_urn)
        return Roster(
            school_urn=school.urn,
            la_code=school.la,
            people=directory.people_for(school.urn),
            loaded_at=datetime.now(UTC),
        )
