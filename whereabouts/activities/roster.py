"""Who may act on a school's cases: the directory's people, read afresh for each case.

A case checks every signed action against this roster (``workflows/gate.py``). It is read from
the directory file each time (not the copy the worker loaded at start), so a key added for a new
member of staff, or removed for one who has left, reaches open cases at their next daily refresh
without restarting anything. A directory that cannot be read keeps the worker's copy.
"""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio import activity

from whereabouts.activities.deps import Deps
from whereabouts.directory import DirectoryError, load_directory
from whereabouts.identity import Roster
from whereabouts.steps import RosterRequest


class RosterActivities:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    @activity.defn(name="load_roster")
    async def load_roster(self, req: RosterRequest) -> Roster:
        try:
            directory = load_directory(self.deps.settings.directory_path)
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
