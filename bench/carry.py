"""Carrying: what 10,000 open cases cost the worker that holds them.

    python -m bench.carry [CASES]        or as part of ``make bench``

Why: a case spends almost all of its life waiting on a timer (the next school day, the letter
deadline, the LA's decision), so the question for sizing is not throughput but what a waiting
case costs. On the server it is a row and a timer. On the worker it is memory: the SDK keeps a
case's workflow object (its own sandboxed copy of ``workflows/case.py``, the case input, the
chronology) in its sticky cache between tasks, so the next task needs no replay. The cache is
bounded by ``WHEREABOUTS_MAX_CACHED_WORKFLOWS`` (``whereabouts/settings.py``); past the bound
the least recently used case is evicted, costs no memory, and is replayed from its history on
its next step.

How: a local dev server and a real ``python worker.py`` process (``bench/stack.py``), on the real
school calendar so every case, started today, waits for Day 2. 20 warm-up cases first (templates,
the mail client and the workflow module are loaded once per worker, not per case), then the rest
through ``whereabouts.feed.feed()``; when every case has sent its Day 1 prompt and sits on its
first timer, the worker's resident memory (``/proc/<pid>/status``) is read again. With the
default bound of 10,000 the cache ends exactly full. Prints figures; asserts nothing about time.
"""

from __future__ import annotations

import asyncio
import sys
import time

from bench import print_figures
from bench.stack import Stack, mb, own_or_given, synthetic_rows

CASES = 10_000
WARM_UP = 20
SHARE_STACK = True  # make bench hands this stack on to bench.finish with the cases still open


async def main(cases: int = CASES, shared: Stack | None = None) -> dict[str, float | int | str]:
    """``shared``, if given, must be a fresh stack (no cases yet); it is left running with them."""
    rows = synthetic_rows(cases)
    async with own_or_given(shared, "carry") as stack:
        cold = stack.rss()
        warm_ids, _ = await stack.start_cases(rows[:WARM_UP])
        await stack.wait_until_waiting(warm_ids, WARM_UP, sample=WARM_UP)
        baseline = stack.rss()
        cached_before = await stack.metric("temporal_sticky_cache_size")
        cpu_before = stack.cpu_seconds()

        began = time.monotonic()
        ids, start_s = await stack.start_cases(rows[WARM_UP:])
        await stack.wait_until_waiting([*warm_ids, *ids], cases)
        through_s = time.monotonic() - began

        after = stack.rss()
        cached = await stack.metric("temporal_sticky_cache_size")
        evicted = await stack.metric("temporal_sticky_cache_total_forced_eviction")
        cpu = stack.cpu_seconds() - cpu_before
        running = (await stack.client.count_workflows("ExecutionStatus = 'Running'")).count
        stack.waiting = [*warm_ids, *ids]
        added = len(ids)
        grown = cached - cached_before  # cases the worker took into its cache meanwhile
        per_cached = round((after - baseline) / grown / 1024, 1) if grown > 0 else "n/a"
        figures: dict[str, float | int | str] = {
            "open cases (waiting on a timer)": running,
            "sticky cache bound (max_cached_workflows)": stack.max_cached_workflows,
            "cases in the worker's cache": int(cached),
            "cache evictions": int(evicted),
            "worker RSS, fresh (cache empty), MB": mb(cold),
            f"worker RSS, {int(cached_before)} cases cached (baseline), MB": mb(baseline),
            f"worker RSS, {int(cached)} cases cached, MB": mb(after),
            "worker peak RSS, MB": mb(stack.peak_rss()),
            "memory per cached case, kB": per_cached,
            f"memory per case, (after - fresh) / {cases}, kB": round((after - cold) / cases / 1024, 1),
            "worker CPU per case to its first timer, ms": round(cpu / added * 1000, 1),
            f"feed() start of {added} cases, s": round(start_s, 1),
            f"{added} cases started and on their first timer, s": round(through_s, 1),
        }
    return print_figures(figures)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else CASES))
