"""Model adapters load each supported source, normalise outputs, and explain bad models; the cache scores rows once."""

from __future__ import annotations

import importlib.util
import pickle
import shutil

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from stresstests.engine.vocabulary import (
    MODEL_TASK_BINARY_CLASSIFICATION, MODEL_TASK_MULTICLASS_CLASSIFICATION, MODEL_TASK_REGRESSION,
)
from stresstests.engine.errors import ModelLoadError, ModelOutputError
from stresstests.engine.models import PredictionCache, load_model, validate_predictions
from tests.shared_data import FRAUD, require_fraud_data

BINARY = MODEL_TASK_BINARY_CLASSIFICATION
ROWS = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0], "y": [1.0, 1.0, 0.0, 0.0]})


def test_a_model_py_loads_the_artifact_lying_next_to_it(tmp_path):
    (tmp_path / "weights.txt").write_text("0.25")
    (tmp_path / "helper.py").write_text("def squash(v):\n    return v / (1 + v)\n")
    (tmp_path / "model.py").write_text(
        "from pathlib import Path\nimport numpy as np\nfrom helper import squash\n"
        "WEIGHT = float((Path(__file__).parent / 'weights.txt').read_text())\n"
        "def predict_df(df):\n    return squash(WEIGHT * df['x'].to_numpy())\n")
    model = load_model(tmp_path, model_task=BINARY)
    assert model.predict(ROWS) == pytest.approx([0.0, 0.2, 1 / 3, 0.75 / 1.75])


def test_a_model_py_with_predict_dict_scores_row_by_row(tmp_path):
    (tmp_path / "model.py").write_text("def predict_dict(row):\n    return 0.1 * row['x']\n")
    assert load_model(tmp_path / "model.py", model_task=BINARY).predict(ROWS) == pytest.approx([0, 0.1, 0.2, 0.3])


@pytest.mark.parametrize("source,message", [
    ("x = 1\n", r"must define predict_df\(df\) or predict_dict\(row\)"),
    ("import not_a_real_package\n", "Importing model.py failed: ModuleNotFoundError"),
    ("def predict_df():\n    return []\n", "must take one argument"),
])
def test_a_broken_model_py_is_explained(tmp_path, source, message):
    (tmp_path / "model.py").write_text(source)
    with pytest.raises(ModelLoadError, match=message):
        load_model(tmp_path, model_task=BINARY)


def test_unknown_files_and_missing_paths_are_explained(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_model(tmp_path / "model.pkl", model_task=BINARY)
    (tmp_path / "model.h5").write_bytes(b"\x89HDF")
    with pytest.raises(ModelLoadError, match="Unsupported model file model.h5"):
        load_model(tmp_path / "model.h5", model_task=BINARY)
    with pytest.raises(ModelLoadError, match="has no model.py"):
        load_model(tmp_path, model_task=BINARY)


def test_a_catboost_file_scores_like_the_published_predictions(tmp_path):
    require_fraud_data()
    shutil.copy(FRAUD / "fraud_model.catb", tmp_path)
    reference = pd.read_csv(FRAUD / "fraud_ref.csv", nrows=300)
    model = load_model(tmp_path / "fraud_model.catb", model_task=BINARY)
    assert model.predict(reference.drop(columns=["label", "preds"])) == pytest.approx(reference["preds"].to_numpy())


def test_the_fraud_example_model_py_loads_its_catboost_file(tmp_path):
    require_fraud_data()
    shutil.copy("examples/fraud/model.py", tmp_path)
    shutil.copy(FRAUD / "fraud_model.catb", tmp_path)
    reference = pd.read_csv(FRAUD / "fraud_ref.csv", nrows=200)
    predictions = load_model(tmp_path, model_task=BINARY).predict(reference.drop(columns=["label", "preds"]))
    assert predictions == pytest.approx(reference["preds"].to_numpy())


def test_a_pickled_pipeline_predicts_probabilities(tmp_path):
    pipeline = make_pipeline(StandardScaler(), LogisticRegression()).fit(ROWS, [0, 0, 1, 1])
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(pipeline))
    predictions = load_model(tmp_path / "model.pkl", model_task=BINARY).predict(ROWS)
    assert predictions.shape == (4,)
    assert predictions == pytest.approx(pipeline.predict_proba(ROWS)[:, 1])


def test_a_skops_file_loads_standard_estimators(tmp_path):
    import skops.io

    estimator = LogisticRegression().fit(ROWS, [0, 1, 2, 2])
    skops.io.dump(estimator, tmp_path / "model.skops")
    predictions = load_model(tmp_path / "model.skops", model_task=MODEL_TASK_MULTICLASS_CLASSIFICATION).predict(ROWS)
    assert predictions.shape == (4, 3)


@pytest.mark.skipif(importlib.util.find_spec("xgboost") is not None, reason="xgboost is installed here")
def test_a_booster_format_without_its_package_says_what_to_install(tmp_path):
    (tmp_path / "model.json").write_text("{}")
    with pytest.raises(ModelLoadError, match="needs the Python package 'xgboost'"):
        load_model(tmp_path / "model.json", model_task=BINARY)


@pytest.mark.parametrize("output,task,message", [
    ([0.1, 0.2], BINARY, "returned 2 predictions for 4 rows"),
    ([0.1, np.nan, 0.2, 0.3], BINARY, "1 NaN or infinite"),
    (["a", "b", "c", "d"], BINARY, "returned strings"),
    ([0.5, 1.5, 2.0, -1.0], BINARY, "3 predictions lie outside \\[0, 1\\]"),
    (np.ones((4, 3)), BINARY, "positive-class probability per row"),
    ([0.1, 0.2, 0.3, 0.4], MODEL_TASK_MULTICLASS_CLASSIFICATION, "shape \\(n, num_classes\\)"),
    (np.full((4, 3), 0.5), MODEL_TASK_MULTICLASS_CLASSIFICATION, "must sum to 1"),
    ([[1.0], [2.0, 3.0]], MODEL_TASK_REGRESSION, "ragged|different lengths"),
])
def test_invalid_outputs_are_rejected_with_a_reason(output, task, message):
    with pytest.raises(ModelOutputError, match=message):
        validate_predictions(output, n_rows=4, model_task=task)


def test_two_column_binary_probabilities_become_the_positive_column():
    output = validate_predictions(np.array([[0.9, 0.1], [0.3, 0.7]]), n_rows=2, model_task=BINARY)
    assert output.tolist() == [0.1, 0.7]


class CountingModel:
    def __init__(self) -> None:
        self.rows_seen: list[int] = []
        self.columns_seen: list[list[str]] = []

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        self.rows_seen.append(len(frame))
        self.columns_seen.append(list(frame.columns))
        return 1 / (1 + np.exp(-frame["x"].to_numpy()))


def test_the_cache_scores_each_distinct_row_once_and_shows_only_model_features():
    model = CountingModel()
    cache = PredictionCache(model, features=["x", "y"], model_task=BINARY)
    frame = pd.concat([ROWS, ROWS]).assign(label=1)        # duplicates and a column the model must not see
    first = cache.predict(frame)
    again = cache.predict(frame.iloc[::-1])
    assert model.rows_seen == [4]
    assert model.columns_seen == [["x", "y"]]
    assert again.tolist() == first[::-1].tolist()
    cache.predict(ROWS.assign(x=ROWS["x"] + 10))
    assert model.rows_seen == [4, 4] and cache.rows_scored == 8


def test_a_batch_of_variants_gets_the_same_predictions_as_their_concatenation_in_one_model_call():
    model = CountingModel()
    cache = PredictionCache(model, features=["x", "y"], model_task=BINARY)
    base = ROWS.assign(label=1)
    changed_x = base.copy(deep=False)
    changed_x["x"] = base["x"] + 10            # y stays base's own column (the same memory)
    changed_y = base.assign(y=base["y"] * 2 + 1)
    batch = cache.predict_batch(base, [base, changed_x, changed_y])
    assert model.rows_seen == [12]             # three variants of 4 distinct rows, one call
    plain = PredictionCache(CountingModel(), features=["x", "y"], model_task=BINARY)
    assert batch.tolist() == plain.predict(pd.concat([base, changed_x, changed_y], ignore_index=True)).tolist()
    assert cache.predict(changed_x).tolist() == batch[4:8].tolist()
    assert model.rows_seen == [12]             # already cached: same row hashes as a plain predict
