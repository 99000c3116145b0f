"""Text runs as tasks: natural language inference (a text pair, multiclass), text features checked, the CLI's
--task nli and --text-features, and a text model.py through the real sandbox."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from stresstests.engine import cli
from stresstests.engine.config import DataParams, RunConfig
from stresstests.engine.errors import DataLoadError
from stresstests.engine.models import FunctionModel
from stresstests.engine.runner import run_stress_test
from stresstests.engine.vocabulary import (
    MODEL_TASK_BINARY_CLASSIFICATION, MODEL_TASK_NATURAL_LANGUAGE_INFERENCE, SEVERITY_PASS,
    TEST_CATEGORY_TYPE_ABNORMAL_INPUTS, TEST_CATEGORY_TYPE_DRIFT, TEST_CATEGORY_TYPE_MODEL_PERFORMANCE,
    TEST_CATEGORY_TYPE_SUBSET_PERFORMANCE,
)
from tests.engine.text_helpers import LEXICON_MODEL_PY, PRODUCTS, reviews

CLASSES = ["contradiction", "entailment", "neutral"]


def pairs(n: int, seed: int) -> pd.DataFrame:
    """Premise about a product; the hypothesis repeats it (entailment), negates it (contradiction) or talks about
    another product (neutral)."""
    data = reviews(n, seed)
    rng = np.random.default_rng(seed)
    kinds = rng.choice(CLASSES, n)
    hypotheses = []
    for premise, kind in zip(data["text"], kinds):
        if kind == "entailment":
            hypotheses.append("The reviewer says: " + premise.lower())
        elif kind == "contradiction":
            hypotheses.append("It is not true that " + premise.lower())
        else:
            hypotheses.append(f"The {PRODUCTS[rng.integers(len(PRODUCTS))]} in the shop window is on sale.")
    return pd.DataFrame({"premise": data["text"], "hypothesis": hypotheses, "relation": kinds})


def nli_scores(frame: pd.DataFrame) -> np.ndarray:
    """Word overlap and negation: P(contradiction, entailment, neutral) in the label order (class names sorted)."""
    overlap = np.array([len(set(p.lower().split()) & set(h.lower().split())) / max(len(set(p.split())), 1)
                        for p, h in zip(frame["premise"].fillna(""), frame["hypothesis"].fillna(""))])
    negated = frame["hypothesis"].fillna("").str.contains("not true").to_numpy()
    logits = np.column_stack([4 * overlap * negated, 4 * overlap * ~negated, 2.5 - 4 * overlap])
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def nli_run(reference: pd.DataFrame, evaluation: pd.DataFrame, **options) -> dict:
    return run_stress_test(
        reference=reference, evaluation=evaluation, model_task=MODEL_TASK_NATURAL_LANGUAGE_INFERENCE,
        config=RunConfig.from_dict({"categories": [TEST_CATEGORY_TYPE_MODEL_PERFORMANCE, TEST_CATEGORY_TYPE_DRIFT,
                                                   TEST_CATEGORY_TYPE_SUBSET_PERFORMANCE,
                                                   TEST_CATEGORY_TYPE_ABNORMAL_INPUTS]}),
        data_params=DataParams(label_col="relation", text_features=["premise", "hypothesis"]), **options)


def _tests(report: dict) -> dict[str, dict]:
    return {t["test_type"]: t for c in report["categories"] for t in c["tests"]}


def test_natural_language_inference_runs_like_multiclass_on_a_text_pair():
    reference, evaluation = pairs(1500, 1), pairs(1500, 2)
    report = nli_run(reference, evaluation,
                     model=FunctionModel(predict_df=nli_scores, model_task=MODEL_TASK_NATURAL_LANGUAGE_INFERENCE))
    assert report["run"]["model_task"] == MODEL_TASK_NATURAL_LANGUAGE_INFERENCE
    assert report["run"]["model_metrics"]["multiclass_accuracy"]["evaluation"] > 0.9
    tests = _tests(report)
    assert tests["multiclass_accuracy"]["status"] == "completed"
    assert tests["text_subset_multiclass_accuracy"]["status"] == "completed"
    assert tests["multiclass_pred_label_drift"]["status"] == "completed"
    named = {f for t in tests.values() for case in t["test_cases"] for f in case["features"]}
    assert {"text.premise.char_length", "text.hypothesis.script"} <= named


def test_natural_language_inference_takes_registered_class_probabilities():
    reference, evaluation = pairs(600, 3), pairs(600, 4)
    report = nli_run(reference, evaluation, reference_predictions=nli_scores(reference),
                     evaluation_predictions=nli_scores(evaluation))
    assert report["run"]["model_metrics"]["multiclass_accuracy"]["evaluation"] > 0.9


def test_natural_language_inference_needs_two_text_features():
    reference = pairs(200, 5)
    with pytest.raises(DataLoadError, match="premise and the hypothesis.*got 1: premise"):
        run_stress_test(reference=reference, evaluation=reference, model_task=MODEL_TASK_NATURAL_LANGUAGE_INFERENCE,
                        config=RunConfig(), data_params=DataParams(label_col="relation", text_features=["premise"]),
                        reference_predictions=nli_scores(reference), evaluation_predictions=nli_scores(reference))


def test_a_text_feature_that_is_no_column_or_holds_no_text_is_refused_clearly():
    data = reviews(200, 6).assign(stars=np.arange(200) % 5)
    options = dict(model_task=MODEL_TASK_BINARY_CLASSIFICATION, config=RunConfig(),
                   reference_predictions=np.full(200, 0.5), evaluation_predictions=np.full(200, 0.5))
    with pytest.raises(DataLoadError, match="Text feature.*review are not columns of the reference dataset"):
        run_stress_test(reference=data, evaluation=data, data_params=DataParams(label_col="label",
                                                                                 text_features=["review"]), **options)
    with pytest.raises(DataLoadError, match="Text feature 'stars' of the reference dataset holds values that are "
                                            "not text"):
        run_stress_test(reference=data, evaluation=data, data_params=DataParams(label_col="label",
                                                                                 text_features=["stars"]), **options)


def test_the_cli_runs_a_text_model_py_in_the_sandbox_with_text_features(tmp_path):
    model = tmp_path / "model.py"
    model.write_text(LEXICON_MODEL_PY)
    data = reviews(1200, 7)
    evaluation = data.iloc[600:].copy()
    evaluation.loc[evaluation.index[:60], "text"] = "Этот телефон работает отлично, батарея держит два дня."
    data.iloc[:600].to_json(tmp_path / "reference.jsonl", orient="records", lines=True, force_ascii=False)
    evaluation.to_json(tmp_path / "evaluation.jsonl", orient="records", lines=True, force_ascii=False)
    stdout, stderr = io.StringIO(), io.StringIO()
    status = cli.main(["--model", str(model), "--reference", str(tmp_path / "reference.jsonl"), "--evaluation",
                       str(tmp_path / "evaluation.jsonl"), "--label-col", "label", "--text-features", "text",
                       "--categories", "abnormal_inputs", "model_performance", "--output",
                       str(tmp_path / "report.json"), "--quiet"], stdout=stdout, stderr=stderr)
    assert status == 0, stderr.getvalue()
    report = json.loads((tmp_path / "report.json").read_text())
    assert any("sandboxed child process" in note for note in report["run"]["notes"])
    tests = _tests(report)
    unseen = tests["text_unseen_categorical"]
    assert unseen["severity"] != SEVERITY_PASS
    case = next(c for c in unseen["test_cases"] if c["severity"] != SEVERITY_PASS)
    assert case["features"] == ["text.script"] and "телефон" in case["examples"][0]["text"]


def test_the_cli_refuses_an_unknown_task_naming_nli_among_the_choices(tmp_path):
    stdout, stderr = io.StringIO(), io.StringIO()
    status = cli.main(["--reference", "x.csv", "--evaluation", "y.csv", "--task", "summarise", "--output",
                       str(tmp_path / "r.json")], stdout=stdout, stderr=stderr)
    assert status == cli.EXIT_BAD_INPUT and "ranking or nli" in stderr.getvalue()


def test_manage_py_stresstest_runs_nli_from_predictions_files_with_text_features(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    reference, evaluation = pairs(300, 8), pairs(300, 9)
    reference.to_csv(tmp_path / "ref.csv", index=False)
    evaluation.to_csv(tmp_path / "eval.csv", index=False)
    for name, frame in (("ref", reference), ("eval", evaluation)):
        pd.DataFrame(nli_scores(frame), columns=CLASSES).to_csv(tmp_path / f"{name}_preds.csv", index=False)
    completed = subprocess.run(
        [sys.executable, "manage.py", "stresstest", "--reference", str(tmp_path / "ref.csv"), "--evaluation",
         str(tmp_path / "eval.csv"), "--label-col", "relation", "--task", "nli", "--text-features",
         "premise, hypothesis", "--reference-predictions", str(tmp_path / "ref_preds.csv"),
         "--evaluation-predictions", str(tmp_path / "eval_preds.csv"), "--categories", "model_performance",
         "drift", "--output", str(tmp_path / "report.json"), "--quiet"],
        cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["run"]["model_task"] == MODEL_TASK_NATURAL_LANGUAGE_INFERENCE
    assert _tests(report)["text_vocabulary_drift"]["status"] == "completed"
    assert "natural language inference model" in completed.stdout


def test_numbers_and_lone_surrogates_in_a_text_feature_are_made_text_and_said_in_the_run_notes():
    reference = reviews(200, 8).astype({"text": object})
    evaluation = reviews(200, 9).astype({"text": object})
    reference.loc[3, "text"] = 2024                 # a review reading "2024", as a CSV or JSON reader gives it
    evaluation.loc[[5, 6], "text"] = [7, 2.5]
    evaluation.loc[0, "text"] = b"caf\xe9 au lait".decode("utf-8", "surrogateescape")   # bytes that were not UTF-8
    seen = []

    def predict(frame):
        seen.append(frame["text"].copy())
        return np.full(len(frame), 0.5)

    report = run_stress_test(reference=reference, evaluation=evaluation, model_task=MODEL_TASK_BINARY_CLASSIFICATION,
                             config=RunConfig.from_dict({"categories": ["TEST_CATEGORY_TYPE_DRIFT"]}),
                             data_params=DataParams(label_col="label", text_features=["text"]),
                             model=FunctionModel(predict_df=predict, model_task=MODEL_TASK_BINARY_CLASSIFICATION))
    texts = pd.concat(seen)
    assert texts.map(lambda value: isinstance(value, str)).all()
    assert {"2024", "7", "2.5", "caf\ufffd au lait"} <= set(texts)
    notes = " ".join(report["run"]["notes"])
    assert "Text feature 'text' of the reference dataset holds 1 numbers (e.g. '2024' in row 3); they are read as " \
           "text." in notes
    assert "holds 2 numbers" in notes
    assert "lone surrogates, from bytes that were not UTF-8) in 1 rows (e.g. row 0); they are replaced with U+FFFD" \
        in notes
    assert all(test["status"] != "error" for category in report["categories"] for test in category["tests"])
    with pytest.raises(DataLoadError, match="Text feature 'text' of the evaluation dataset holds values that are not "
                                            "text .e.g. True in row 1"):
        run_stress_test(reference=reference, evaluation=evaluation.assign(text=evaluation["text"].where(
            evaluation.index != 1, True)), model_task=MODEL_TASK_BINARY_CLASSIFICATION, config=RunConfig(),
            data_params=DataParams(label_col="label", text_features=["text"]), model=FunctionModel(
                predict_df=predict, model_task=MODEL_TASK_BINARY_CLASSIFICATION))
