"""The mail server down for a while: the e-mail waits and goes once it is back, the case says it
is waiting (so an operator is not fooled by a case that looks on time), and other work goes on.

Real dev server, a real worker and a real SMTP server that is started late on its port.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from datetime import date

from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.common import WorkflowIDReusePolicy

from tests.conftest import STARTED, close_started, record_workflow_id, until
from tests.factories import case_id_of, make_case
from tests.test_case_paths import HISTORIES
from whereabouts.activities.deps import Deps
from whereabouts.devstack import mailcatcher
from whereabouts.models import CallRecord, ParentContact
from whereabouts.vocabulary import CmeOutcome, CmeStage
from whereabouts.worker import build_worker
from whereabouts.workflows.case import CmeCaseWorkflow

OFFICE = "office@testhill.example.org"


async def test_smtp_outage_delays_mail_shows_delay_and_nothing_else_stalls(dev_env, settings):
    port = mailcatcher.free_port()  # nothing listens here yet: the mail server is "down"
    settings.smtp_port = port
    settings.school_day_seconds = 120.0  # the cases stay on Day 1 for the whole test
    client = dev_env.client
    catcher = mailcatcher.MailCatcher()
    controller = None
    async with build_worker(client, settings, Deps.from_settings(settings)):
        try:
            handles = []
            for _ in range(2):
                case = make_case(date.today())
                handles.append(
                    await client.start_workflow(
                        CmeCaseWorkflow.run,
                        case,
                        id=f"{case_id_of(case)}-{uuid.uuid4().hex[:6]}",
                        task_queue=settings.task_queue,
                        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                    )
                )
            STARTED.extend(handles)
            waiting, explained = handles

            # The Day 1 prompt cannot go: after its second failed try the case says so.
            status = await until(
                waiting,
                lambda s: any("waiting for the mail server" in p for p in s.pending),
                "delay shown in the case status",
                timeout=30,
            )
            delay = next(p for p in status.pending if "mail server" in p)
            assert delay.startswith("e-mail (day1 call) waiting for the mail server since")
            assert "mail server unreachable" in delay
            # The Web UI shows the case's current details: the note is there too, naming no one.
            meta = await waiting.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
            assert "**Delayed:** e-mail (day1 call) waiting for the mail server" in meta.current_details
            assert "Testperson" not in meta.current_details
            chronology = await waiting.query(CmeCaseWorkflow.chronology_entries)
            assert any("delayed: the mail server is not accepting it" in e.what for e in chronology)

            # Nothing else stalls: staff still record a call and the other case closes on it.
            await explained.execute_update(
                CmeCaseWorkflow.record_call,
                CallRecord(outcome="safe_with_parent", reason="dental appointment", by="Office"),
            )
            result = await asyncio.wait_for(explained.result(), 20)
            assert result.outcome is CmeOutcome.EXPLAINED_ABSENCE
            assert catcher.received == []

            # The mail server comes back: the waiting prompt goes out once and the note clears.
            controller = mailcatcher.start(catcher, port=port)
            back = time.monotonic()
            status = await until(
                waiting,
                lambda s: not any("mail server" in p for p in s.pending),
                "delay cleared once mail is back",
                timeout=60,
            )
            took = time.monotonic() - back
            assert status.stage is CmeStage.DAY1_CALL
            prompts = [r for r in catcher.to(OFFICE) if "Day 1" in str(r.message["Subject"])]
            assert len(prompts) == 1, [str(r.message["Subject"]) for r in catcher.received]
            chronology = await waiting.query(CmeCaseWorkflow.chronology_entries)
            assert any(e.what == "Mail for day1 call went out after a delay" for e in chronology)
            print(f"mail went out {took:.1f} s after the server came back")

            # The parent rings: the case closes, and its history joins the replay suite.
            rang = ParentContact(reason="rang in", by="Office")
            await waiting.signal(CmeCaseWorkflow.parent_responded, rang)
            result = await asyncio.wait_for(waiting.result(), 20)
            assert result.outcome is CmeOutcome.PARENT_CONTACT
            path = HISTORIES / "mail_outage_delay.json"
            if os.environ.get("WHEREABOUTS_RECORD_HISTORIES") or not path.exists():
                history = await waiting.fetch_history()
                path.write_text(json.dumps(json.loads(history.to_json()), indent=1))
                record_workflow_id("mail_outage_delay", waiting.id)
        finally:
            await close_started()
            if controller is not None:
                controller.stop()
