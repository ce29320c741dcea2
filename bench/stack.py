"""A throwaway local stack for the benchmarks that need a real worker: the Temporal dev server
(in memory, the search attributes), an SMTP catcher, and ``python worker.py`` as its own
process, started as production starts it (settings from ``WHEREABOUTS_*``, payloads encrypted),
with the baseline's worker beside it: ``python -m bench.trivial``, the same settings and
sandbox, a trivial workflow, on a task queue of its own.

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
from datetime import date, datetime, timedelta
from datetime import time as time_of_day
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.testing import WorkflowEnvironment

from bench.start_feed import synthetic_feed
from bench.trivial import BenchTrivial
from tests.factories import last_school_day
from tests.signer import TestSigner
from whereabouts.codec import EncryptionCodec, new_key_spec, parse_keys
from whereabouts.converter import payload_data_converter
from whereabouts.devstack import mailcatcher
from whereabouts.directory import load_directory
from whereabouts.feed import COLUMNS, DEFAULT_CONCURRENCY, Feed, FeedRow, feed, read_feed
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
class WorkerProcess:
    """A worker running as its own process: ``python worker.py`` for cases, or
    ``python -m bench.trivial`` for the baseline."""

    proc: asyncio.subprocess.Process
    metrics_port: int
    log_path: Path

    def rss(self) -> int:
        """Its resident set size now, in bytes (``VmRSS``)."""
        return _proc_status(self.proc.pid)["VmRSS"]

    def peak_rss(self) -> int:
        """Its highest resident set size so far (``VmHWM``)."""
        return _proc_status(self.proc.pid)["VmHWM"]

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    async def metric(self, name: str) -> float:
        """Sum of one Prometheus metric over its label sets, from the worker's endpoint."""
        text = await asyncio.to_thread(_fetch, f"http://127.0.0.1:{self.metrics_port}/metrics")
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name) and line[len(name) : len(name) + 1] in ("{", " "):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def check(self) -> None:
        if self.proc.returncode is not None:
            log = self.log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{self.log_path.stem} exited with code {self.proc.returncode}:\n{log}")

    async def idle(self, window: float = 1.5, busy_fraction: float = 0.05) -> bool:
        before = self.cpu_seconds()
        await asyncio.sleep(window)
        return self.cpu_seconds() - before < window * busy_fraction


@dataclass
class Stack:
    env: WorkflowEnvironment
    settings: Settings  # what the benchmark's client uses: the case worker's task queue
    case_worker: WorkerProcess
    trivial_worker: WorkerProcess  # the baseline: bench.trivial, on trivial_queue
    trivial_queue: str
    catcher: CountingCatcher
    var_dir: Path
    worker_env: dict[str, str]
    # Cases and trivial workflows known to sit on their first timer, for a later benchmark.
    waiting: list[str] = dataclasses.field(default_factory=list)
    trivial_waiting: list[str] = dataclasses.field(default_factory=list)
    # Figures one benchmark measured for a later one on the same stack (bench.day1 for carry).
    marks: dict[str, float] = dataclasses.field(default_factory=dict)

    @property
    def max_cached_workflows(self) -> int:
        """The worker's sticky cache bound: the most cases it keeps in memory between tasks."""
        default = Settings.model_fields["max_cached_workflows"].default
        return int(self.worker_env.get("WHEREABOUTS_MAX_CACHED_WORKFLOWS", default))

    @property
    def client(self) -> Client:
        return self.env.client

    # --- the case worker process (what the benchmarks measured before they had a baseline) ---
    def rss(self) -> int:
        return self.case_worker.rss()

    def peak_rss(self) -> int:
        return self.case_worker.peak_rss()

    def cpu_seconds(self) -> float:
        return self.case_worker.cpu_seconds()

    async def metric(self, name: str) -> float:
        return await self.case_worker.metric(name)

    def check_worker(self) -> None:
        self.case_worker.check()
        self.trivial_worker.check()

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
        self, case_ids: Sequence[str], mails_expected: int, *, sample: int = 100, timeout: float | None = None
    ) -> float:
        """Until every case has done its Day 1 step and sits on its first timer. Seconds waited.

        Each case sends exactly one e-mail before that timer (the Day 1 call prompt to the
        office), so: the catcher has all of them, the worker has gone quiet, and a random
        sample of the cases each has a timer as its last event, with no task or activity
        pending.
        """
        timeout = timeout or _patience(len(case_ids))
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

    async def _idle(self) -> bool:
        return await self.case_worker.idle()

    async def start_trivial(self, count: int, prefix: str) -> tuple[list[str], float]:
        """Start ``count`` trivial workflows as ``feed()`` starts cases: the same options, the same
        bound on requests in flight, the same client. Their IDs and the seconds it took."""
        gate = asyncio.Semaphore(DEFAULT_CONCURRENCY)
        ids = [f"{prefix}-{uuid.uuid4().hex[:8]}-{i}" for i in range(count)]

        async def one(wid: str) -> None:
            async with gate:
                await self.client.start_workflow(
                    BenchTrivial.run,
                    "x",
                    id=wid,
                    task_queue=self.trivial_queue,
                    id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                    id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                    static_summary="CME case: school URN 990201",
                    memo={"first_day_absent": "2026-11-27", "first_session": "AM"},
                )

        began = time.monotonic()
        await asyncio.gather(*(one(wid) for wid in ids))
        return ids, time.monotonic() - began

    async def wait_until_trivial_waiting(
        self, ids: Sequence[str], cached_expected: int, *, sample: int = 100, timeout: float | None = None
    ) -> float:
        """Until the trivial worker holds ``cached_expected`` runs, has gone quiet, and a sample
        of ``ids`` each has a timer as its last event. Seconds waited."""
        timeout = timeout or _patience(len(ids))
        began = time.monotonic()
        while True:
            self.check_worker()
            if time.monotonic() - began > timeout:
                raise RuntimeError(f"trivial workflows not waiting after {timeout:.0f} s")
            cached = await self.trivial_worker.metric("temporal_sticky_cache_size")
            if cached < min(cached_expected, self.max_cached_workflows):
                await asyncio.sleep(0.3)
                continue
            if not await self.trivial_worker.idle():
                continue
            picked = random.sample(list(ids), min(sample, len(ids)))
            if all(await asyncio.gather(*(self._on_timer(wid) for wid in picked))):
                return time.monotonic() - began

    async def _on_timer(self, case_id: str) -> bool:
        handle = self.client.get_workflow_handle(case_id)
        desc = await handle.describe()
        if desc.raw_description.pending_activities or desc.raw_description.HasField("pending_workflow_task"):
            return False
        history = await handle.fetch_history()
        return history.events[-1].event_type == EventType.EVENT_TYPE_TIMER_STARTED


def synthetic_rows(count: int, directory: Path = DIRECTORY) -> list[FeedRow]:
    """``count`` checked feed rows, every pupil different, absent (code N) today.

    Today (London; the last school day before it on a weekend or holiday) on the real school
    calendar: Day 2 is the next school day's opening, always in the future, so every case waits
    on its timer instead of walking on.
    """
    on = last_school_day(today_london())  # the feed refuses an N mark on a day the school is shut
    checked = read_feed(synthetic_feed(count, on), directory=load_directory(directory))
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
    converter = dataclasses.replace(payload_data_converter, payload_codec=codec)
    var_dir = Path(tempfile.mkdtemp(prefix=f"bench-{label}-"))
    directory = open_now_directory(var_dir)
    settings = Settings(
        directory_path=directory, var_dir=var_dir, task_queue=f"bench-{label}-{uuid.uuid4().hex[:6]}"
    )
    catcher = CountingCatcher()
    smtp_port = mailcatcher.free_port()
    controller = mailcatcher.start(catcher, port=smtp_port)
    env: WorkflowEnvironment | None = None
    workers: list[asyncio.subprocess.Process] = []
    try:
        make_pseudonym_key(var_dir)
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=str(BIN / "temporal"),
            data_converter=converter,
            interceptors=[TestSigner()],  # the feed's marks and the MIS's signals, signed
            search_attributes=list(ALL_KEYS),
            dev_server_log_level="error",
            ui=False,
        )
        metrics_port = mailcatcher.free_port()  # the case worker's
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
            "WHEREABOUTS_DIRECTORY_PATH": str(directory),
            "WHEREABOUTS_SMTP_PORT": str(smtp_port),
            "WHEREABOUTS_CODEC_KEYS": key_spec,
            "WHEREABOUTS_METRICS_PORT": str(metrics_port),
        }
        if max_cached_workflows is not None:
            worker_env["WHEREABOUTS_MAX_CACHED_WORKFLOWS"] = str(max_cached_workflows)
        trivial_env = worker_env | {
            "WHEREABOUTS_TASK_QUEUE": f"{settings.task_queue}-trivial",
            "WHEREABOUTS_METRICS_PORT": str(mailcatcher.free_port()),
        }
        started = []
        for name, command, env_vars in (
            ("worker", [str(ROOT / "worker.py")], worker_env),
            ("trivial-worker", ["-m", "bench.trivial"], trivial_env),
        ):
            log_path = var_dir / f"{name}.log"
            with log_path.open("wb") as log:
                proc = await asyncio.create_subprocess_exec(
                    sys.executable,
                    *command,
                    cwd=ROOT,
                    env=env_vars,
                    stdout=log,
                    stderr=asyncio.subprocess.STDOUT,
                )
            workers.append(proc)
            started.append(WorkerProcess(proc, int(env_vars["WHEREABOUTS_METRICS_PORT"]), log_path))
        stack = Stack(
            env,
            settings,
            case_worker=started[0],
            trivial_worker=started[1],
            trivial_queue=trivial_env["WHEREABOUTS_TASK_QUEUE"],
            catcher=catcher,
            var_dir=var_dir,
            worker_env=worker_env,
        )
        for one in started:
            await _until_started(one)
        yield stack
    finally:
        await asyncio.gather(*(_stop(proc) for proc in workers))
        if env is not None:
            await env.shutdown()
        controller.stop()
        shutil.rmtree(var_dir, ignore_errors=True)


async def _until_started(worker: WorkerProcess, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        worker.check()
        if b"worker started" in worker.log_path.read_bytes():
            with contextlib.suppress(OSError):
                await worker.metric("temporal_")
                await asyncio.sleep(1.0)  # let its pollers reach the server
                return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"{worker.log_path.stem} did not start within {timeout:.0f} s")


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


def open_now_directory(var_dir: Path, now: datetime | None = None) -> Path:
    """The test directory, with the bench's school (990201) opening a minute before ``now``.

    Why: the figures are of a case's normal first steps, the Day 1 call prompt to the office.
    With the test school's real hours a run before 09:00 sent nothing until the office opened
    (the bench waited for mail that could not come), and one after 16:00 measured the late
    path (a DSL alert now, the office prompt tomorrow). Opened just before the run, every run
    on a school day measures the same path; on a weekend or bank holiday the cases open on the
    last school day and take the late path, as they would.
    """
    t = (now or datetime.now(LONDON)).replace(tzinfo=None)
    start = datetime.combine(t.date(), time_of_day())
    opens = max(start, t - timedelta(minutes=1))
    closes = min(opens + timedelta(hours=6), datetime.combine(t.date(), time_of_day(23, 59, 59)))
    afternoon = opens + (closes - opens) / 2
    hours = (
        f"hours = {{ opens = {opens:%H:%M:%S}, afternoon = {afternoon:%H:%M:%S}, "
        f"closes = {closes:%H:%M:%S} }}"
    )
    text = DIRECTORY.read_text()
    school = 'urn = "990201"\n'
    if text.count(school) != 1:
        raise RuntimeError(f"{DIRECTORY}: expected one school 990201")
    path = var_dir / "schools.toml"
    path.write_text(text.replace(school, school + hours + "\n"))
    return path


def make_pseudonym_key(var_dir: Path) -> None:
    """The local pseudonym key feed() and the worker name cases with (var/pseudonym-key)."""
    try:
        from whereabouts.pseudonym import local_key
    except ImportError:  # a tree from before case IDs were pseudonyms
        return
    local_key(var_dir, create=True)


def today_london() -> date:
    return datetime.now(LONDON).date()


def mb(n: float) -> float:
    return round(n / MB, 1)


def _patience(runs: int) -> float:
    """How long to wait for ``runs`` to reach their first timer before calling the run failed:
    15 minutes, or 0.3 s a run where there are more (the full morning, ``python -m bench.carry
    10000``, took its cases through Day 1 at 7 to 14 a second on two CPUs)."""
    return max(900.0, 0.3 * runs)
