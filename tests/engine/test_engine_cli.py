"""The stresstest CLI: the fraud example end to end (issue 3, Done-when 1), no-model modes, exit statuses, errors."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stresstests.engine import cli
from stresstests.engine.base import REGISTRY
from stresstests.engine.vocabulary import (
    SEVERITY_PASS, TEST_CATEGORY_TYPE_ABNORMAL_INPUTS, TEST_CATEGORY_TYPE_DATA_CLEANLINESS, TEST_CATEGORY_TYPE_DRIFT,
    TEST_CATEGORY_TYPE_MODEL_PERFORMANCE, TEST_CATEGORY_TYPE_SUBSET_PERFORMANCE,
    TEST_CATEGORY_TYPE_SUBSET_PERFORMANCE_DEGRADATION,
)
from tests.engine.core_helpers import scored_frame
from tests.shared_data import FRAUD, require_fraud_data

ROOT = Path(__file__).resolve().parents[2]
ISSUE_3_CATEGORIES = {
    TEST_CATEGORY_TYPE_MODEL_PERFORMANCE, TEST_CATEGORY_TYPE_SUBSET_PERFORMANCE,
    TEST_CATEGORY_TYPE_SUBSET_PERFORMANCE_DEGRADATION, TEST_CATEGORY_TYPE_DRIFT, TEST_CATEGORY_TYPE_ABNORMAL_INPUTS,
    TEST_CATEGORY_TYPE_DATA_CLEANLINESS,
}


def _cli(*args: str) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    status = cli.main(list(args), stdout=stdout, stderr=stderr)
    return status, stdout.getvalue(), stderr.getvalue()


@pytest.fixture(scope="module")
def fraud_run(tmp_path_factory):
    require_fraud_data()
    folder = tmp_path_factory.mktemp("fraud")
    shutil.copy(ROOT / "examples/fraud/model.py", folder)
    shutil.copy(FRAUD / "fraud_model.catb", folder)
    output = folder / "report.json"
    result = _cli("--model", str(folder / "model.py"), "--reference", str(FRAUD / "fraud_ref.csv"),
                  "--evaluation", str(FRAUD / "fraud_eval.csv"), "--label-col", "label", "--pred-col", "preds",
                  "--timestamp-col", "timestamp", "--categories", "all", "--seed", "1", "--output", str(output),
                  "--fail-on", "alert")
    return result, json.loads(output.read_text())


def _tests(report: dict) -> dict[str, dict]:
    return {t["test_type"]: t for c in report["categories"] for t in c["tests"]}


def test_the_fraud_example_runs_every_category_of_issue_3(fraud_run):
    (status, stdout, _), report = fraud_run
    ran = {c["category"] for c in report["categories"] if c["total"] > 0}
    present = {test.category for test in REGISTRY.values()} & ISSUE_3_CATEGORIES
    assert present <= ran
    assert {TEST_CATEGORY_TYPE_MODEL_PERFORMANCE, TEST_CATEGORY_TYPE_SUBSET_PERFORMANCE,
            TEST_CATEGORY_TYPE_SUBSET_PERFORMANCE_DEGRADATION} <= ran
    assert report["run"]["inputs"]["model"] is True
    assert any("sandboxed" in note or "own process" in note for note in report["run"]["notes"])
    assert status == cli.EXIT_FAILED_TESTS
    assert "Model Performance" in stdout and "Report written to" in stdout


def test_the_fraud_report_names_the_degradation(fraud_run):
    _, report = fraud_run
    auc = report["run"]["model_metrics"]["auc"]
    assert auc["reference"] == pytest.approx(0.654, abs=0.005) and auc["evaluation"] == pytest.approx(0.585, abs=0.005)
    assert _tests(report)["auc"]["severity"] != SEVERITY_PASS
    performance = next(f for f in report["key_findings"] if f["kind"] == "performance")
    assert "AUC 0.654 -> 0.585" in performance["title"] and "auc" in {t["test_type"] for t in performance["tests"]}


@pytest.mark.skipif(not any(t.category == TEST_CATEGORY_TYPE_DRIFT for t in REGISTRY.values()),
                    reason="drift tests not written yet")
def test_the_fraud_report_names_the_drift(fraud_run):
    _, report = fraud_run
    drift = next(c for c in report["categories"] if c["category"] == TEST_CATEGORY_TYPE_DRIFT)
    assert drift["severity"] != SEVERITY_PASS
    failing = {f for t in drift["tests"] for f in t["failing_features"]}
    assert "browser_version" in failing
    assert any(f["kind"] == "drift" and "browser_version" in f["features"] for f in report["key_findings"])


@pytest.fixture(scope="module")
def small_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("small")
    scored_frame(800, seed=1).to_csv(folder / "ref.csv", index=False)
    scored_frame(800, seed=2, signal=1.0).to_csv(folder / "eval.csv", index=False)
    return folder


def test_predictions_only_runs_without_a_model(small_files):
    output = small_files / "preds_only.json"
    status, _, _ = _cli("--reference", str(small_files / "ref.csv"), "--evaluation", str(small_files / "eval.csv"),
                        "--label-col", "label", "--pred-col", "preds", "--categories", "model_performance",
                        "--output", str(output), "--quiet")
    report = json.loads(output.read_text())
    assert status == cli.EXIT_OK                      # no --fail-on: alerts do not change the exit status
    assert report["run"]["inputs"] == {"labels": True, "predictions": True, "model": False, "model_source": None}
    assert _tests(report)["auc"]["severity"] != SEVERITY_PASS


def test_data_only_runs_skip_what_needs_predictions(small_files):
    output = small_files / "data_only.json"
    status, _, _ = _cli("--reference", str(small_files / "ref.csv"), "--evaluation", str(small_files / "eval.csv"),
                        "--label-col", "label", "--features-not-in-model", "preds", "--categories",
                        "model_performance", "--output", str(output), "--quiet")
    tests = _tests(json.loads(output.read_text()))
    assert status == cli.EXIT_OK
    assert all(t["status"] == "skipped" for t in tests.values())


def test_fail_on_warning_exits_3_when_a_warning_or_worse_is_reached(small_files):
    status, stdout, _ = _cli("--reference", str(small_files / "ref.csv"), "--evaluation", str(small_files / "eval.csv"),
                             "--label-col", "label", "--pred-col", "preds", "--categories", "model_performance",
                             "--output", str(small_files / "w.json"), "--fail-on", "warning", "--quiet")
    assert status == cli.EXIT_FAILED_TESTS and "--fail-on warning" in stdout
    status, _, _ = _cli("--reference", str(small_files / "ref.csv"), "--evaluation", str(small_files / "ref.csv"),
                        "--label-col", "label", "--pred-col", "preds", "--categories", "model_performance",
                        "--output", str(small_files / "p.json"), "--fail-on", "warning", "--quiet")
    assert status == cli.EXIT_OK


@pytest.mark.parametrize("change,message", [
    ({"--reference": "missing.csv"}, "missing.csv does not exist"),
    ({"--label-col": "target"}, "Label column 'target' is not in the reference dataset"),
    ({"--categories": "speed"}, "Unknown test category 'speed'"),
    ({"--task": "ordinal"}, "Unknown --task 'ordinal'"),   # ranking is a task since issue 17
    ({"--model": "nowhere/model.py"}, "does not exist"),
])
def test_bad_input_exits_2_with_a_clear_message(small_files, change, message):
    options = {"--reference": str(small_files / "ref.csv"), "--evaluation": str(small_files / "eval.csv"),
               "--label-col": "label", "--pred-col": "preds", "--categories": "model_performance",
               "--output": str(small_files / "bad.json")}
    for key, value in change.items():
        options[key] = value if key != "--reference" else str(small_files / value)
    args = [item for pair in options.items() for item in pair] + ["--quiet", "--no-sandbox"]
    status, _, stderr = _cli(*args)
    assert status == cli.EXIT_BAD_INPUT
    assert message in stderr and "Traceback" not in stderr


def test_manage_py_stresstest_wraps_the_same_cli(small_files):
    completed = subprocess.run(
        [sys.executable, "manage.py", "stresstest", "--reference", str(small_files / "ref.csv"),
         "--evaluation", str(small_files / "eval.csv"), "--label-col", "nope", "--output", str(small_files / "m.json")],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert completed.returncode == cli.EXIT_BAD_INPUT
    assert "Label column 'nope' is not in the reference dataset" in completed.stderr


def test_a_config_file_sets_thresholds_and_data_params(small_files):
    config = small_files / "config.json"
    config.write_text(json.dumps({
        "test_run_config": {"categories": ["model_performance"],
                            "test_suite_config": {"individual_tests_config": {"auc": {"severity_thresholds": [0.9, 0.95]}}}},
        "data_params": {"label_col": "label", "pred_col": "preds"},
    }))
    output = small_files / "configured.json"
    status, _, _ = _cli("--reference", str(small_files / "ref.csv"), "--evaluation", str(small_files / "eval.csv"),
                        "--config", str(config), "--output", str(output), "--quiet")
    auc = _tests(json.loads(output.read_text()))["auc"]
    assert status == cli.EXIT_OK and auc["thresholds"] == [0.9, 0.95] and auc["status"] == "completed"
    config.write_text("{not json")
    status, _, stderr = _cli("--reference", str(small_files / "ref.csv"), "--evaluation", str(small_files / "eval.csv"),
                             "--config", str(config), "--output", str(output), "--quiet")
    assert status == cli.EXIT_BAD_INPUT and "is not valid JSON" in stderr
