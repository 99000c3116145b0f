"""What every benchmark prints: wall time, time inside model calls, peak memory, and the slowest tests.

Peak memory is the process's maximum resident set size (ru_maxrss): tracemalloc does not see numpy's buffers.
"""

from __future__ import annotations

import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))   # run as `python benchmarks/bench_x.py` from anywhere


def peak_memory_mb(*, children: bool = False) -> float:
    """Peak RSS of this process, or of its largest finished (waited-for) child process, e.g. a model sandbox."""
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024   # Linux reports kilobytes


def print_figures(title: str, report: dict, *, wall_s: float, setup_s: float, cpu_s: float | None = None,
                  slowest: int = 8) -> None:
    model = report["run"]["model_calls"]
    inside = model["seconds"]
    print(f"== {title}")
    print(f"setup (data, model training/loading): {setup_s:.2f} s")
    print(f"wall time of run_stress_test:          {wall_s:.2f} s")
    print(f"  inside model calls:                  {inside:.2f} s ({model['calls']} calls, "
          f"{model['rows_scored']} rows scored)")
    print(f"  outside model calls:                 {wall_s - inside:.2f} s")
    if cpu_s is not None:
        print(f"process CPU time of the run:           {cpu_s:.2f} s (all threads, model included)")
    print(f"peak memory (max RSS of the process):  {peak_memory_mb():.0f} MB")
    print(f"machine load average (1 min):          {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for side in ("reference", "evaluation"):
        sampling = report["run"][side]
        print(f"{side}: {sampling['rows']} rows, {sampling['sampled_rows']} used "
              f"(sampling rate {sampling['sampling_rate']:.3f})")
    counts: dict[str, int] = {}
    durations = []
    for category in report["categories"]:
        for test in category["tests"]:
            counts[test.get("status", "?")] = counts.get(test.get("status", "?"), 0) + 1
            durations.append((test.get("duration_s") or 0.0, test["test_type"], test.get("severity")))
    print(f"tests: {counts}")
    print("slowest tests:")
    for duration, key, severity in sorted(durations, reverse=True)[:slowest]:
        print(f"  {duration:7.3f} s  {key} ({severity})")


class Stopwatch:
    """Wall and process CPU time of a block (CPU time tells apart our work from waiting on a busy machine)."""

    def __enter__(self) -> Stopwatch:
        self.started, self.cpu_started = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self.started
        self.cpu_seconds = time.process_time() - self.cpu_started
