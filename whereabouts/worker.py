"""The Whereabouts worker: runs case workflows and their activities on the task queue.

Scaling out is running more of these against the same task queue; Temporal shares the work.
The school directory is checked before connecting, so a broken directory stops the worker with
the file, the key and the problem, instead of failing the first case that needs it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from whereabouts import metrics
from whereabouts.activities.deps import Deps
from whereabouts.activities.registry import all_activities
from whereabouts.activities.retries import ReportRetries
from whereabouts.codec import CodecKeyError
from whereabouts.connect import TemporalUnreachable, codec_for, connect
from whereabouts.directory import DirectoryError
from whereabouts.directory_checks import terms_running_out
from whereabouts.pseudonym import PseudonymKeyError, pseudonyms_for
from whereabouts.sandbox import workflow_runner
from whereabouts.settings import Settings, get_settings, plain_smtp_refused
from whereabouts.versioning import build_id, deployment_config, take_over_if_due
from whereabouts.workflows.case import CmeCaseWorkflow
from whereabouts.workflows.feed_import import FeedImportWorkflow

log = logging.getLogger("whereabouts.worker")


def build_worker(
    client: Client,
    settings: Settings,
    deps: Deps,
    task_queue: str | None = None,
    workflows: Sequence[type] | None = None,
) -> Worker:
    """The worker; ``workflows``: other definitions of the same workflows (a test's next release)."""
    return Worker(
        client,
        task_queue=task_queue or settings.task_queue,
        workflows=list(workflows or [CmeCaseWorkflow, FeedImportWorkflow]),
        workflow_runner=workflow_runner(),
        activities=all_activities(deps),
        interceptors=[ReportRetries()],
        max_concurrent_activities=settings.max_concurrent_activities,
        max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
        max_cached_workflows=settings.max_cached_workflows,
        # A mail activity heartbeats the Message-IDs it has sent; by default the SDK holds
        # heartbeats back for up to 80% of the heartbeat timeout (48 s), and a worker killed in
        # that time would send those messages again. Each heartbeat is one e-mail: cheap to send.
        max_heartbeat_throttle_interval=timedelta(milliseconds=250),
        # Which release this worker is (Worker Deployment versioning, whereabouts/versioning.py).
        deployment_config=deployment_config(settings),
    )


def _said(task: asyncio.Task[str]) -> None:
    if task.cancelled():
        return
    if task.exception() is not None:
        log.error("release: could not check the current version: %s", task.exception())
    else:
        log.info("release: %s", task.result())


def startup_refusal(settings: Settings) -> str | None:
    """Why this worker must not start, in one line, or None. Checked before anything else: a
    worker without a usable key would read and write children's data in clear (unless told it
    is a throwaway demo), and a production worker would send it over plain SMTP."""
    problem = plain_smtp_refused(settings)
    if problem:
        return problem
    try:
        codec = codec_for(settings)
    except CodecKeyError as exc:
        return str(exc)
    try:
        pseudonyms_for(settings)  # the scheduled feed import names cases with it
    except PseudonymKeyError as exc:
        return str(exc)
    if codec is None:
        log.warning(
            "WHEREABOUTS_DEMO_UNENCRYPTED=1: no encryption key, payloads go to Temporal in clear "
            "(a throwaway demo only: never a real child)"
        )
    return None


async def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    refusal = startup_refusal(settings)
    if refusal:
        print(f"worker: cannot start: {refusal}", file=sys.stderr)
        return 2
    try:
        deps = Deps.from_settings(settings)
    except DirectoryError as exc:
        print(f"worker: cannot start: {exc}", file=sys.stderr)
        return 2
    for warning in terms_running_out(deps.directory):  # names schools, never a pupil
        log.warning("school directory: %s", warning)
    try:
        # Prometheus (SDK metrics and whereabouts_* counters) when WHEREABOUTS_METRICS_PORT is set.
        runtime = metrics.runtime_for(settings)
    except metrics.MetricsUnavailable as exc:
        print(f"worker: cannot start: {exc}", file=sys.stderr)
        return 2
    try:
        client = await connect(settings, runtime=runtime, signs_as="worker")
    except TemporalUnreachable as exc:
        print(f"worker: {exc}", file=sys.stderr)
        return 3
    except CodecKeyError as exc:
        print(f"worker: cannot start: {exc}", file=sys.stderr)
        return 2
    worker = build_worker(client, settings, deps)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info(
        "worker started: namespace=%s task_queue=%s schools=%d",
        settings.temporal_namespace,
        settings.task_queue,
        len(deps.directory.schools),
    )
    if runtime is not None:
        log.info("metrics: http://0.0.0.0:%d/metrics", settings.metrics_port)
    async with worker:
        if settings.worker_versioning:
            log.info("release: deployment %s, build %s", settings.deployment_name, build_id(settings))
            promoted = asyncio.create_task(take_over_if_due(client, settings))
            promoted.add_done_callback(_said)
        await stop.wait()
        log.info("stopping: finishing the tasks in hand")
    log.info("worker stopped")
    return 0


def console_main() -> None:
    """The ``whereabouts-worker`` command and ``python worker.py``.

    Leaves with ``os._exit`` once everything is flushed: the SDK's native threads can abort the
    interpreter's own shutdown ("PyGILState_Release ... finalizing", exit -6), which would turn a
    clean stop or a one-line refusal into a crash report."""
    code = asyncio.run(main())
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    console_main()
