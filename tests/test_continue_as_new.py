"""A case waiting months on the LA continues as new when Temporal suggests it, losing nothing.

Temporal suggests continuing as new once a history passes a length (4 MB or ~4,000 events by
default); this dev server suggests it after 60 events, so a case suggests it as soon as it has
been referred and waits on the LA. The continued run must carry the whole chronology and state:
the LA's chase goes on, the LA's decision closes the case, and the result holds the record from
the absence onward. Both runs' histories are recorded for the replay test.
"""

from __future__ import annotations

import asyncio
import json
import os
from datetime import date

import pytest_asyncio
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from tests.conftest import (
    FAST_DAY_SECONDS,
    HISTORIES,
    RECORD_AS,
    STARTED,
    binary,
    finish,
    record_workflow_id,
    register_search_attributes,
    until,
)
from tests.factories import case_id_of, make_case
from tests.signer import TestSigner
from whereabouts.activities.deps import Deps
from whereabouts.converter import payload_data_converter
from whereabouts.models import CaseResult, LaDecisionRecord, LaUpdate
from whereabouts.vocabulary import CmeOutcome, CmeStage
from whereabouts.worker import build_worker
from whereabouts.workflows.case import CmeCaseWorkflow

SUGGEST_AFTER_EVENTS = 60
WHOLE_CASE = 15 * FAST_DAY_SECONDS + 20


@pytest_asyncio.fixture(scope="module")
async def small_histories():
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"),
        data_converter=payload_data_converter,
        interceptors=[TestSigner()],
        dev_server_log_level="error",
        ui=False,
        dev_server_extra_args=[
            "--dynamic-config-value",
            f"limit.historyCount.suggestContinueAsNew={SUGGEST_AFTER_EVENTS}",
        ],
    )
    await register_search_attributes(env.client)
    yield env
    await env.shutdown()


async def test_a_case_waiting_on_the_la_continues_as_new_with_its_record(small_histories, settings, smtp):
    env = small_histories
    settings.school_day_seconds = FAST_DAY_SECONDS
    async with build_worker(env.client, settings, Deps.from_settings(settings)):
        case = make_case(date.today())
        h = await env.client.start_workflow(
            CmeCaseWorkflow.run, case, id=case_id_of(case), task_queue=settings.task_queue
        )
        STARTED.append(h)
        first_run = h.result_run_id
        assert first_run is not None
        await until(h, lambda s: s.referred_at is not None, "referral", WHOLE_CASE)

        # The case moves into a new run: the same case ID, a new run, a short history.
        latest = env.client.get_workflow_handle(h.id)
        for _ in range(100):
            desc = await latest.describe()
            if desc.run_id != first_run:
                break
            await asyncio.sleep(0.3)
        assert desc.run_id != first_run, "the case never continued as new"
        old = await env.client.get_workflow_handle(h.id, run_id=first_run).fetch_history()
        assert old.events[-1].event_type is EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
        assert len(old.events) > SUGGEST_AFTER_EVENTS
        failed = [e for e in old.events if e.event_type is EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED]
        assert not failed

        # Everything the first run knew is still the case's: its stage, referral and record.
        status = await until(latest, lambda s: s.stage is CmeStage.REFERRED, "referred, continued")
        entries = await latest.query(CmeCaseWorkflow.chronology_entries)
        events = [e.what for e in entries]
        assert events[0] == "Case opened" and any(
            e.startswith("Referred to the local authority") for e in events
        ), events
        assert status.referred_at is not None and any("LA decision" in p for p in status.pending)

        # The LA acts on the continued run; its update restarts the wait, its decision closes it.
        await latest.execute_update(
            CmeCaseWorkflow.record_la_update,
            LaUpdate(kind="enquiry", note="visited the address: no one home", by="LA officer"),
        )
        await latest.execute_update(
            CmeCaseWorkflow.record_la_decision,
            LaDecisionRecord(decision="child_located", by="LA officer", note="on roll in another LA"),
        )
        RECORD_AS[h.id] = "la_wait_continued"
        result: CaseResult = await finish(env, env.client.get_workflow_handle_for(CmeCaseWorkflow.run, h.id))
    assert result.outcome is CmeOutcome.CHILD_LOCATED
    record = [e.what for e in result.chronology]
    assert record[0] == "Case opened" and "Case closed: child located" in record[-1]
    assert record[: len(events)] == events  # nothing of the first run's record was lost
    # The MIS hears the outcome once, whichever run closed it.
    outbox = [json.loads(x) for x in settings.mis_outbox.read_text().splitlines()]
    assert [x["value"] for x in outbox if x["kind"] == "case_outcome"] == ["child_located"]
    # The first run, which ends by continuing as new, replays too.
    HISTORIES.mkdir(exist_ok=True)
    path = HISTORIES / "la_wait_continue_as_new.json"
    if os.environ.get("WHEREABOUTS_RECORD_HISTORIES") or not path.exists():
        path.write_text(json.dumps(json.loads(old.to_json()), indent=1))
        record_workflow_id("la_wait_continue_as_new", h.id)
