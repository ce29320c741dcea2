"""Cases outlive releases: a case started on release 1 finishes on release 2, mid-case and while
waiting on the LA, through Worker Deployment versioning on the real dev server.

Release 1 is today's workflow; release 2 (``tests/upgraded_workflow.py``) adds a patched extra
reminder. Each test runs a versioned worker of build v1, makes it current as ``worker.py`` does,
starts a case, stops v1 at a point in the case, starts v2 and promotes it (``whereabouts-release
promote``). The case must move to v2 (auto-upgrade), show release 2's behaviour from then on and
only from then on, complete, and never fail a workflow task (a non-determinism error would).
"""

from __future__ import annotations

import asyncio
import io
import uuid
from datetime import date

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from tests.conftest import FAST_DAY_SECONDS, STARTED, until
from tests.factories import case_id_of, make_case
from tests.upgraded_workflow import PATCHES, UpgradedCase
from whereabouts.activities.deps import Deps
from whereabouts.cli import release
from whereabouts.models import CaseResult, LaDecisionRecord, ParentContact
from whereabouts.settings import Settings
from whereabouts.versioning import build_id, take_over_if_due
from whereabouts.vocabulary import CmeOutcome
from whereabouts.worker import build_worker
from whereabouts.workflows.case import CmeCaseWorkflow

OFFICE = "office@testhill.example.org"
REMINDER = "release 2 reminder after"


def versioned(settings: Settings, build: str) -> Settings:
    return settings.model_copy(update={"worker_versioning": True, "build_id": build, "promote": "always"})


def release_2_worker(client: Client, settings: Settings) -> Worker:
    """The same worker as worker.py builds, with release 2's workflow."""
    return build_worker(client, settings, Deps.from_settings(settings), workflows=[UpgradedCase])


async def on_build(handle: WorkflowHandle, build: str, timeout: float = 20) -> None:
    for _ in range(int(timeout / 0.2)):
        info = (await handle.describe()).raw_description.workflow_execution_info.versioning_info
        if info.deployment_version.build_id == build:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"the case never moved to build {build}: {info}")


def reminders(smtp) -> list[str]:
    return [str(r.message["Subject"]) for r in smtp.to(OFFICE) if REMINDER in str(r.message["Subject"])]


async def no_task_failed_and_patched(handle: WorkflowHandle, patch: str) -> None:
    history = await handle.fetch_history()
    failed = [e for e in history.events if e.event_type is EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED]
    assert not failed, failed[0].workflow_task_failed_event_attributes
    markers = [e for e in history.events if e.event_type is EventType.EVENT_TYPE_MARKER_RECORDED]
    assert any(patch.encode() in e.SerializeToString() for e in markers), "no patch marker"


async def test_a_case_moves_to_the_next_release_mid_case(dev_env, settings, smtp):
    client = dev_env.client
    settings.deployment_name = f"t-{uuid.uuid4().hex[:8]}"
    settings.school_day_seconds = 8.0  # time to swap workers between Day 1 and Day 2
    v1, v2 = versioned(settings, "v1"), versioned(settings, "v2")
    case = make_case(date.today())
    async with build_worker(client, v1, Deps.from_settings(v1)):
        assert "now the current version" in await take_over_if_due(client, v1)
        h = await client.start_workflow(
            CmeCaseWorkflow.run, case, id=case_id_of(case), task_queue=settings.task_queue
        )
        STARTED.append(h)
        await on_build(h, "v1")
        for _ in range(50):
            if any("Day 1 call needed" in str(r.message["Subject"]) for r in smtp.to(OFFICE)):
                break
            await asyncio.sleep(0.2)
        assert not any("Day 2" in str(r.message["Subject"]) for r in smtp.to(OFFICE)), "too late to swap"
    assert not reminders(smtp)  # release 1 sends none

    async with release_2_worker(client, v2):
        out = io.StringIO()
        await release.promote(client, v2.deployment_name, "v2", out)
        assert "current build v2 (was v1)" in out.getvalue()
        await on_build(h, "v2")
        for _ in range(150):  # Day 2 comes: its prompt, then release 2's reminder
            if reminders(smtp):
                break
            await asyncio.sleep(0.2)
        assert reminders(smtp) == [r for r in reminders(smtp) if "day2_call" in r] != []
        await h.execute_update(
            CmeCaseWorkflow.record_contact,
            ParentContact(reason="mother rang: staying with family", by="T. Hale"),
        )
        result: CaseResult = await h.result()
        assert result.outcome is CmeOutcome.PARENT_CONTACT
        await no_task_failed_and_patched(h, PATCHES["day2_call"])
        out = io.StringIO()
        await release.status(client, v2.deployment_name, out)
        assert "current build v2" in out.getvalue() and "build v1" in out.getvalue()


async def test_a_case_waiting_on_the_la_moves_to_the_next_release(dev_env, settings, smtp):
    client = dev_env.client
    settings.deployment_name = f"t-{uuid.uuid4().hex[:8]}"
    settings.school_day_seconds = FAST_DAY_SECONDS
    v1, v2 = versioned(settings, "v1"), versioned(settings, "v2")
    case = make_case(date.today())
    async with build_worker(client, v1, Deps.from_settings(v1)):
        await take_over_if_due(client, v1)
        h = await client.start_workflow(
            CmeCaseWorkflow.run, case, id=case_id_of(case), task_queue=settings.task_queue
        )
        STARTED.append(h)
        await until(h, lambda s: s.referred_at is not None, "referral", 15 * FAST_DAY_SECONDS + 20)
    assert not reminders(smtp)

    async with release_2_worker(client, v2):
        await take_over_if_due(client, v2)  # promote "always": as make run does
        await on_build(h, "v2")
        for _ in range(200):  # the LA's 10 working days pass: the chase, then release 2's reminder
            if reminders(smtp):
                break
            await asyncio.sleep(0.2)
        assert reminders(smtp), [str(r.message["Subject"]) for r in smtp.received[-6:]]
        assert all("la_chase" in r for r in reminders(smtp))
        await h.execute_update(
            CmeCaseWorkflow.record_la_decision,
            LaDecisionRecord(decision="child_located", by="LA officer", note="on roll in another LA"),
        )
        result: CaseResult = await h.result()
        assert result.outcome is CmeOutcome.CHILD_LOCATED
        await no_task_failed_and_patched(h, PATCHES["la_chase"])


def test_the_build_id_follows_the_code_unless_a_release_names_it(settings):
    assert build_id(settings.model_copy(update={"build_id": "2026.12.1"})) == "2026.12.1"
    assert build_id(settings).startswith("0.1.0+") and len(build_id(settings)) == len("0.1.0+") + 10
