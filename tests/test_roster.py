"""Who may act on a case comes from the directory file as it is now (``activities/roster.py``):
the worker keeps its parsed copy only while the file is unchanged, so a member of staff added or
removed reaches the next roster refresh, and a file broken mid-edit keeps the worker's copy."""

from __future__ import annotations

import os
import shutil

from temporalio.testing import ActivityEnvironment

from tests.conftest import TEST_DIRECTORY
from whereabouts.activities.deps import Deps
from whereabouts.activities.roster import RosterActivities
from whereabouts.directory import load_directory
from whereabouts.steps import RosterRequest

NEWCOMER = """
[[people]]
name = "New Starter"
roles = ["office"]
schools = ["{urn}"]
public_key = "ed25519:N5b9WKhMwjchUGOfJQcrTqSEPheUql+FlfC4EsV6YRV="
"""


async def test_a_changed_directory_reaches_the_next_roster(tmp_path, settings):
    path = tmp_path / "schools.toml"
    shutil.copy(TEST_DIRECTORY, path)
    directory = load_directory(path)
    urn = directory.schools[0].urn
    acts = RosterActivities(Deps(settings.model_copy(update={"directory_path": path}), directory))
    env = ActivityEnvironment()
    names = lambda roster: {p.name for p in roster.people}  # noqa: E731

    first = await env.run(acts.load_roster, RosterRequest(school_urn=urn))
    assert "New Starter" not in names(first)
    again = await env.run(acts.load_roster, RosterRequest(school_urn=urn))
    assert names(again) == names(first)

    # A new member of staff, written in the same second as the last read (a quick edit).
    stat = os.stat(path)
    path.write_text(path.read_text() + NEWCOMER.format(urn=urn))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    added = await env.run(acts.load_roster, RosterRequest(school_urn=urn))
    assert "New Starter" in names(added)

    # Saved half-way through an edit: the worker's copy stands in, and the fixed file is read.
    path.write_text(path.read_text() + "\n[[people]\nname = ")
    broken = await env.run(acts.load_roster, RosterRequest(school_urn=urn))
    assert names(broken) == names(first)
    path.write_text(path.read_text().rsplit("\n[[people]\nname = ", 1)[0])
    assert "New Starter" in names(await env.run(acts.load_roster, RosterRequest(school_urn=urn)))
