"""Replays every recorded case history against today's workflow code.

A change that would break cases already running (a reordered step, a new timer) makes this fail
in CI instead of in a school's open cases. Histories are recorded by tests/test_case_paths.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from tests.conftest import workflow_ids
from tests.reordered_workflow import ReorderedCase
from whereabouts.worker import workflow_runner
from whereabouts.workflows.case import CmeCaseWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_histories_are_recorded():
    # Every path of the procedure keeps a history here; losing them silently disables the guard.
    assert len(HISTORIES) >= 6, [p.name for p in HISTORIES]


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_replay(path: Path):
    # The workflow ID it ran as: the signatures on its actions cover it (whereabouts.identity).
    history = WorkflowHistory.from_json(workflow_ids().get(path.stem, path.stem), path.read_text())
    replayer = Replayer(
        workflows=[CmeCaseWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=workflow_runner(),
    )
    await replayer.replay_workflow(history)


async def test_a_change_that_breaks_running_cases_is_caught():
    path = next(p for p in HISTORIES if p.stem == "explained_day1")
    replayer = Replayer(
        workflows=[ReorderedCase], data_converter=pydantic_data_converter, workflow_runner=workflow_runner()
    )
    result = await replayer.replay_workflow(
        WorkflowHistory.from_json(workflow_ids()[path.stem], path.read_text()), raise_on_replay_failure=False
    )
    assert result.replay_failure is not None and "Nondeterminism" in str(result.replay_failure)
