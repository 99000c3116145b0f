"""Benchmark (a): the fraud example (shared/data/fraud: 10,000 reference and 29,000 evaluation rows, CatBoost),
every category, country protected. Target: time outside model calls <= time inside them.

Run: .venv/bin/python benchmarks/bench_fraud.py [path/to/fraud folder]
"""

from __future__ import annotations

import sys
from pathlib import Path

from measure import Stopwatch, print_figures

import pandas as pd

from stresstests.engine.base import MODEL_TASK_BINARY_CLASSIFICATION
from stresstests.engine.config import DataParams, RunConfig
from stresstests.engine.models import load_model
from stresstests.engine.runner import run_stress_test
import stresstests.engine.tests  # noqa: F401  (imports every category, as a running worker already has)

FRAUD = Path("/work/shared/data/fraud")


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else FRAUD
    with Stopwatch() as setup:
        reference = pd.read_csv(folder / "fraud_ref.csv")
        evaluation = pd.read_csv(folder / "fraud_eval.csv")
        model = load_model(folder / "fraud_model.catb", model_task=MODEL_TASK_BINARY_CLASSIFICATION)
    # No pred_col: the model itself scores both datasets, so its cost is part of the run as in a real upload.
    data_params = DataParams(label_col="label", timestamp_col="timestamp", protected_features=["country"],
                             features_not_in_model=[])
    with Stopwatch() as run:
        report = run_stress_test(reference=reference.drop(columns="preds"),
                                 evaluation=evaluation.drop(columns="preds"), config=RunConfig(categories=["all"]),
                                 data_params=data_params, model_task=MODEL_TASK_BINARY_CLASSIFICATION, model=model)
    print_figures("(a) fraud example, CatBoost, all categories", report, wall_s=run.seconds, cpu_s=run.cpu_seconds,
                  setup_s=setup.seconds)
    inside = report["run"]["model_calls"]["seconds"]
    outside = run.seconds - inside
    print(f"target: outside ({outside:.2f} s) <= inside ({inside:.2f} s) -> {'met' if outside <= inside else 'MISSED'}")


if __name__ == "__main__":
    main()
