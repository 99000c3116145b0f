"""Data Cleanliness: duplicates, imbalance, collinearity, leakage and required columns are found when planted and
not otherwise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stresstests.engine.vocabulary import SEVERITY_ALERT, SEVERITY_PASS
from stresstests.engine.base import SkipTest
from tests.engine.data_side_helpers import (
    LABEL,
    case_for,
    data_only,
    failing,
    load_fraud,
    make_context,
    mixed_data,
    run_test,
)

N = 4000


def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    return mixed_data(N, 1), mixed_data(N, 2)


def dataset_case(cases, dataset: str):
    [case] = [c for c in cases if c.subset == dataset]
    return case


# ---- duplicate rows ----------------------------------------------------------------------------------------------
def test_duplicate_rows_alert_on_the_dataset_with_copied_rows():
    reference, evaluation = frames()
    evaluation = pd.concat([evaluation, evaluation.iloc[:400]], ignore_index=True)
    cases = run_test("duplicate_rows", make_context(reference, evaluation))
    copied = dataset_case(cases, "evaluation")
    assert copied.severity == SEVERITY_ALERT and copied.metrics["num_duplicate_rows"] == 400
    assert copied.examples[0] == {"row": N}
    assert "400 duplicate rows" in copied.finding
    assert dataset_case(cases, "reference").severity == SEVERITY_PASS


def test_duplicate_rows_pass_on_distinct_rows():
    assert failing(run_test("duplicate_rows", make_context(*frames()))) == {}


def test_duplicates_that_low_cardinality_columns_produce_by_chance_pass():
    rng = np.random.default_rng(0)
    flags = pd.DataFrame({f"flag{i}": rng.choice(["yes", "no"], 3000) for i in range(4)})
    cases = run_test("duplicate_rows", make_context(flags, flags.copy(), label_col=None, pred_col=None))
    assert all(c.metrics["duplicate_share"] > 0.9 for c in cases)
    assert failing(cases) == {}


# ---- label imbalance ---------------------------------------------------------------------------------------------
def test_label_imbalance_alerts_when_one_class_dominates():
    reference, evaluation = frames()
    reference[LABEL] = (np.random.default_rng(4).random(N) < 0.01).astype(int)
    cases = run_test("label_imbalance", make_context(reference, evaluation))
    skewed = dataset_case(cases, "reference")
    assert skewed.severity == SEVERITY_ALERT and skewed.metrics["majority_share"] > 0.98
    assert "class 0 makes up" in skewed.finding
    assert dataset_case(cases, "evaluation").severity == SEVERITY_PASS


def test_label_imbalance_passes_on_a_moderate_split():
    assert failing(run_test("label_imbalance", make_context(*frames()))) == {}


# ---- high feature correlation ------------------------------------------------------------------------------------
def test_high_feature_correlation_alerts_on_a_near_copy():
    reference, evaluation = frames()
    reference["income_eur"] = reference["income"] * 0.92 + np.random.default_rng(1).normal(0, 10, N)
    evaluation["income_eur"] = evaluation["income"] * 0.92
    cases = run_test("high_feature_correlation", make_context(reference, evaluation))
    assert failing(cases) == {"income+income_eur": SEVERITY_ALERT}
    assert "almost collinear" in case_for(cases, "income_eur").finding


def test_high_feature_correlation_passes_on_moderately_correlated_features():
    cases = run_test("high_feature_correlation", make_context(*frames()))
    assert case_for(cases, "balance").metrics["correlation"] > 0.5       # score-balance: correlated, not collinear
    assert failing(cases) == {}


def test_a_high_correlation_on_few_rows_is_judged_on_its_confidence_bound():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, 110)
    small = pd.DataFrame({"x": x, "y": x + rng.normal(0, 0.42, 110), "z": rng.normal(0, 1, 110)})
    cases = run_test("high_feature_correlation", make_context(small, small, label_col=None, pred_col=None))
    pair = case_for(cases, "y")
    assert pair.metrics["correlation"] > 0.9 > pair.metrics["correlation_lower_bound"]
    assert pair.severity == SEVERITY_PASS


# ---- mutual information ------------------------------------------------------------------------------------------
def with_leak(frame: pd.DataFrame, *, leaks: bool, seed: int) -> pd.DataFrame:
    """`status` copies the label (2 % noise) when it leaks, else is independent of it."""
    rng = np.random.default_rng(seed)
    source = frame[LABEL].to_numpy() if leaks else rng.integers(0, 2, len(frame))
    flipped = np.where(rng.random(len(frame)) < 0.02, 1 - source, source)
    return frame.assign(status=np.where(flipped == 1, "closed", "open"))


def test_high_mutual_information_alerts_on_a_feature_that_leaks_the_label():
    reference, evaluation = frames()
    cases = run_test("high_mi_feature_to_label",
                     make_context(with_leak(reference, leaks=True, seed=1), with_leak(evaluation, leaks=True, seed=2)))
    assert failing(cases) == {"status": SEVERITY_ALERT}
    assert "leak" in case_for(cases, "status").finding


def test_high_mutual_information_passes_on_ordinary_features():
    assert failing(run_test("high_mi_feature_to_label", make_context(*frames()))) == {}


def test_mutual_information_decrease_alerts_when_the_leak_is_gone_in_evaluation():
    reference, evaluation = frames()
    ctx = make_context(with_leak(reference, leaks=True, seed=1), with_leak(evaluation, leaks=False, seed=2))
    cases = run_test("mi_decrease_feature_to_label", ctx)
    assert failing(cases) == {"status": SEVERITY_ALERT}
    status = case_for(cases, "status")
    assert status.metrics["reference_mutual_information"] > 0.7 > 0.1 > status.metrics["evaluation_mutual_information"]


def test_mutual_information_decrease_passes_when_the_feature_stays_informative():
    reference, evaluation = frames()
    ctx = make_context(with_leak(reference, leaks=True, seed=1), with_leak(evaluation, leaks=True, seed=2))
    assert failing(run_test("mi_decrease_feature_to_label", ctx)) == {}


# ---- required features -------------------------------------------------------------------------------------------
def test_required_features_alert_when_a_required_feature_is_missing():
    cases = run_test("required_features", make_context(*frames()), required_feats=["age", "salary"])
    assert {c.severity for c in cases} == {SEVERITY_ALERT}
    assert cases[0].features == ["salary"] and "salary" in cases[0].finding


def test_required_features_pass_when_all_are_present():
    cases = run_test("required_features", make_context(*frames()), required_feats=["age", "city"])
    assert failing(cases) == {}


def test_required_only_warns_about_extra_columns():
    reference, evaluation = frames()
    cases = run_test("required_features", make_context(data_only(reference), data_only(evaluation)),
                     required_feats=list(data_only(reference).columns[:-1]), required_only=True)
    assert {c.severity for c in cases} == {"SEVERITY_WARNING"}
    assert cases[0].features == [reference.columns[-3]]


def test_required_features_is_skipped_when_not_configured():
    with pytest.raises(SkipTest):
        run_test("required_features", make_context(*frames()))


def test_fraud_data_is_clean():
    reference, evaluation = load_fraud()
    ctx = make_context(reference, evaluation)
    for key in ["duplicate_rows", "label_imbalance", "high_feature_correlation", "high_mi_feature_to_label",
                "mi_decrease_feature_to_label"]:
        assert failing(run_test(key, ctx)) == {}, key
