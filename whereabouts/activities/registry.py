"""Every activity the worker runs, built from one set of dependencies."""

from __future__ import annotations

from collections.abc import Callable

from whereabouts.activities.deps import Deps
from whereabouts.activities.feed_import import FeedImportActivities
from whereabouts.activities.letters import LetterActivities
from whereabouts.activities.mis import MisActivities
from whereabouts.activities.notices import NoticeActivities
from whereabouts.activities.referral import ReferralActivities
from whereabouts.activities.roster import RosterActivities
from whereabouts.activities.schedule import CalendarActivities
from whereabouts.activities.visits import VisitActivities


def all_activities(deps: Deps) -> list[Callable]:
    calendar = CalendarActivities(deps)
    notices = NoticeActivities(deps)
    feed_import = FeedImportActivities(deps)
    return [
        calendar.schedule_case,
        calendar.la_chase_after,
        calendar.more_school_days,
        notices.send_notice,
        LetterActivities(deps).send_day3_letter,
        VisitActivities(deps).book_home_visit,
        ReferralActivities(deps).file_referral,
        MisActivities(deps).record_in_mis,
        RosterActivities(deps).load_roster,
        feed_import.school_day,  # the scheduled drop-folder import (workflows/feed_import.py)
        feed_import.import_drop_folder,
    ]
