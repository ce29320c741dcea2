"""Replays every recorded case history against today's workflow code.

A change that would break cases already running (a reordered step, a new timer) makes this fail
in CI instead of in a school's open cases. Histories are recorded by tests/test_case_paths.py.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from tests.conftest import workflow_ids
from tests.reordered_workflow import ReorderedCase
from whereabouts.converter import payload_data_converter
from whereabouts.sandbox import workflow_runner
from whereabouts.vocabulary import LaDecision, VisitOutcome
from whereabouts.workflows.case import CmeCaseWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


# Paths a release must never break, by the history that walks each (issue 20): an escalation, a
# chase of the DSL and of the LA, a catch-up (late start, and a worker down for days), messages
# the mail server refused or delayed, a case that continued as new waiting on the LA, and a case
# closed while its referral was on its way.
REQUIRED = {
    "not_reassured_escalated",
    "dsl_chased",
    "la_chase_summer",
    "late_start_catch_up",
    "worker_outage_catch_up",
    "escalation_not_delivered",
    "office_refused",
    "mail_outage_delay",
    "la_wait_continue_as_new",
    "la_wait_continued",
    "register_deletion",
    "close_while_referral_sending",  # behind the patch mail-arrives-before-close
    "parent_contact_one_task",  # behind the patch close-in-one-task (the older ones walk its else)
    "first_steps_one_task",  # behind first-steps-in-one-task (recorded once: new cases no longer take it)
    "first_steps_as_activities",  # behind first-steps-as-activities
}


def staff_actions(path: Path) -> set[tuple[str, str]]:
    """(update, outcome or decision) for every staff action the history accepted."""
    found = set()
    for event in json.loads(path.read_text())["events"]:
        accepted = event.get("workflowExecutionUpdateAcceptedEventAttributes")
        if not accepted:
            continue
        request = accepted["acceptedRequest"]["input"]
        for payload in request.get("args", {}).get("payloads", []):
            record = json.loads(base64.b64decode(payload["data"]))
            for key in ("outcome", "decision"):
                if isinstance(record, dict) and key in record:
                    found.add((request["name"], str(record[key])))
    return found


def test_every_path_has_a_history():
    # Losing a history silently disables the guard for its path.
    names = {p.stem for p in HISTORIES}
    assert not REQUIRED - names, f"no history for: {sorted(REQUIRED - names)}"
    actions = set().union(*(staff_actions(p) for p in HISTORIES))
    visits = {o for name, o in actions if name == "record_visit"}
    decisions = {d for name, d in actions if name == "record_la_decision"}
    assert {v.value for v in VisitOutcome} <= visits, (
        f"no history records a visit: {set(VisitOutcome) - visits}"
    )
    assert {d.value for d in LaDecision} <= decisions, f"no history records: {set(LaDecision) - decisions}"
    # keep_on_roll, then the removal, in one case.
    assert {("record_la_decision", "keep_on_roll"), ("record_la_decision", "remove_from_roll")} <= (
        staff_actions(Path(__file__).parent / "histories" / "register_deletion.json")
    )


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_replay(path: Path):
    # The workflow ID it ran as: the signatures on its actions cover it (whereabouts.identity).
    history = WorkflowHistory.from_json(workflow_ids().get(path.stem, path.stem), path.read_text())
    replayer = Replayer(
        workflows=[CmeCaseWorkflow],
        data_converter=payload_data_converter,
        workflow_runner=workflow_runner(),
    )
    await replayer.replay_workflow(history)


async def test_a_change_that_breaks_running_cases_is_caught():
    path = next(p for p in HISTORIES if p.stem == "explained_day1")
    replayer = Replayer(
        workflows=[ReorderedCase], data_converter=payload_data_converter, workflow_runner=workflow_runner()
    )
    result = await replayer.replay_workflow(
        WorkflowHistory.from_json(workflow_ids()[path.stem], path.read_text()), raise_on_replay_failure=False
    )
    assert result.replay_failure is not None and "Nondeterminism" in str(result.replay_failure)
