"""The fraud example end to end from the command line: every category, country protected (issue 4, done-when 2)."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from stresstests.engine.cli import main
from tests.shared_data import FRAUD, require_fraud_data

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fraud_model(tmp_path: Path) -> Path:
    require_fraud_data()
    folder = tmp_path / "fraud_model"
    folder.mkdir()
    shutil.copy(ROOT / "examples" / "fraud" / "model.py", folder)
    shutil.copy(FRAUD / "fraud_model.catb", folder)
    return folder


def test_fraud_example_reports_transformations_attacks_and_fairness(fraud_model: Path, tmp_path: Path):
    output = tmp_path / "report.json"
    stdout = io.StringIO()
    status = main(["--model", str(fraud_model), "--reference", str(FRAUD / "fraud_ref.csv"),
                   "--evaluation", str(FRAUD / "fraud_eval.csv"), "--label-col", "label", "--pred-col", "preds",
                   "--timestamp-col", "timestamp", "--categories", "all", "--protected-features", "country",
                   "--output", str(output), "--quiet"], stdout=stdout, stderr=io.StringIO())
    assert status == 0
    report = json.loads(output.read_text())
    tests = {test["test_type"]: test for category in report["categories"] for test in category["tests"]}

    # Transformations: CatBoost cannot read text in its numeric feature; the error is kept for the user.
    type_change = next(c for c in tests["feature_type_change"]["test_cases"] if c["features"] == ["transaction_amount"])
    assert type_change["severity"] == "SEVERITY_ALERT" and "CatBoostError" in type_change["metrics"]["error"]
    assert {c["features"][0] for c in tests["null_substitution"]["test_cases"]} >= {"transaction_amount", "country"}

    # Attacks ran on the model with examples of before -> after.
    for key in ("sensitivity", "multi_feat_sensitivity", "vulnerability"):
        assert tests[key]["test_cases"], key
    vulnerability = tests["vulnerability"]["test_cases"]
    assert {c["features"][0] for c in vulnerability} >= {"transaction_amount", "country", "city"}
    assert any(c["examples"] for c in vulnerability)

    # Fairness over country: Brazil is flagged far less often than Germany; city is a proxy for country.
    parity = tests["demographic_parity"]["test_cases"][0]
    assert parity["features"] == ["country"] and parity["subset"] == "country = BRA"
    assert parity["severity"] == "SEVERITY_ALERT"
    assert len(parity["details"]["groups"]) == 6
    proxies = {tuple(c["features"]): c["severity"] for c in tests["protected_proxies"]["test_cases"]}
    assert proxies[("country", "city")] == "SEVERITY_ALERT"
    assert "Bias and Fairness" in stdout.getvalue() and "Adversarial" in stdout.getvalue()
