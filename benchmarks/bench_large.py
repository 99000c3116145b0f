"""Benchmark (c): 1,000,000 evaluation rows x 30 features (25 numeric, 5 categorical), 100,000 reference rows,
a scikit-learn HistGradientBoosting pipeline, every category, `region` protected.
Targets: under 5 minutes, peak memory under 4 GB. The engine samples large data (the rate is printed).

Run: .venv/bin/python benchmarks/bench_large.py
"""

from __future__ import annotations

from measure import Stopwatch, print_figures

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.datasets import make_classification
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OrdinalEncoder

from stresstests.engine.vocabulary import MODEL_TASK_BINARY_CLASSIFICATION
from stresstests.engine.config import DataParams, RunConfig
from stresstests.engine.models import EstimatorModel
from stresstests.engine.runner import run_stress_test
import stresstests.engine.categories  # noqa: F401  (imports every category, as a running worker already has)

REFERENCE_ROWS, EVALUATION_ROWS = 100_000, 1_000_000
NUMERIC, CATEGORICAL = 25, 5
LEVELS = ["north", "south", "east", "west", "centre", "islands"]


def dataset() -> pd.DataFrame:
    rows = REFERENCE_ROWS + EVALUATION_ROWS
    features, labels = make_classification(n_samples=rows, n_features=NUMERIC + CATEGORICAL, n_informative=12,
                                           n_redundant=4, flip_y=0.02, random_state=0)
    features = features.astype(np.float32)
    frame = pd.DataFrame(features[:, :NUMERIC], columns=[f"n{i}" for i in range(NUMERIC)]).astype(float)
    names = ["region", *(f"c{i}" for i in range(1, CATEGORICAL))]
    for index, name in enumerate(names):
        # A categorical feature that carries signal: the quantile bin of a latent informative column.
        edges = np.quantile(features[:REFERENCE_ROWS, NUMERIC + index], np.linspace(0, 1, len(LEVELS) + 1)[1:-1])
        frame[name] = np.asarray(LEVELS, dtype=object)[np.searchsorted(edges, features[:, NUMERIC + index])]
    frame["label"] = labels
    return frame


def train(reference: pd.DataFrame) -> EstimatorModel:
    categorical = [c for c in reference.columns if reference[c].dtype == object or str(reference[c].dtype) == "str"]
    encoder = ColumnTransformer([("categories", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                                                               encoded_missing_value=-2), categorical)],
                                remainder="passthrough")
    pipeline = make_pipeline(encoder, HistGradientBoostingClassifier(max_iter=60, random_state=0))
    pipeline.fit(reference.drop(columns="label"), reference["label"])
    return EstimatorModel(pipeline, model_task=MODEL_TASK_BINARY_CLASSIFICATION, source="benchmark")


def main() -> None:
    with Stopwatch() as setup:
        frame = dataset()
        reference = frame.iloc[:REFERENCE_ROWS].reset_index(drop=True)
        evaluation = frame.iloc[REFERENCE_ROWS:].reset_index(drop=True)
        del frame
        evaluation["n3"] += 0.5        # a planted drift
        model = train(reference)
    print(f"data and model ready: {len(reference)} reference and {len(evaluation)} evaluation rows, "
          f"{evaluation.shape[1] - 1} features")
    with Stopwatch() as run:
        report = run_stress_test(reference=reference, evaluation=evaluation, config=RunConfig(categories=["all"]),
                                 data_params=DataParams(label_col="label", protected_features=["region"]),
                                 model_task=MODEL_TASK_BINARY_CLASSIFICATION, model=model)
    print_figures("(c) 1,000,000 x 30, HistGradientBoosting pipeline, all categories", report,
                  wall_s=run.seconds, cpu_s=run.cpu_seconds, setup_s=setup.seconds)
    from measure import peak_memory_mb

    print(f"target: < 300 s -> {'met' if run.seconds < 300 else 'MISSED'}; peak memory < 4096 MB -> "
          f"{'met' if peak_memory_mb() < 4096 else 'MISSED'}")


if __name__ == "__main__":
    main()
