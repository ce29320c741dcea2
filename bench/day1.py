"""Day 1 morning: new cases (1,500 under make bench; 10,000 given the count) through their first
steps with one worker, beside as many trivial workflows on a worker of their own.

    python -m bench.day1 [CASES]        or as part of ``make bench``

Why: the morning feed opens every case at once, and each must reach the office before the
register closes: the figure for sizing is how many cases a worker takes through Day 1 a second,
and what each costs it in CPU.

How: a local dev server, an SMTP server (aiosmtpd) and two worker processes (``bench/stack.py``):
``python worker.py`` for the cases and ``python -m bench.trivial`` for the baseline, a workflow
that starts and waits on a timer, in the same sandbox. The trivial workflows go first (the case
worker idle meanwhile), then the cases, each after 20 warm-up runs (templates, the mail client
and the workflow module are loaded once per worker, not per case): started as ``feed()`` starts
them (the trivial ones with the same options and the same bound on requests in flight), then
waited for until every one sits on its first timer. A case's first steps are its calendar, its
Day 1 prompt e-mailed to the office through the real SMTP server (counted there), and its
search attributes; then it waits for Day 2. On the real school calendar, so Day 2 is always in
the future. Under ``make bench`` the stack is handed on, every case and trivial workflow still
waiting, to ``bench.carry`` (which reports the memory) and ``bench.finish``. Prints figures;
asserts nothing about time.
"""

from __future__ import annotations

import asyncio
import sys
import time

from bench import Beside, Figures, print_figures, scaled
from bench.stack import Stack, own_or_given, synthetic_rows

# make bench takes 1,500 of each: 10,000 cases and 10,000 trivial workflows took the 2-CPU
# machine about 16 minutes (2026-12-03), and every figure here is per case or per second. The
# issue's full morning: python -m bench.day1 10000 (or bench.carry 10000, with its memory).
CASES = 1_500
WARM_UP = 20
SHARE_STACK = True  # make bench hands the stack, cases waiting, to bench.carry and bench.finish


async def morning(stack: Stack, cases: int) -> Figures:
    """Take ``cases`` trivial workflows and then ``cases`` cases to their first timer on
    ``stack`` (fresh: nothing on it yet). Leaves what ``bench.carry`` reports in ``stack.marks``."""
    rows = synthetic_rows(cases, stack.settings.directory_path)
    marks = stack.marks

    # The baseline: trivial workflows, on their own worker.
    tw = stack.trivial_worker
    marks["trivial_fresh"] = tw.rss()
    warm, _ = await stack.start_trivial(WARM_UP, "trivial-warm")
    await stack.wait_until_trivial_waiting(warm, WARM_UP, sample=WARM_UP)
    marks["trivial_base"] = tw.rss()
    marks["trivial_cached_base"] = await tw.metric("temporal_sticky_cache_size")
    cpu_before = tw.cpu_seconds()
    began = time.monotonic()
    ids, trivial_start_s = await stack.start_trivial(cases - WARM_UP, "trivial")
    await stack.wait_until_trivial_waiting([*warm, *ids], cases)
    trivial_through_s = time.monotonic() - began
    trivial_cpu = tw.cpu_seconds() - cpu_before
    marks["trivial_after"] = tw.rss()
    marks["trivial_cached"] = await tw.metric("temporal_sticky_cache_size")
    marks["trivial_evicted"] = await tw.metric("temporal_sticky_cache_total_forced_eviction")
    stack.trivial_waiting = [*warm, *ids]
    print(f"  ... {cases} trivial workflows on their timer in {trivial_through_s:.0f} s", flush=True)

    # The cases, through feed(), on the case worker.
    cw = stack.case_worker
    marks["case_fresh"] = cw.rss()
    warm_ids, _ = await stack.start_cases(rows[:WARM_UP])
    await stack.wait_until_waiting(warm_ids, WARM_UP, sample=WARM_UP)
    marks["case_base"] = cw.rss()
    marks["case_cached_base"] = await cw.metric("temporal_sticky_cache_size")
    cpu_before = cw.cpu_seconds()
    began = time.monotonic()
    case_ids, case_start_s = await stack.start_cases(rows[WARM_UP:])
    await stack.wait_until_waiting([*warm_ids, *case_ids], cases)
    case_through_s = time.monotonic() - began
    case_cpu = cw.cpu_seconds() - cpu_before
    marks["case_after"] = cw.rss()
    marks["case_cached"] = await cw.metric("temporal_sticky_cache_size")
    marks["case_evicted"] = await cw.metric("temporal_sticky_cache_total_forced_eviction")
    marks["cases"] = cases
    stack.waiting = [*warm_ids, *case_ids]

    added = cases - WARM_UP
    return {
        "new cases (and trivial workflows), each after 20 warm-up": added,
        "Day 1 prompts the SMTP server accepted": stack.catcher.count,
        "started (feed() / trivial as feed starts), s": Beside(
            round(case_start_s, 1), round(trivial_start_s, 1)
        ),
        "started and on their first timer, s": Beside(round(case_through_s, 1), round(trivial_through_s, 1)),
        "through their first steps, per second": Beside(
            round(added / case_through_s, 1), round(added / trivial_through_s, 1)
        ),
        "worker CPU per case to its first timer, ms": Beside(
            round(case_cpu / added * 1000, 2), round(trivial_cpu / added * 1000, 2)
        ),
    }


async def main(cases: int | None = None, shared: Stack | None = None) -> Figures:
    """``shared``, if given, must be a fresh stack (no cases yet); it is left running with them."""
    cases = cases or scaled(CASES, least=2 * WARM_UP)
    async with own_or_given(shared, "day1") as stack:
        figures = await morning(stack, cases)
    return print_figures(figures)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else None))
