"""The morning's two bursts in as few workflow tasks as they can take (issue 21).

A new case's first steps read the directory (who may act, the school days) as activities: run as
local activities within its first task they reached the Day 1 prompt sooner but left markers the
worker held for as long as it cached the case. A case closed by an MIS event (the parent ringing
in) writes its outcome to the MIS outbox within the task that took the signal and completes there;
closed by a staff action (an update) it keeps the activity, so the update is answered in a task
of its own. Either way the MIS gets the outcome once, and the next case for the pupil reads how
this one closed.
"""

from __future__ import annotations

import json

from tests.conftest import finish, school_morning, until_prompted, until_waiting_for
from tests.factories import make_case
from whereabouts.feed.intake import _describe, _Latest, _previous
from whereabouts.models import CallRecord, ParentContact
from whereabouts.vocabulary import CmeOutcome
from whereabouts.workflows.case import CmeCaseWorkflow


def after_last_signal(events: list[dict]) -> list[dict]:
    signalled = [i for i, e in enumerate(events) if e["eventType"].endswith("WORKFLOW_EXECUTION_SIGNALED")]
    return events[signalled[-1] :] if signalled else events


def types(events: list[dict]) -> list[str]:
    return [e["eventType"].removeprefix("EVENT_TYPE_") for e in events]


def outcome_lines(settings) -> list[dict]:
    lines = [json.loads(x) for x in settings.mis_outbox.read_text().splitlines()]
    return [x for x in lines if x["kind"] == "case_outcome"]


async def history_of(handle) -> list[dict]:
    return json.loads((await handle.fetch_history()).to_json())["events"]


def scheduled(events: list[dict]) -> list[str]:
    return [
        e["activityTaskScheduledEventAttributes"]["activityType"]["name"]
        for e in events
        if e["eventType"].endswith("ACTIVITY_TASK_SCHEDULED")
    ]


def local_activities(events: list[dict]) -> int:
    return sum(
        1
        for e in events
        if e.get("markerRecordedEventAttributes", {}).get("markerName") == "core_local_activity"
    )


async def test_a_new_case_reads_the_directory_as_activities_and_keeps_no_marker(
    env, settings, smtp, worker, start_case
):
    # Read as local activities (first-steps-in-one-task) the two reads left a marker each that
    # the worker held for as long as the case was cached (bench.carry): a new case reads them as
    # activities again (first-steps-as-activities); first_steps_one_task still replays.
    case = make_case(await school_morning(env))
    h = await start_case(env.client, case, record_as="first_steps_as_activities")
    await until_prompted(h)
    events = await history_of(h)
    assert scheduled(events) == ["load_roster", "schedule_case", "send_notice"]
    assert local_activities(events) == 0
    # The roster is there: a staff action is checked and recorded at once.
    await h.execute_update(
        CmeCaseWorkflow.record_call,
        CallRecord(outcome="safe_with_parent", reason="ill with flu", code="i", by="T. Hale"),
    )
    result = await finish(env, h)
    assert result.outcome is CmeOutcome.EXPLAINED_ABSENCE
    assert [e.what for e in result.chronology][-1] == "Case closed: explained absence"


async def test_parent_ringing_in_closes_the_case_in_one_task(env, settings, smtp, worker, start_case):
    case = make_case(await school_morning(env))
    h = await start_case(env.client, case, record_as="parent_contact_one_task")
    await until_prompted(h)  # nothing on its way to the mail server (that close waits for it)
    await h.signal(CmeCaseWorkflow.parent_responded, ParentContact(by="MIS", reason="rang: dentist"))
    result = await finish(env, h)
    assert result.outcome is CmeOutcome.PARENT_CONTACT

    closing = types(after_last_signal(await history_of(h)))
    assert closing.count("WORKFLOW_TASK_COMPLETED") == 1, closing
    assert "ACTIVITY_TASK_SCHEDULED" not in closing, closing
    assert closing[-1] == "WORKFLOW_EXECUTION_COMPLETED"
    # The MIS has the outcome, once.
    (line,) = outcome_lines(settings)
    assert line["value"] == "parent_contact" and line["case_id"] == h.id

    # How it closed, for the next case for this pupil (the feed reads it: test_register.py).
    latest = await _describe(h)  # as the feed reads it
    assert latest is not None
    episode = latest.memo["episode"]  # one payload, not seven
    assert "closed_on" not in latest.memo
    assert (episode["outcome"], episode["episodes"], episode["covered_until"]) == ("parent_contact", "1", "")


async def test_a_staff_action_that_closes_the_case_is_answered_before_the_mis_write(
    env, settings, smtp, worker, start_case
):
    case = make_case(await school_morning(env))
    h = await start_case(env.client, case)
    await until_waiting_for(h, "Day 1 call outcome")
    status = await h.execute_update(
        CmeCaseWorkflow.record_call,
        CallRecord(outcome="safe_with_parent", reason="ill with flu", code="i", by="T. Hale"),
    )
    assert status.case_id == h.id
    result = await finish(env, h)
    assert result.outcome is CmeOutcome.EXPLAINED_ABSENCE
    assert scheduled(await history_of(h))[-1] == "record_in_mis"  # a task of its own, after the answer
    (line,) = outcome_lines(settings)
    assert line["value"] == "explained_absence"


def test_the_feed_still_reads_the_seven_field_memo_of_a_case_closed_before():
    memo = {
        "first_day_absent": "2026-11-02",
        "closed_on": "2026-11-04",
        "outcome": "explained_absence",
        "school_days": "3",
        "linked_days": "3",
        "episodes": "1",
        "covered_until": "2026-11-06",
        "covered_code": "I",
    }
    previous = _previous(_Latest(status=None, start_time=None, memo=memo))  # type: ignore[arg-type]
    assert previous is not None
    assert previous.school_days == 3 and previous.covered_code == "I"
    assert str(previous.covered_until) == "2026-11-06"
