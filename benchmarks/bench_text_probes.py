"""Benchmark: the share of a text run each text transformation, attack and bias swap takes (issue 16).

A 10,000 + 10,000-row review corpus (tests/engine/text_probe_helpers.py), every category, `gender` protected, and a
moderately costly in-process model (the careful reader of the tests plus a fixed busy loop per text, about 0.3 ms,
the order of a small CPU text classifier per text in a batch). Prints each test's time and share of the run, most
expensive first; issue 16 asks that no text test take more than 20 % of the run.

Run: .venv/bin/python benchmarks/bench_text_probes.py [--rows 10000] [--cost 8000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stresstests.engine.vocabulary import MODEL_TASK_BINARY_CLASSIFICATION  # noqa: E402
from stresstests.engine.config import DataParams, RunConfig  # noqa: E402
from stresstests.engine.runner import run_stress_test  # noqa: E402
from tests.engine.text_probe_helpers import reviews, robust_positive  # noqa: E402


class CostlyReader:
    def __init__(self, cost: int) -> None:
        self.cost, self.rows = cost, 0

    def predict(self, frame):
        self.rows += len(frame)
        scores = []
        for text in frame["text"]:
            busy = 0
            for _ in range(self.cost):
                busy += 1
            positive = robust_positive(text)
            scores.append(0.5 if positive is None else (0.9 if positive else 0.1))
        return np.array(scores)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--cost", type=int, default=8000, help="busy-loop steps per text")
    args = parser.parse_args()
    model = CostlyReader(args.cost)
    started = time.perf_counter()
    report = run_stress_test(
        reference=reviews(args.rows, 1), evaluation=reviews(args.rows, 2),
        config=RunConfig(categories="all", random_seed=0),
        data_params=DataParams(label_col="label", text_features=["text"], protected_features=["gender"]),
        model_task=MODEL_TASK_BINARY_CLASSIFICATION, model=model)
    total = time.perf_counter() - started
    print(f"run: {total:.2f} s, {model.rows} texts scored")
    tests = [(t["test_type"], t.get("duration_s") or 0.0) for c in report["categories"] for t in c["tests"]]
    for key, seconds in sorted(tests, key=lambda item: -item[1])[:15]:
        print(f"{key:42s} {seconds:7.3f} s {100 * seconds / total:5.1f} %")


if __name__ == "__main__":
    main()
