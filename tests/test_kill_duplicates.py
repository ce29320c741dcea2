"""How many messages a worker killed mid-flow sends twice: at most the one in flight per kill.

Sixty synthetic cases run on a compressed clock against a real dev server, a worker subprocess
and a real SMTP server; the worker is SIGKILLed several times at random moments while mail
flows, and restarted each time. A message counts as sent twice when the same Message-ID (one per
case, step and recipient) arrives more than once. SMTP itself forces one such duplicate per kill
at most: a worker killed between the server's "250" and the heartbeat that records it reaching
Temporal cannot know the message went. Anything more means a retried step re-sent messages it
had already recorded (or failed to record) as sent.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
import uuid
from collections import Counter
from datetime import date

from tests.conftest import TEST_DIRECTORY
from tests.factories import case_id_of, make_case
from tests.test_faults import connect, start_server, start_worker
from whereabouts.devstack import mailcatcher
from whereabouts.workflows.activity_calls import MAIL_HEARTBEAT
from whereabouts.workflows.case import CmeCaseWorkflow

CASES = 60
KILLS = int(os.environ.get("WHEREABOUTS_KILLS", "5"))
DAY = 1.0  # seconds per school day: ten school days of mail in about ten seconds a case
STEPS_AT_ONCE = int(os.environ.get("WHEREABOUTS_KILL_CONCURRENCY", "2"))
SEED = int(os.environ.get("WHEREABOUTS_KILL_SEED", "18"))


class StampedCatcher(mailcatcher.MailCatcher):
    """Also notes when each message arrived, to tell which kill each duplicate belongs to."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived: list[float] = []

    async def handle_DATA(self, server, session, envelope):
        reply = await super().handle_DATA(server, session, envelope)
        with self.lock:
            self.arrived += [time.monotonic()] * (len(self.received) - len(self.arrived))
        return reply


async def test_worker_killed_repeatedly_resends_at_most_the_message_in_flight(tmp_path):
    rng = random.Random(SEED)
    catcher = StampedCatcher()
    kills: list[float] = []
    smtp_port = mailcatcher.free_port()
    controller = mailcatcher.start(catcher, port=smtp_port)
    port = mailcatcher.free_port()
    log = (tmp_path / "processes.log").open("ab")
    queue = f"kills-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "WHEREABOUTS_TEMPORAL_ADDRESS": f"127.0.0.1:{port}",
        "WHEREABOUTS_SMTP_PORT": str(smtp_port),
        "WHEREABOUTS_DIRECTORY_PATH": str(TEST_DIRECTORY),
        "WHEREABOUTS_VAR_DIR": str(tmp_path / "var"),
        "WHEREABOUTS_TASK_QUEUE": queue,
        "WHEREABOUTS_SCHOOL_DAY_SECONDS": str(DAY),
        "WHEREABOUTS_DEMO_UNENCRYPTED": "1",  # the test's own client reads the cases in plain JSON
        # Few steps at a time, so a kill finds at most that many messages between their "250"
        # and their record: at most one duplicate per step in flight is what SMTP allows.
        "WHEREABOUTS_MAX_CONCURRENT_ACTIVITIES": str(STEPS_AT_ONCE),
    }
    server = start_server(tmp_path / "temporal.db", port, log)
    worker = None
    began = time.monotonic()
    try:
        client = await connect(port)
        worker = start_worker(env, log)
        ids = []
        for _ in range(CASES):
            case = make_case(date.today())
            handle = await client.start_workflow(
                CmeCaseWorkflow.run, case, id=case_id_of(case), task_queue=queue
            )
            ids.append(handle.id)
        # Each kill lands while mail is flowing: a random number of messages after the last
        # restart, a random few milliseconds after one arrives, so often in the middle of a step
        # that sends several (a notice to the DSL, the deputy and the head; a letter; a referral).
        for _ in range(KILLS):
            target = len(catcher.received) + rng.randint(10, 40)
            for _ in range(6000):
                if len(catcher.received) >= target:
                    break
                await asyncio.sleep(0.005)
            await asyncio.sleep(rng.uniform(0, 0.03))
            worker.send_signal(signal.SIGKILL)
            kills.append(time.monotonic())
            at_last_kill = len(catcher.received)
            worker.wait()
            worker = start_worker(env, log)
            print(f"\nkill at {time.monotonic() - began:.1f} s, {len(catcher.received)} messages so far")
        # A step in flight at a kill is retried once its heartbeat timeout has passed (then a
        # 5 s retry interval): by then every retry has sent what it re-sends. The cases go on
        # (they are counted, not awaited: a referral is ten compressed days away).
        last_kill = kills[-1]
        await asyncio.sleep(max(0, last_kill + MAIL_HEARTBEAT.total_seconds() + 10 - time.monotonic()))
        current = await asyncio.gather(
            *(client.get_workflow_handle(i).query(CmeCaseWorkflow.status) for i in ids)
        )
        referred = sum(s.referred_at is not None for s in current)
        counts = Counter(str(r.message["Message-ID"]) for r in catcher.received)
        duplicates = sum(n - 1 for n in counts.values() if n > 1)
        print(
            f"\nkill test: {len(catcher.received)} messages, {len(counts)} distinct, {KILLS} kills, "
            f"{duplicates} duplicate(s), {referred}/{CASES} referred so far, {time.monotonic() - began:.0f} s"
        )
        twice = {
            str(r.message["Subject"]).split(":")[0]
            for r in catcher.received
            if counts[str(r.message["Message-ID"])] > 1
        }
        print(f"sent twice: {sorted(twice)}")
        first: dict[str, int] = {}
        per_kill: Counter[int] = Counter()
        for n, r in enumerate(catcher.received):
            mid = str(r.message["Message-ID"])
            if counts[mid] > 1 and mid not in first:
                first[mid] = n
                before = [round(catcher.arrived[n] - k, 3) for k in kills]
                per_kill[sum(k <= catcher.arrived[n] + 0.5 for k in kills)] += 1  # the kill after it
                print(f"  first copy {n}: to {r.rcpt_tos[0].split('@')[0]}, s after each kill {before}")
        assert len(catcher.received) > at_last_kill + CASES, "the cases did not carry on after the kills"
        # At most the one message in flight per step per kill (usually none: the window is the
        # time Temporal takes to confirm a heartbeat, a few milliseconds).
        assert duplicates <= KILLS * STEPS_AT_ONCE, f"{duplicates} duplicates for {KILLS} kills"
        assert max(per_kill.values(), default=0) <= STEPS_AT_ONCE, f"duplicates per kill: {dict(per_kill)}"
    finally:
        for proc in (worker, server):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
        controller.stop()
