"""Benchmarks for ``make bench``: each module's ``main()`` measures, prints and returns figures.

A figure that has a baseline measured in the same run is a ``Beside``: printed, and written to
``bench/RESULTS.md``, with the baseline and the ratio of the two.

``WHEREABOUTS_BENCH_SCALE`` (default 1) multiplies every benchmark's case and row counts, so a
change can be tried with ``WHEREABOUTS_BENCH_SCALE=0.1 make bench`` in a minute or two; the
figures of a scaled run say so, and only a run at scale 1 stands for the README's sizing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


def scale() -> float:
    try:
        value = float(os.environ.get("WHEREABOUTS_BENCH_SCALE", "1"))
    except ValueError:
        raise SystemExit("WHEREABOUTS_BENCH_SCALE must be a number, e.g. 0.1") from None
    if value <= 0:
        raise SystemExit("WHEREABOUTS_BENCH_SCALE must be more than 0")
    return value


def scaled(count: int, least: int = 10) -> int:
    """``count`` times ``WHEREABOUTS_BENCH_SCALE``, and never fewer than ``least``."""
    return max(round(count * scale()), least)


@dataclass(frozen=True)
class Beside:
    """A figure and the same figure for the baseline (the trivial workflow, the one-line
    workflow), measured in the same run; ``ratio`` is figure / baseline."""

    value: float
    baseline: float

    @property
    def ratio(self) -> str:
        return f"{self.value / self.baseline:.2f}" if self.baseline else "n/a"

    def __str__(self) -> str:
        return f"{self.value}  (baseline {self.baseline}; ratio {self.ratio})"


Figures = dict[str, float | int | str | Beside]


def print_figures(figures: dict) -> dict:
    """Print figures as an aligned two-column list, the same way for every benchmark."""
    width = max(len(k) for k in figures)
    for k, v in figures.items():
        print(f"  {k:<{width}}  {v}")
    return figures
