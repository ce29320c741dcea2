"""The baseline the benchmarks put a case beside: a trivial workflow in the same sandbox
(``whereabouts.sandbox.workflow_runner``), on a worker process of its own, set up as
``worker.py`` sets itself up (same settings, client, codec and interceptors, same cache bound and
task slots), on a task queue of its own.

    python -m bench.trivial        (started by bench/stack.py; settings from WHEREABOUTS_*)

``BenchTrivial`` does the least a case does: it starts, waits on a timer (a day, as a case waits
for Day 2), and completes as soon as it is signalled. It runs no activity and sends no mail.
Its module is tiny, and its compiled code is shared between runs as the case's is, so the
baseline is the sandbox's own floor.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from datetime import timedelta

from temporalio import workflow


@workflow.defn(name="BenchTrivial")
class BenchTrivial:
    def __init__(self) -> None:
        self.done = False

    @workflow.run
    async def run(self, x: str) -> str:
        try:
            await workflow.wait_condition(lambda: self.done, timeout=timedelta(days=1))
        except TimeoutError:
            return "timed out"
        return x

    @workflow.signal
    def finish(self) -> None:
        self.done = True


async def serve() -> int:
    from temporalio.worker import Worker

    from whereabouts import metrics
    from whereabouts.connect import connect
    from whereabouts.sandbox import share_compiled_code, workflow_runner
    from whereabouts.settings import get_settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    client = await connect(settings, runtime=metrics.runtime_for(settings), signs_as="worker")
    share_compiled_code("bench")
    worker = Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[BenchTrivial],
        workflow_runner=workflow_runner(),
        max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
        max_cached_workflows=settings.max_cached_workflows,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    logging.getLogger("bench.trivial").info("worker started: task_queue=%s", settings.task_queue)
    async with worker:
        await stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(serve()))
