"""What one case costs Temporal: history events and payload bytes per path, and the wall time of
a whole case (Day 1 to the LA's decision) in the time-skipping test server. Prints figures."""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from tests.conftest import TEST_DIRECTORY, register_search_attributes
from tests.factories import make_case, next_weekday
from tests.signer import TestSigner
from whereabouts.activities.deps import Deps
from whereabouts.converter import payload_data_converter
from whereabouts.devstack import mailcatcher
from whereabouts.models import CallRecord, LaDecisionRecord, VisitRecord
from whereabouts.settings import Settings
from whereabouts.worker import build_worker
from whereabouts.workflows.case import CmeCaseWorkflow

BIN = Path(sys.executable).parent


def payload_bytes(history) -> int:
    total = 0
    for event in history.events:
        for field, value in event.ListFields():
            if field.name.endswith("_attributes"):
                for sub, v in value.ListFields():
                    if sub.name in ("input", "result", "details") and hasattr(v, "payloads"):
                        total += sum(len(p.data) for p in v.payloads)
    return total


async def walk(env, handle, predicate):
    for _ in range(400):
        status = await handle.query(CmeCaseWorkflow.status)
        if predicate(status):
            return status
        now = await env.get_current_time()
        if status.next_action_at and status.next_action_at > now:
            await env.sleep(status.next_action_at - now + timedelta(minutes=1))
        else:
            await env.sleep(timedelta(hours=6))
    raise RuntimeError("case did not progress")


async def main() -> dict[str, float]:
    catcher = mailcatcher.MailCatcher()
    port = mailcatcher.free_port()
    controller = mailcatcher.start(catcher, port=port)
    signer = TestSigner()  # each action signed by the person it names, as the tests sign them
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(BIN / "temporal-test-server"),
        data_converter=payload_data_converter,
        interceptors=[signer],
    )
    signer.clock = env.get_current_time  # the case judges a signature's age by the server's clock
    await register_search_attributes(env.client)
    settings = Settings(
        smtp_port=port,
        var_dir=Path(tempfile.mkdtemp()),
        directory_path=TEST_DIRECTORY,
        task_queue=f"bench-{uuid.uuid4().hex[:6]}",
    )
    figures: dict[str, float] = {}
    try:
        async with build_worker(env.client, settings, Deps.from_settings(settings)):
            today = (await env.get_current_time()).date()
            # Path 1: explained on Day 1.
            case = make_case(next_weekday(today))
            h = await env.client.start_workflow(
                CmeCaseWorkflow.run, case, id=f"b1-{uuid.uuid4()}", task_queue=settings.task_queue
            )
            await walk(env, h, lambda s: s.next_action_at is not None)
            await h.execute_update(
                CmeCaseWorkflow.record_call,
                CallRecord(outcome="safe_with_parent", reason="ill", by="T. Hale"),
            )
            with env.auto_time_skipping_disabled():
                await h.result()
            hist = await h.fetch_history()
            figures["explained_day1_events"] = len(hist.events)
            figures["explained_day1_payload_bytes"] = payload_bytes(hist)

            # Path 2: the longest: nobody answers, letter, visit no answer, referral, LA decides.
            started = time.perf_counter()
            case = make_case(next_weekday(today))
            h = await env.client.start_workflow(
                CmeCaseWorkflow.run, case, id=f"b2-{uuid.uuid4()}", task_queue=settings.task_queue
            )
            await walk(env, h, lambda s: s.visit_booked_for is not None)
            await h.execute_update(
                CmeCaseWorkflow.record_visit, VisitRecord(outcome="no_answer", by="Vic Visitor")
            )
            await walk(env, h, lambda s: s.referred_at is not None and "LA decision" in (s.next_action or ""))
            await h.execute_update(
                CmeCaseWorkflow.record_la_decision,
                LaDecisionRecord(decision="child_located", by="LA", note="bench: found at an aunt's"),
            )
            with env.auto_time_skipping_disabled():
                await h.result()
            figures["whole_case_wall_seconds"] = round(time.perf_counter() - started, 2)
            hist = await h.fetch_history()
            figures["referral_path_events"] = len(hist.events)
            figures["referral_path_payload_bytes"] = payload_bytes(hist)
    finally:
        await env.shutdown()
        controller.stop()
    for name, value in figures.items():
        print(f"{name:32} {value}")
    return figures


if __name__ == "__main__":
    asyncio.run(main())
