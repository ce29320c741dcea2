"""A throwaway local stack for the benchmarks that need a real worker: the Temporal dev server
(in memory, the five search attributes), an SMTP catcher, and ``python worker.py`` as its own
process, started as production starts it (settings from ``WHEREABOUTS_*``, payloads encrypted).

Why a separate process: the figures that matter for sizing (the worker's resident memory per
open case, how quickly it closes cases) are only honest for a worker that is alone in its
process, with nothing of the benchmark's own client, feed or mail server counted against it.

Cases come from ``bench.start_feed.synthetic_feed`` (fictional pupils) through
``whereabouts.feed.feed()``, the one door production uses. Nothing here asserts a time.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import dataclasses
import functools
import os
import random
import shutil
import signal
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from bench.start_feed import synthetic_feed
from tests.factories import last_school_day
from whereabouts.codec import EncryptionCodec, new_key_spec, parse_keys
from whereabouts.devstack import mailcatcher
from whereabouts.directory import load_directory
from whereabouts.feed import COLUMNS, Feed, FeedRow, feed, read_feed
from whereabouts.search import ALL_KEYS
from whereabouts.settings import Settings
from whereabouts.times import LONDON

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DIRECTORY = ROOT / "tests" / "data" / "schools.toml"
MB = 1024 * 1024


class CountingCatcher(mailcatcher.MailCatcher):
    """Accepts every message and only counts it: 10,000 parsed e-mails kept in the benchmark's
    own process would compete with the worker for the machine's two CPUs."""

    count: int = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.count += 1
        return "250 Message accepted for delivery"


@dataclass
class Stack:
    env: WorkflowEnvironment
    settings: Settings  # what the benchmark's client uses: the worker's task queue
    worker: asyncio.subprocess.Process
    catcher: CountingCatcher
    metrics_port: int
    var_dir: Path
    worker_env: dict[str, str]
    # Cases known to sit on their first timer, for a later benchmark on the same stack.
    waiting: list[str] = dataclasses.field(default_factory=list)

    @property
    def max_cached_workflows(self) -> int:
        """The worker's sticky cache bound: the most cases it keeps in memory between tasks."""
        default = Settings.model_fields["max_cached_workflows"].default
        return int(self.worker_env.get("WHEREABOUTS_MAX_CACHED_WORKFLOWS", default))

    @property
    def client(self) -> Client:
        return self.env.client

    # --- the worker process ---------------------------------------------------------------
    def rss(self) -> int:
        """The worker's resident set size now, in bytes (``VmRSS``)."""
        return _proc_status(self.worker.pid)["VmRSS"]

    def peak_rss(self) -> int:
        """The worker's highest resident set size so far (``VmHWM``)."""
        return _proc_status(self.worker.pid)["VmHWM"]

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.worker.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    async def metric(self, name: str) -> float:
        """Sum of one Prometheus metric over its label sets, from the worker's endpoint."""
        text = await asyncio.to_thread(_fetch, f"http://127.0.0.1:{self.metrics_port}/metrics")
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name) and line[len(name) : len(name) + 1] in ("{", " "):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def check_worker(self) -> None:
        if self.worker.returncode is not None:
            log = (self.var_dir / "worker.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the worker exited with code {self.worker.returncode}:\n{log}")

    # --- cases ----------------------------------------------------------------------------
    async def start_cases(self, rows: Sequence[FeedRow]) -> tuple[list[str], float]:
        """Open a case per row through ``feed()``; their IDs and the seconds it took."""
        report = await feed(
            self.client, Feed(format="csv", columns=list(COLUMNS), rows=list(rows)), self.settings
        )
        if len(report.started) != len(rows):
            raise RuntimeError(f"feed started {len(report.started)} of {len(rows)}: {report.counts()}")
        return [r.case_id for r in report.started], report.seconds

    async def wait_until_waiting(
        self, case_ids: Sequence[str], mails_expected: int, *, sample: int = 100, timeout: float = 900
    ) -> float:
        """Until every case has done its Day 1 step and sits on its first timer. Seconds waited.

        Each case sends exactly one e-mail before that timer (the Day 1 call prompt to the
        office), so: the catcher has all of them, the worker has gone quiet, and a random
        sample of the cases each has a timer as its last event, with no task or activity
        pending.
        """
        began = time.monotonic()
        last_report = began
        while True:
            self.check_worker()
            if time.monotonic() - began > timeout:
                raise RuntimeError(
                    f"cases not waiting after {timeout:.0f} s: {self.catcher.count} of "
                    f"{mails_expected} Day 1 prompts sent"
                )
            if time.monotonic() - last_report > 20:
                last_report = time.monotonic()
                print(
                    f"  ... {self.catcher.count} of {mails_expected} cases through Day 1, "
                    f"worker RSS {mb(self.rss()):.0f} MB",
                    flush=True,
                )
            if self.catcher.count < mails_expected:
                await asyncio.sleep(0.5)
                continue
            if not await self._idle():
                continue
            picked = random.sample(list(case_ids), min(sample, len(case_ids)))
            if all(await asyncio.gather(*(self._on_timer(cid) for cid in picked))):
                return time.monotonic() - began

    async def _idle(self, window: float = 1.5, busy_fraction: float = 0.05) -> bool:
        before = self.cpu_seconds()
        await asyncio.sleep(window)
        return self.cpu_seconds() - before < window * busy_fraction

    async def _on_timer(self, case_id: str) -> bool:
        handle = self.client.get_workflow_handle(case_id)
        desc = await handle.describe()
        if desc.raw_description.pending_activities or desc.raw_description.HasField("pending_workflow_task"):
            return False
        history = await handle.fetch_history()
        return history.events[-1].event_type == EventType.EVENT_TYPE_TIMER_STARTED


def synthetic_rows(count: int) -> list[FeedRow]:
    """``count`` checked feed rows, every pupil different, absent (code N) today.

    Today (London; the last school day before it on a weekend or holiday) on the real school
    calendar: Day 2 is the next school day at 09:00, always in the future, so every case waits on
    its timer instead of walking on.
    """
    on = last_school_day(today_london())  # the feed refuses an N mark on a day the school is shut
    checked = read_feed(synthetic_feed(count, on), directory=load_directory(DIRECTORY))
    if checked.rejects:
        raise RuntimeError(f"synthetic feed rejected: {checked.rejects[:3]}")
    return checked.rows


def own_or_given(stack: Stack | None, label: str) -> contextlib.AbstractAsyncContextManager[Stack]:
    """The stack a benchmark was handed (left running for the next one), else its own."""
    return contextlib.nullcontext(stack) if stack is not None else local_stack(label)


@contextlib.asynccontextmanager
async def local_stack(label: str, *, max_cached_workflows: int | None = None) -> AsyncIterator[Stack]:
    """Dev server, SMTP catcher and a worker process; everything stopped and removed after."""
    key_spec = new_key_spec("bench")
    codec = EncryptionCodec(parse_keys(key_spec))
    converter = dataclasses.replace(pydantic_data_converter, payload_codec=codec)
    var_dir = Path(tempfile.mkdtemp(prefix=f"bench-{label}-"))
    settings = Settings(
        directory_path=DIRECTORY, var_dir=var_dir, task_queue=f"bench-{label}-{uuid.uuid4().hex[:6]}"
    )
    catcher = CountingCatcher()
    smtp_port = mailcatcher.free_port()
    controller = mailcatcher.start(catcher, port=smtp_port)
    env: WorkflowEnvironment | None = None
    worker: asyncio.subprocess.Process | None = None
    try:
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=str(BIN / "temporal"),
            data_converter=converter,
            search_attributes=list(ALL_KEYS),
            dev_server_log_level="error",
            ui=False,
        )
        metrics_port = mailcatcher.free_port()
        worker_env = {k: v for k, v in os.environ.items() if not k.startswith("WHEREABOUTS_")}
        worker_env.pop("PYTHONDONTWRITEBYTECODE", None)
        worker_env |= {
            # Compiled modules as the production image has them (its build runs compileall):
            # without them the workflow sandbox compiles workflows/case.py from source for every
            # case it loads. Written outside the checkout.
            "PYTHONPYCACHEPREFIX": str(_pycache()),
            "PYTHONUNBUFFERED": "1",
            "WHEREABOUTS_TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
            "WHEREABOUTS_TASK_QUEUE": settings.task_queue,
            "WHEREABOUTS_VAR_DIR": str(var_dir),
            "WHEREABOUTS_DIRECTORY_PATH": str(DIRECTORY),
            "WHEREABOUTS_SMTP_PORT": str(smtp_port),
            "WHEREABOUTS_CODEC_KEYS": key_spec,
            "WHEREABOUTS_METRICS_PORT": str(metrics_port),
        }
        if max_cached_workflows is not None:
            worker_env["WHEREABOUTS_MAX_CACHED_WORKFLOWS"] = str(max_cached_workflows)
        with (var_dir / "worker.log").open("wb") as log:
            worker = await asyncio.create_subprocess_exec(
                sys.executable,
                str(ROOT / "worker.py"),
                cwd=ROOT,
                env=worker_env,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )
        stack = Stack(env, settings, worker, catcher, metrics_port, var_dir, worker_env)
        await _until_started(stack)
        yield stack
    finally:
        if worker is not None:
            await _stop(worker)
        if env is not None:
            await env.shutdown()
        controller.stop()
        shutil.rmtree(var_dir, ignore_errors=True)


async def _until_started(stack: Stack, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    log = stack.var_dir / "worker.log"
    while time.monotonic() < deadline:
        stack.check_worker()
        if b"worker started" in log.read_bytes():
            with contextlib.suppress(OSError):
                await stack.metric("temporal_")
                await asyncio.sleep(1.0)  # let its pollers reach the server
                return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"the worker did not start within {timeout:.0f} s")


@functools.cache
def _pycache() -> Path:
    path = Path(tempfile.mkdtemp(prefix="bench-pycache-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


async def _stop(proc: asyncio.subprocess.Process) -> None:
    """SIGINT (the worker finishes what it holds), then SIGKILL; only this process, by its id."""
    if proc.returncode is None:
        proc.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(proc.wait(), timeout=20)
        except TimeoutError:
            proc.kill()
            await proc.wait()


def _proc_status(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if value.strip().endswith(" kB"):
            out[key] = int(value.split()[0]) * 1024
    return out


def _fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.read().decode()


def today_london() -> date:
    return datetime.now(LONDON).date()


def mb(n: float) -> float:
    return round(n / MB, 1)
