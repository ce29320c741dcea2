"""``make bench``: every benchmark, figures printed and written to bench/RESULTS.md.

Benchmarks measure; they never assert times. RESULTS.md is replaced on each run.
"""

from __future__ import annotations

import asyncio
import importlib
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

BENCHES = ["bench.case_cost", "bench.start_feed"]


async def run() -> int:
    results: dict[str, dict] = {}
    for name in BENCHES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError:
            print(f"# {name}: not present, skipped")
            continue
        print(f"# {name}")
        figures = await module.main()
        results[name] = figures if isinstance(figures, dict) else {}
    lines = [
        "# Benchmark results",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node() or 'unknown'}: "
        f"{platform.machine()}, Python {platform.python_version()}, {_cpus()}.",
        "",
    ]
    for name, figures in results.items():
        lines += [f"## {name}", "", "| figure | value |", "| --- | --- |"]
        lines += [f"| {k} | {v} |" for k, v in figures.items()]
        lines.append("")
    Path(__file__).with_name("RESULTS.md").write_text("\n".join(lines))
    return 0


def _cpus() -> str:
    import os

    return f"{os.cpu_count()} CPUs"


if __name__ == "__main__":
    sys.exit(asyncio.run(run()))
