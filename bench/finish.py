"""Finishing: how long after the MIS says "the parent responded" is a case closed?

    python -m bench.finish [CASES]        or as part of ``make bench``

Why: closing is the one moment a waiting case needs the worker quickly. The ``parent_responded``
signal wakes the case, which writes the outcome to the MIS outbox (an activity) and completes;
until then ``admin.py cases`` still lists the child as missing. A morning feed can close many
cases at once, so the figure that matters is the latency under a burst, beside the latency of a
single case on an idle worker.

How: a local dev server and a real ``python worker.py`` process (``bench/stack.py``). Under
``make bench`` these are the ones ``bench.carry`` leaves running, with its 10,000 cases waiting
for Day 2 (the worker's cache full): the closes are measured on a worker carrying a full load,
and the machine's two CPUs are spared starting another thousand. Run alone, it starts 1,020
synthetic cases through ``whereabouts.feed.feed()`` and waits until they sit on their first
timer. 20 cases are then signalled one at a time (each closed before the next is sent: the
latency on an idle worker), and 1,000 all at once, at most ``DEFAULT_CONCURRENCY`` signals in
flight as the feed sends them. Per case the latency is the workflow's close time (from the server)
minus the moment its signal was sent. Prints figures; asserts nothing about time.
"""

from __future__ import annotations

import asyncio
import math
import sys
import time
from collections.abc import Sequence

from temporalio.client import Client

from bench import print_figures
from bench.stack import Stack, own_or_given, synthetic_rows
from whereabouts.feed import DEFAULT_CONCURRENCY
from whereabouts.models import ParentContact
from whereabouts.vocabulary import CmeOutcome
from whereabouts.workflows.case import CmeCaseWorkflow

CASES = 1_000
ONE_AT_A_TIME = 20
RESPONSE = ParentContact(by="MIS feed", reason="synthetic: parent rang the office")
SHARE_STACK = True  # under make bench: the cases bench.carry left waiting, on its worker


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile: the smallest value with at least q% of them at or below it."""
    ordered = sorted(values)
    return ordered[max(math.ceil(q / 100 * len(ordered)) - 1, 0)]


async def closed_at(client: Client, case_id: str) -> float:
    """The case's close time (server clock, Unix seconds), once it has closed as parent contact."""
    handle = client.get_workflow_handle_for(CmeCaseWorkflow.run, case_id)
    result = await handle.result()
    if result.outcome is not CmeOutcome.PARENT_CONTACT:
        raise RuntimeError(f"{case_id} closed as {result.outcome}, not parent_contact")
    desc = await handle.describe()
    assert desc.close_time is not None
    return desc.close_time.timestamp()


async def signal(client: Client, case_id: str) -> float:
    sent_at = time.time()
    await client.get_workflow_handle(case_id).signal(CmeCaseWorkflow.parent_responded, RESPONSE)
    return sent_at


async def main(cases: int = CASES, shared: Stack | None = None) -> dict[str, float | int | str]:
    """On ``shared`` (a stack with enough cases already waiting, as ``bench.carry`` leaves it),
    or else on a stack of its own with 1,020 cases started for it."""
    needed = cases + ONE_AT_A_TIME
    async with own_or_given(shared, "finish") as stack:
        client = stack.client
        if len(stack.waiting) >= needed:
            ids = stack.waiting[:needed]
        else:
            ids, _ = await stack.start_cases(synthetic_rows(needed))
            await stack.wait_until_waiting(ids, len(ids))
        carried = (await client.count_workflows("ExecutionStatus = 'Running'")).count
        solo, burst = ids[:ONE_AT_A_TIME], ids[ONE_AT_A_TIME:]

        idle = []
        for cid in solo:
            sent_at = await signal(client, cid)
            idle.append(await closed_at(client, cid) - sent_at)

        cpu_before = stack.cpu_seconds()
        gate = asyncio.Semaphore(DEFAULT_CONCURRENCY)

        async def one(case_id: str) -> tuple[float, float]:
            async with gate:
                sent_at = await signal(client, case_id)
            return sent_at, await closed_at(client, case_id)

        began = time.time()
        times = await asyncio.gather(*(one(cid) for cid in burst))
        latencies = [closed - sent for sent, closed in times]
        wall = max(closed for _, closed in times) - began
        cpu = stack.cpu_seconds() - cpu_before

        closed = set(ids)
        stack.waiting = [cid for cid in stack.waiting if cid not in closed]

    figures: dict[str, float | int | str] = {
        "open cases on the worker's task queue beforehand": carried,
        "one at a time (idle worker), cases": len(idle),
        "one at a time, p50 s": round(percentile(idle, 50), 3),
        "one at a time, max s": round(max(idle), 3),
        "burst, cases signalled at once": len(burst),
        "burst, signals in flight at most": DEFAULT_CONCURRENCY,
        "burst, p50 s": round(percentile(latencies, 50), 3),
        "burst, p95 s": round(percentile(latencies, 95), 3),
        "burst, max s": round(max(latencies), 3),
        "burst, wall time first signal to last close, s": round(wall, 2),
        "burst, cases closed per second": round(len(burst) / wall, 1),
        "worker CPU per case closed, ms": round(cpu / len(burst) * 1000, 1),
        "cases closed as parent_contact (checked)": len(idle) + len(times),
    }
    return print_figures(figures)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else CASES))
