"""The scheduled import's activities: is today a school day, and take and feed the drop folder.

Both do I/O the workflow must not (the clock, the directory, the files, Temporal itself), so
their answers are recorded in the run's history. The import reuses the feed intake that
``starter.py`` uses (``whereabouts.feed.drop`` over ``whereabouts.feed.intake``), with the
worker's own client, so a scheduled file and a hand-fed one start the same cases.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from temporalio import activity

from whereabouts.activities.deps import Deps
from whereabouts.feed.drop import (
    DropImportInput,
    FileTaken,
    SchoolDayAnswer,
    import_taken,
    take_files,
    why_not_a_school_day,
)
from whereabouts.times import LONDON


class FeedImportActivities:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    @activity.defn(name="feed_import_school_day")
    async def school_day(self, req: DropImportInput) -> SchoolDayAnswer:
        today = datetime.now(LONDON).date()
        return SchoolDayAnswer(day=today, why_not=why_not_a_school_day(self.deps.directory, today))

    @activity.defn(name="feed_import_drop_folder")
    async def import_drop_folder(self, req: DropImportInput) -> list[FileTaken]:
        """Every feed in the folder taken (moved aside at once) and fed, one after another."""
        taken = take_files(Path(req.folder))
        out = []
        for i, (name, path, contacts) in enumerate(taken, start=1):
            activity.heartbeat(i)
            result = await import_taken(
                activity.client(), self.deps.settings, self.deps.directory, req, name, path, contacts
            )
            activity.logger.info(
                "feed import: %s: %s",
                name,
                result.unreadable or ", ".join(f"{k} {v}" for k, v in result.counts.items() if v),
            )
            out.append(result)
        return out
