"""Carrying: what open cases cost the worker that holds them, beside as many trivial workflows
waiting on a timer in the same sandbox.

    python -m bench.carry [CASES]        or as part of ``make bench``

Why: a case spends almost all of its life waiting on a timer (the next school day, the letter
deadline, the LA's decision), so the question for sizing is not throughput but what a waiting
case costs. On the server it is a row and a timer. On the worker it is memory: the SDK keeps a
case's workflow object (its own sandboxed copy of the workflow modules, the case input, the
chronology) in its sticky cache between tasks, so the next task needs no replay. The cache is
bounded by ``WHEREABOUTS_MAX_CACHED_WORKFLOWS`` (``whereabouts/settings.py``); past the bound
the least recently used case is evicted, costs no memory, and is replayed from its history on
its next step. ``whereabouts/sandbox.py`` says what the sandbox shares between cases.

How: the cases and trivial workflows ``bench.day1`` took to their first timer (under
``make bench``, on the stack it leaves; run alone, this runs it first). Each worker's resident
memory (``/proc/<pid>/status``) fresh, after its 20 warm-up runs (the baseline) and with every
run on its timer; per cached run is the growth over the baseline divided by the runs the worker
took into its cache meanwhile (every one: the bound, 10,000 by default, is never reached).
Prints figures; asserts nothing about time.
"""

from __future__ import annotations

import asyncio
import sys

from bench import Beside, Figures, print_figures, scaled
from bench.day1 import CASES, WARM_UP, morning
from bench.stack import Stack, mb, own_or_given

SHARE_STACK = True  # under make bench: the stack bench.day1 leaves, handed on to bench.finish


async def main(cases: int | None = None, shared: Stack | None = None) -> Figures:
    async with own_or_given(shared, "carry") as stack:
        morning_figures: Figures = {}
        if "case_after" not in stack.marks:  # run alone: the morning is run here, and reported
            morning_figures = await morning(stack, cases or scaled(CASES, least=2 * WARM_UP))
        m = stack.marks

        async def running(queue: str) -> int:
            query = f"TaskQueue = '{queue}' AND ExecutionStatus = 'Running'"
            return (await stack.client.count_workflows(query)).count

        def per_cached(kind: str) -> float:
            grown = m[f"{kind}_cached"] - m[f"{kind}_cached_base"]
            return round((m[f"{kind}_after"] - m[f"{kind}_base"]) / grown / 1024, 1) if grown > 0 else 0.0

        case_kb, trivial_kb = per_cached("case"), per_cached("trivial")
        cases_n = int(m["cases"])
        figures: Figures = {
            **morning_figures,
            "open runs waiting on a timer": Beside(
                await running(stack.settings.task_queue), await running(stack.trivial_queue)
            ),
            "sticky cache bound (max_cached_workflows), each worker": stack.max_cached_workflows,
            "runs in the worker's cache": Beside(int(m["case_cached"]), int(m["trivial_cached"])),
            "cache evictions": Beside(int(m["case_evicted"]), int(m["trivial_evicted"])),
            "worker RSS, fresh (cache empty), MB": Beside(mb(m["case_fresh"]), mb(m["trivial_fresh"])),
            f"worker RSS, {WARM_UP} cached (baseline), MB": Beside(mb(m["case_base"]), mb(m["trivial_base"])),
            f"worker RSS, {cases_n} cached, MB": Beside(mb(m["case_after"]), mb(m["trivial_after"])),
            "worker peak RSS, MB": Beside(
                mb(stack.case_worker.peak_rss()), mb(stack.trivial_worker.peak_rss())
            ),
            "memory per cached open case, kB": Beside(case_kb, trivial_kb),
            f"memory per run, (after - fresh) / {cases_n}, kB": Beside(
                round((m["case_after"] - m["case_fresh"]) / cases_n / 1024, 1),
                round((m["trivial_after"] - m["trivial_fresh"]) / cases_n / 1024, 1),
            ),
            "a worker carrying 10,000 cached cases, MB (baseline + 10,000 x per case)": Beside(
                round(mb(m["case_base"]) + case_kb * 10_000 / 1024),
                round(mb(m["trivial_base"]) + trivial_kb * 10_000 / 1024),
            ),
        }
    return print_figures(figures)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else None))
