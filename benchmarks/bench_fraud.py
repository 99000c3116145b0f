"""Benchmark (a): the fraud example (shared/data/fraud: 10,000 reference and 29,000 evaluation rows, CatBoost),
every category, country protected. Target: time outside model calls <= time inside them.

"Inside model calls" is the time spent in the model adapter's predict (the prediction cache times only the calls
that reach the model); everything else of run_stress_test (data checks, profile, every test's own work, the report)
is "outside". Each run is a fresh process, as a worker's first run after start would be, with the engine imported.

Run: .venv/bin/python benchmarks/bench_fraud.py [--sandbox] [--repeat N] [--data path/to/fraud/folder]
  --sandbox    score through stresstests.engine.sandbox.SandboxedModel (the worker's real path: a child process)
  --repeat N   run N fresh processes one after another and print the median of each figure
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from measure import Stopwatch, peak_memory_mb, print_figures

import pandas as pd

from stresstests.engine.vocabulary import MODEL_TASK_BINARY_CLASSIFICATION
from stresstests.engine.config import DataParams, RunConfig
from stresstests.engine.runner import run_stress_test
import stresstests.engine.categories  # noqa: F401  (imports every category, as a running worker already has)

FRAUD = Path(os.environ.get("RIME_SHARED_DIR", Path(__file__).resolve().parents[2] / "shared")) / "data" / "fraud"
FIGURES_MARK = "figures: "


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sandbox", action="store_true", help="run the model in SandboxedModel's child process")
    parser.add_argument("--repeat", type=int, default=1, help="fresh processes to run; the median is printed")
    parser.add_argument("--data", type=Path, default=FRAUD, help="folder with fraud_ref.csv, fraud_eval.csv, "
                                                                  "fraud_model.catb")
    return parser.parse_args()


def load_model(path: Path, sandbox: bool):
    if sandbox:
        from stresstests.engine.sandbox import SandboxedModel

        return SandboxedModel(path, model_task=MODEL_TASK_BINARY_CLASSIFICATION)
    from stresstests.engine.models import load_model as load_in_process

    return load_in_process(path, model_task=MODEL_TASK_BINARY_CLASSIFICATION)


class CpuMeter:
    """Wraps a model's predict to add up this process's CPU time (all threads) spent inside it.

    On a shared machine wall times swing with other people's work; CPU time is the load-robust companion figure.
    In sandbox mode the model's own CPU is spent in the child process: this figure is then only the parent's side
    (writing rows, reading predictions).
    """

    def __init__(self, model) -> None:
        self.model, self.seconds = model, 0.0
        self._predict = model.predict
        model.predict = self.predict

    def predict(self, frame):
        started = time.process_time()
        try:
            return self._predict(frame)
        finally:
            self.seconds += time.process_time() - started


def run_once(folder: Path, sandbox: bool) -> dict:
    with Stopwatch() as setup:
        reference = pd.read_csv(folder / "fraud_ref.csv").drop(columns="preds")
        evaluation = pd.read_csv(folder / "fraud_eval.csv").drop(columns="preds")
        model = load_model(folder / "fraud_model.catb", sandbox)
    meter = CpuMeter(model)
    # No pred_col: the model itself scores both datasets, so its cost is part of the run as in a real upload.
    data_params = DataParams(label_col="label", timestamp_col="timestamp", protected_features=["country"],
                             features_not_in_model=[])
    try:
        with Stopwatch() as run:
            report = run_stress_test(reference=reference, evaluation=evaluation, config=RunConfig(categories=["all"]),
                                     data_params=data_params, model_task=MODEL_TASK_BINARY_CLASSIFICATION,
                                     model=model)
    finally:
        if sandbox:
            model.close()   # waits for the child, so its peak memory shows in RUSAGE_CHILDREN below
    mode = "SandboxedModel" if sandbox else "in process"
    print_figures(f"(a) fraud example, CatBoost ({mode}), all categories", report, wall_s=run.seconds,
                  cpu_s=run.cpu_seconds, setup_s=setup.seconds)
    inside = report["run"]["model_calls"]["seconds"]
    figures = {"wall_s": run.seconds, "inside_s": inside, "outside_s": run.seconds - inside,
               "cpu_inside_s": meter.seconds, "cpu_outside_s": run.cpu_seconds - meter.seconds,
               "peak_rss_mb": peak_memory_mb(), "child_peak_rss_mb": peak_memory_mb(children=True) if sandbox else None,
               "load_1min": os.getloadavg()[0]}
    print(f"CPU time of this process (all threads): inside model calls {meter.seconds:.2f} s, outside "
          f"{figures['cpu_outside_s']:.2f} s" + ("; the model's own CPU is in the sandbox child" if sandbox else ""))
    print(f"target: outside ({figures['outside_s']:.2f} s) <= inside ({inside:.2f} s) -> "
          f"{'met' if figures['outside_s'] <= inside else 'MISSED'}")
    return figures


def repeat(args: argparse.Namespace) -> None:
    """Each repetition in a fresh process (no warm caches carried over), one after another; medians at the end."""
    command = [sys.executable, __file__, "--data", str(args.data), *(["--sandbox"] if args.sandbox else [])]
    runs = []
    for number in range(args.repeat):
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        figures = json.loads(output.split(FIGURES_MARK, 1)[1].splitlines()[0])
        runs.append(figures)
        print(f"run {number + 1}: " + ", ".join(f"{key} {value:.2f}" for key, value in figures.items()
                                                 if value is not None))
    median = {key: statistics.median(run[key] for run in runs) for key in runs[0] if runs[0][key] is not None}
    mode = "SandboxedModel" if args.sandbox else "in process"
    print(f"== (a) fraud, {mode}: median of {len(runs)} fresh runs")
    print(f"wall {median['wall_s']:.2f} s, inside model {median['inside_s']:.2f} s, outside model "
          f"{median['outside_s']:.2f} s, peak RSS {median['peak_rss_mb']:.0f} MB"
          + (f" (model child {median['child_peak_rss_mb']:.0f} MB)" if "child_peak_rss_mb" in median else "")
          + f", load average {median['load_1min']:.1f}")
    print(f"CPU of this process: inside model {median['cpu_inside_s']:.2f} s, outside {median['cpu_outside_s']:.2f} s")
    met = sum(run["outside_s"] <= run["inside_s"] for run in runs)
    print(f"target: outside <= inside -> {'met' if median['outside_s'] <= median['inside_s'] else 'MISSED'} "
          f"(median; met in {met} of {len(runs)} runs)")


def main() -> None:
    args = arguments()
    needed = ("fraud_ref.csv", "fraud_eval.csv", "fraud_model.catb")
    missing = [name for name in needed if not (args.data / name).is_file()]
    if missing:
        sys.exit(f"The fraud example is not at {args.data} (missing {', '.join(missing)}): set RIME_SHARED_DIR to the "
                 "shared folder (the one holding data/fraud/) or pass --data.")
    if args.repeat > 1:
        repeat(args)
        return
    figures = run_once(args.data, args.sandbox)
    print(FIGURES_MARK + json.dumps(figures))


if __name__ == "__main__":
    main()
