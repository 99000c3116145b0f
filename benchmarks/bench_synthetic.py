"""Benchmark (b): 10,000 rows x 10 features (make_classification, seed 0), half reference (the training set), half
evaluation with a +1 sigma shift planted on f3, RandomForest of 100 trees, every category. Target: under 5 s.

f0 is declared protected so that the Bias and Fairness tests run too (binned into quantile subsets).
Run: .venv/bin/python benchmarks/bench_synthetic.py
"""

from __future__ import annotations

from measure import Stopwatch, print_figures

import pandas as pd
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split

from stresstests.engine.vocabulary import MODEL_TASK_BINARY_CLASSIFICATION
from stresstests.engine.config import DataParams, RunConfig
from stresstests.engine.models import EstimatorModel
from stresstests.engine.runner import run_stress_test
import stresstests.engine.categories  # noqa: F401  (imports every category, as a running worker already has)

SHIFTED = "f3"


def synthetic() -> tuple[pd.DataFrame, pd.DataFrame, EstimatorModel]:
    features, labels = make_classification(n_samples=10_000, n_features=10, n_informative=5, n_redundant=2,
                                           flip_y=0.02, random_state=0)
    frame = pd.DataFrame(features, columns=[f"f{i}" for i in range(10)])
    frame["label"] = labels
    reference, evaluation = train_test_split(frame, test_size=0.5, stratify=labels, random_state=0)
    evaluation = evaluation.copy()
    evaluation[SHIFTED] += reference[SHIFTED].std()
    forest = RandomForestClassifier(n_estimators=100, random_state=0)
    forest.fit(reference.drop(columns="label"), reference["label"])
    model = EstimatorModel(forest, model_task=MODEL_TASK_BINARY_CLASSIFICATION, source="benchmark")
    return reference.reset_index(drop=True), evaluation.reset_index(drop=True), model


def main() -> None:
    with Stopwatch() as setup:
        reference, evaluation, model = synthetic()
    with Stopwatch() as run:
        report = run_stress_test(
            reference=reference, evaluation=evaluation, config=RunConfig(categories=["all"]),
            data_params=DataParams(label_col="label", protected_features=["f0"]),
            model_task=MODEL_TASK_BINARY_CLASSIFICATION, model=model)
    print_figures("(b) synthetic 10,000 x 10, RandomForest(100), all categories", report, wall_s=run.seconds,
                  cpu_s=run.cpu_seconds, setup_s=setup.seconds)
    drift = [case for category in report["categories"] for test in category["tests"]
             if test["test_type"] == "feature_drift" for case in test.get("test_cases", [])
             if case["severity"] != "SEVERITY_PASS"]
    print("feature drift found on:", [(c["features"], c["severity"], c.get("importance_score")) for c in drift])
    print(f"target: < 5 s -> {'met' if run.seconds < 5 else 'MISSED'}")


if __name__ == "__main__":
    main()
