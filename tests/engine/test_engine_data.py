"""Loading: every format loads (by content, whatever the extension); every bad input gets a message a user can act on."""

from __future__ import annotations

import gzip
import json
import re

import numpy as np
import pandas as pd
import pytest

from stresstests.engine.vocabulary import MODEL_TASK_BINARY_CLASSIFICATION, MODEL_TASK_MULTICLASS_CLASSIFICATION
from stresstests.engine.config import DataParams, RunConfig
from stresstests.engine.data import detect_format, load_dataset, load_predictions, sample_rows
from stresstests.engine.errors import DataLoadError
from stresstests.engine.runner import build_context, check_datasets

FRAME = pd.DataFrame({"city": ["Rome", "Paris", None], "amount": [1.5, 2.0, 3.25], "label": [0, 1, 1]})


def _write(path, fmt: str, gz: bool) -> None:
    if fmt == "csv":
        text = FRAME.to_csv(index=False)
    elif fmt == "json":
        text = FRAME.to_json(orient="records")
    elif fmt == "jsonl":
        text = FRAME.to_json(orient="records", lines=True)
    else:
        FRAME.to_parquet(path)
        return
    data = text.encode()
    path.write_bytes(gzip.compress(data) if gz else data)


@pytest.mark.parametrize("fmt,gz", [("csv", False), ("csv", True), ("parquet", False), ("json", False),
                                    ("json", True), ("jsonl", False), ("jsonl", True)])
def test_every_format_loads_with_its_extension(tmp_path, fmt, gz):
    path = tmp_path / (f"data.{fmt}" + (".gz" if gz else ""))
    _write(path, fmt, gz)
    frame = load_dataset(path)
    assert list(frame.columns) == ["city", "amount", "label"]
    assert frame["amount"].tolist() == [1.5, 2.0, 3.25]
    assert frame["city"].isna().tolist() == [False, False, True]


@pytest.mark.parametrize("fmt,gz", [("csv", True), ("parquet", False), ("json", False), ("jsonl", True)])
def test_format_is_recognised_by_content_when_the_extension_lies(tmp_path, fmt, gz):
    path = tmp_path / "upload.bin"
    _write(path, fmt, gz)
    assert detect_format(path) == (fmt, gz)
    assert load_dataset(path)["label"].tolist() == [0, 1, 1]


def test_a_sample_caps_the_rows_reproducibly():
    frame = pd.DataFrame({"x": np.arange(1000)})
    first, again = sample_rows(frame, 100, seed=3), sample_rows(frame, 100, seed=3)
    assert len(first) == 100 and first["x"].is_unique
    assert first["x"].tolist() == again["x"].tolist()
    assert sample_rows(frame, 100, seed=3, random=False)["x"].tolist() == list(range(100))


@pytest.mark.parametrize("content,message", [
    (b"", "is empty (0 bytes)"),
    (b"\n\n  \n", "is empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "is a binary file"),
    ("city,amount\nZürich,1\n".encode("latin-1"), "is not UTF-8"),
    (b"city,amount,label\n", "has a header (city, amount, label...) but no rows"),
    (b"city,amount,city\nRome,1,Paris\n", "duplicate column names: city"),
    (b"\x1f\x8b\x08\x00garbage", "cannot be decompressed"),
    (b'[{"a": 1}, {"a": ', "could not be read as JSON"),
    (b"[]", "has no"),
])
def test_a_bad_file_gets_a_clear_message(tmp_path, content, message):
    path = tmp_path / "data.csv"
    path.write_bytes(content)
    with pytest.raises(DataLoadError, match=re.escape(message)):
        load_dataset(path)


def test_a_missing_file_or_a_folder_is_named(tmp_path):
    with pytest.raises(DataLoadError, match="does not exist"):
        load_dataset(tmp_path / "nope.csv")
    with pytest.raises(DataLoadError, match="is a folder"):
        load_dataset(tmp_path)


def test_a_missing_label_column_is_reported_with_the_columns_that_exist():
    with pytest.raises(DataLoadError, match=r"Label column 'target' is not in the reference dataset; its columns are "
                                            r"city, amount, label"):
        check_datasets(FRAME, FRAME, DataParams(label_col="target"))


def test_datasets_with_different_columns_are_rejected_with_both_sides_named():
    evaluation = FRAME.rename(columns={"amount": "amount_eur"})
    with pytest.raises(DataLoadError, match="only in reference: amount; only in evaluation: amount_eur"):
        check_datasets(FRAME, evaluation, DataParams(label_col="label"))


def test_label_prediction_and_timestamp_may_exist_on_one_side_only():
    evaluation = FRAME.drop(columns=["label"]).assign(timestamp="2024-01-01")
    check_datasets(FRAME, evaluation, DataParams(label_col="label", timestamp_col="timestamp"))


def test_a_missing_prediction_column_is_reported():
    with pytest.raises(DataLoadError, match="Prediction column 'score' is not in the reference dataset"):
        check_datasets(FRAME, FRAME, DataParams(label_col="label", pred_col="score"))


def test_labels_that_are_not_binary_are_rejected_for_a_binary_task():
    frame = FRAME.assign(label=[0, 1, 2], preds=[0.1, 0.5, 0.9])
    with pytest.raises(DataLoadError, match="Binary classification needs 0/1 labels"):
        build_context(reference=frame, evaluation=frame, model_task=MODEL_TASK_BINARY_CLASSIFICATION,
                      data_params=DataParams(label_col="label", pred_col="preds"))


def test_a_predictions_file_must_have_one_row_per_data_row(tmp_path):
    path = tmp_path / "preds.csv"
    path.write_text("p\n0.1\n0.2\n")
    with pytest.raises(DataLoadError, match="has 2 predictions but the dataset has 3 rows"):
        load_predictions(path, n_rows=3, model_task=MODEL_TASK_BINARY_CLASSIFICATION)
    assert load_predictions(path, n_rows=2, model_task=MODEL_TASK_BINARY_CLASSIFICATION).tolist() == [0.1, 0.2]


def test_multiclass_predictions_load_from_one_column_per_class_or_a_list_column(tmp_path):
    columns = tmp_path / "preds.csv"
    columns.write_text("0,1,2\n0.2,0.3,0.5\n0.6,0.2,0.2\n")
    lists = tmp_path / "preds.jsonl"
    lists.write_text("\n".join(json.dumps({"p": row}) for row in [[0.2, 0.3, 0.5], [0.6, 0.2, 0.2]]))
    for path in (columns, lists):
        loaded = load_predictions(path, n_rows=2, model_task=MODEL_TASK_MULTICLASS_CLASSIFICATION)
        assert loaded.shape == (2, 3) and loaded[0, 2] == pytest.approx(0.5)


def test_string_class_labels_are_encoded_in_class_name_order():
    reference = pd.DataFrame({"x": range(30), "label": ["cat", "dog", "eel"] * 10})
    probabilities = np.tile([0.7, 0.2, 0.1], (30, 1))
    ctx, _ = build_context(reference=reference, evaluation=reference, model_task=MODEL_TASK_MULTICLASS_CLASSIFICATION,
                           data_params=DataParams(label_col="label"), reference_predictions=probabilities,
                           evaluation_predictions=probabilities)
    assert ctx.schema.class_names == ["cat", "dog", "eel"]
    assert ctx.reference_labels[:3].tolist() == [0, 1, 2]


def test_sampling_is_reported_and_keeps_predictions_aligned():
    frame = pd.DataFrame({"x": np.arange(500.0), "label": np.arange(500) % 2, "preds": np.arange(500) / 500})
    config = RunConfig(random_seed=1)
    config.sampling.nrows = 100
    ctx, sampling = build_context(reference=frame, evaluation=frame, model_task=MODEL_TASK_BINARY_CLASSIFICATION,
                                  config=config, data_params=DataParams(label_col="label", pred_col="preds"))
    assert sampling["reference"].rate == pytest.approx(0.2)
    assert len(ctx.reference) == 100
    assert np.allclose(ctx.reference_predictions, ctx.reference["x"].to_numpy() / 500)


def test_multiclass_labels_beyond_the_prediction_columns_are_rejected():
    frame = pd.DataFrame({"x": range(6), "label": [0, 1, 2, 3, 0, 1]})
    probabilities = np.full((6, 3), 1 / 3)
    with pytest.raises(DataLoadError, match="only 3 class columns"):
        build_context(reference=frame, evaluation=frame, model_task=MODEL_TASK_MULTICLASS_CLASSIFICATION,
                      data_params=DataParams(label_col="label"), reference_predictions=probabilities,
                      evaluation_predictions=probabilities)


def test_an_intersection_must_name_existing_features():
    with pytest.raises(DataLoadError, match="Intersection feature\\(s\\) country are not columns"):
        build_context(reference=FRAME, evaluation=FRAME, model_task=MODEL_TASK_BINARY_CLASSIFICATION,
                      data_params=DataParams(label_col="label", intersections=[{"features": ["city", "country"]}]))


def test_a_text_feature_is_refused_as_a_protected_feature():
    """Review 15: fairness was computed on the free-text column of a text run."""
    frame = pd.DataFrame({"text": [f"review number {n} was fine" for n in range(6)], "label": [0, 1] * 3})
    with pytest.raises(DataLoadError, match="Protected feature\\(s\\) text are text features"):
        build_context(reference=frame, evaluation=frame, model_task=MODEL_TASK_BINARY_CLASSIFICATION,
                      data_params=DataParams(label_col="label", text_features=["text"], protected_features=["text"]))
