"""Finishing: how long after the MIS says "the parent responded" is a case closed, beside a
trivial workflow that completes when signalled?

    python -m bench.finish [CASES]        or as part of ``make bench``

Why: closing is the one moment a waiting case needs the worker quickly. The ``parent_responded``
signal wakes the case, which writes the outcome to the MIS outbox (an activity) and completes;
until then ``admin.py cases`` still lists the child as missing. A morning feed can close many
cases at once, so the figure that matters is the latency under a burst, beside the latency of a
single case on an idle worker.

How: a local dev server and a real ``python worker.py`` process (``bench/stack.py``). Under
``make bench`` these are the ones ``bench.day1`` leaves running, with its cases waiting for
Day 2 in the worker's cache: the closes are measured on a worker carrying a load, and the
machine's two CPUs are spared starting another thousand. Run alone, it starts 1,020
synthetic cases through ``whereabouts.feed.feed()`` and waits until they sit on their first
timer. 20 cases are then signalled one at a time (each closed before the next is sent: the
latency on an idle worker), and 1,000 all at once, at most ``DEFAULT_CONCURRENCY`` signals in
flight as the feed sends them. Per case the latency is the workflow's close time (from the server)
minus the moment its signal was sent. The baseline is the same (20 one at a time, then 1,000
at once, the same bound on signals in flight, the same client) for trivial workflows waiting on
a timer on their own worker (``bench/trivial.py``: signalled, they complete), signalled after
the cases. Prints figures; asserts nothing about time.
"""

from __future__ import annotations

import asyncio
import math
import sys
import time
from collections.abc import Awaitable, Callable, Sequence

from temporalio.client import Client

from bench import Beside, Figures, print_figures, scaled
from bench.stack import Stack, own_or_given, synthetic_rows
from bench.trivial import BenchTrivial
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


async def trivial_closed_at(client: Client, wid: str) -> float:
    handle = client.get_workflow_handle_for(BenchTrivial.run, wid)
    if await handle.result() != "x":
        raise RuntimeError(f"{wid} timed out instead of completing on its signal")
    desc = await handle.describe()
    assert desc.close_time is not None
    return desc.close_time.timestamp()


async def trivial_signal(client: Client, wid: str) -> float:
    sent_at = time.time()
    await client.get_workflow_handle(wid).signal(BenchTrivial.finish)
    return sent_at


async def closes(
    client: Client,
    ids: Sequence[str],
    send: Callable[[Client, str], Awaitable[float]],
    closed: Callable[[Client, str], Awaitable[float]],
    cpu: Callable[[], float],
) -> dict[str, float]:
    """The first ``ONE_AT_A_TIME`` of ``ids`` signalled one at a time, the rest at once."""
    solo, burst = ids[:ONE_AT_A_TIME], ids[ONE_AT_A_TIME:]
    idle = []
    for wid in solo:
        sent_at = await send(client, wid)
        idle.append(await closed(client, wid) - sent_at)

    cpu_before = cpu()
    gate = asyncio.Semaphore(DEFAULT_CONCURRENCY)

    async def one(wid: str) -> tuple[float, float]:
        async with gate:
            sent_at = await send(client, wid)
        return sent_at, await closed(client, wid)

    began = time.time()
    times = await asyncio.gather(*(one(wid) for wid in burst))
    latencies = [done - sent for sent, done in times]
    wall = max(done for _, done in times) - began
    return {
        "idle_p50": round(percentile(idle, 50), 3),
        "idle_max": round(max(idle), 3),
        "p50": round(percentile(latencies, 50), 3),
        "p95": round(percentile(latencies, 95), 3),
        "max": round(max(latencies), 3),
        "wall": round(wall, 2),
        "rate": round(len(burst) / wall, 1),
        "cpu_ms": round((cpu() - cpu_before) / len(burst) * 1000, 2),
        "closed": len(idle) + len(times),
    }


async def main(cases: int | None = None, shared: Stack | None = None) -> Figures:
    """On ``shared`` (a stack with enough cases and trivial workflows already waiting, as
    ``bench.day1`` leaves it), or else on a stack of its own with them started for it."""
    cases = cases or scaled(CASES)
    needed = cases + ONE_AT_A_TIME
    async with own_or_given(shared, "finish") as stack:
        client = stack.client
        if len(stack.waiting) >= needed:
            ids = stack.waiting[:needed]
        else:
            ids, _ = await stack.start_cases(synthetic_rows(needed, stack.settings.directory_path))
            await stack.wait_until_waiting(ids, len(ids))
        if len(stack.trivial_waiting) >= needed:
            trivial_ids = stack.trivial_waiting[:needed]
        else:
            trivial_ids, _ = await stack.start_trivial(needed, "trivial-finish")
            await stack.wait_until_trivial_waiting(trivial_ids, needed)
        carried = (await client.count_workflows("ExecutionStatus = 'Running'")).count

        c = await closes(client, ids, signal, closed_at, stack.case_worker.cpu_seconds)
        t = await closes(
            client, trivial_ids, trivial_signal, trivial_closed_at, stack.trivial_worker.cpu_seconds
        )

        done, done_trivial = set(ids), set(trivial_ids)
        stack.waiting = [cid for cid in stack.waiting if cid not in done]
        stack.trivial_waiting = [wid for wid in stack.trivial_waiting if wid not in done_trivial]

    figures: Figures = {
        "open runs on the server beforehand (cases and trivial)": carried,
        "one at a time (idle worker), runs": ONE_AT_A_TIME,
        "one at a time, p50 s": Beside(c["idle_p50"], t["idle_p50"]),
        "one at a time, max s": Beside(c["idle_max"], t["idle_max"]),
        "burst, runs signalled at once": cases,
        "burst, signals in flight at most": DEFAULT_CONCURRENCY,
        "burst, p50 s": Beside(c["p50"], t["p50"]),
        "burst, p95 s": Beside(c["p95"], t["p95"]),
        "burst, max s": Beside(c["max"], t["max"]),
        "burst, wall time first signal to last close, s": Beside(c["wall"], t["wall"]),
        "burst, closed per second": Beside(c["rate"], t["rate"]),
        "worker CPU per close, ms": Beside(c["cpu_ms"], t["cpu_ms"]),
        "cases closed as parent_contact (checked)": c["closed"],
    }
    return print_figures(figures)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else None))
