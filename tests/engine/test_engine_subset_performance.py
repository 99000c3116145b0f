"""Subset Performance and its Degradation: a planted weak subset is found on the right feature and subset with the
right severity; clean data, and the reference against random halves of itself, raise nothing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stresstests.engine.vocabulary import (
    MODALITY_TABULAR,
    MODEL_TASK_REGRESSION, SEVERITY_ALERT, SEVERITY_PASS, TEST_CATEGORY_TYPE_SUBSET_PERFORMANCE,
    TEST_CATEGORY_TYPE_SUBSET_PERFORMANCE_DEGRADATION,
)
from stresstests.engine.base import REGISTRY
from stresstests.engine.config import DataParams, RunConfig
from stresstests.engine.runner import run_stress_test
from tests.engine.core_helpers import context, failing, random_half, run, scored_frame

N = 6000
SUBSET_CATEGORIES = (TEST_CATEGORY_TYPE_SUBSET_PERFORMANCE, TEST_CATEGORY_TYPE_SUBSET_PERFORMANCE_DEGRADATION)


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return scored_frame(N, seed=1)


def _subset_keys(model_task: str = "MODEL_TASK_BINARY_CLASSIFICATION") -> list[str]:
    return [key for key, test in REGISTRY.items() if test.category in SUBSET_CATEGORIES and model_task in test.tasks
            and MODALITY_TABULAR in test.modalities]


def test_a_city_where_the_model_guesses_is_an_alert_on_that_city_only(reference):
    ctx = context(reference, scored_frame(N, seed=2, weak_city="Rome"))
    result = run(ctx, "subset_auc")
    assert failing(result) == {"city": SEVERITY_ALERT}
    case = next(c for c in result.cases if c.features == ["city"])
    assert case.subset == "city = Rome"
    assert case.metrics["worst_subset"] == "city = Rome"
    assert case.metrics["degraded_by"] > 0.3
    assert "subset(s) of city (city = Rome)" in case.finding
    assert [example["city"] for example in case.examples] == ["Rome"] * 5
    chart = {row["subset"]: row for row in case.details["subsets"]}
    assert chart["city = Rome"]["severity"] == SEVERITY_ALERT and chart["city = Paris"]["severity"] == SEVERITY_PASS
    assert failing(run(ctx, "subset_accuracy")) == {"city": SEVERITY_ALERT}


def test_the_same_data_without_the_weak_city_passes_every_subset_test(reference):
    ctx = context(reference, scored_frame(N, seed=2))
    severities = {key: run(ctx, key).severity for key in _subset_keys()}
    assert set(severities.values()) == {SEVERITY_PASS}, {k: v for k, v in severities.items() if v != SEVERITY_PASS}


def test_degradation_flags_a_subset_that_got_worse_but_not_one_that_was_always_weak(reference):
    newly_weak = context(reference, scored_frame(N, seed=2, weak_city="Rome"))
    assert failing(run(newly_weak, "subset_drift_auc")) == {"city": SEVERITY_ALERT}
    degraded = next(c for c in run(newly_weak, "subset_drift_auc").cases if c.features == ["city"])
    assert degraded.subset == "city = Rome" and "degraded in 1 subset(s) of city" in degraded.finding

    always_weak = context(scored_frame(N, seed=1, weak_city="Rome"), scored_frame(N, seed=2, weak_city="Rome"))
    assert run(always_weak, "subset_drift_auc").severity == SEVERITY_PASS
    assert failing(run(always_weak, "subset_auc")) == {"city": SEVERITY_ALERT}


def test_a_weak_numeric_range_is_found_in_its_quantile_bin(reference):
    evaluation = scored_frame(N, seed=2)
    top = evaluation["amount"] >= reference["amount"].quantile(0.9)
    evaluation.loc[top, "preds"] = np.random.default_rng(5).random(int(top.sum()))
    case = next(c for c in run(context(reference, evaluation), "subset_accuracy").cases if c.features == ["amount"])
    assert case.severity == SEVERITY_ALERT
    assert case.subset.startswith("amount >= ")


def test_a_tiny_subset_is_ignored_until_the_minimum_size_allows_it():
    def with_oslo(seed: int, broken: bool) -> pd.DataFrame:
        frame = scored_frame(2000, seed=seed)
        frame.loc[:11, "city"] = "Oslo"
        if broken:
            frame.loc[:11, "preds"] = 1 - frame.loc[:11, "preds"]     # every Oslo row wrong
        return frame

    reference, evaluation = with_oslo(1, broken=False), with_oslo(2, broken=True)
    assert run(context(reference, evaluation), "subset_accuracy").severity == SEVERITY_PASS
    config = RunConfig(individual_tests_config={"subset_accuracy": {"min_subset_size": 10}})
    case = next(c for c in run(context(reference, evaluation, config=config), "subset_accuracy").cases
                if c.features == ["city"])
    assert case.severity == SEVERITY_ALERT and case.subset == "city = Oslo"


def test_regression_subsets_compare_errors_relative_to_the_whole():
    rng = np.random.default_rng(0)

    def houses(seed: int, noisy_city: bool) -> pd.DataFrame:
        frame = scored_frame(N, seed=seed).drop(columns=["label", "preds"])
        frame["label"] = 2 * frame["amount"]
        noise = np.where((frame["city"] == "Rome") & noisy_city, 40.0, 10.0)
        frame["preds"] = frame["label"] + rng.normal(0, 1, N) * noise
        return frame

    ctx = context(houses(1, False), houses(2, True), model_task=MODEL_TASK_REGRESSION)
    assert failing(run(ctx, "subset_rmse")) == {"city": SEVERITY_ALERT}
    clean = context(houses(1, False), houses(2, False), model_task=MODEL_TASK_REGRESSION)
    assert run(clean, "subset_rmse").severity == SEVERITY_PASS


@pytest.mark.parametrize("seed", range(4))
def test_the_reference_against_a_random_half_of_itself_raises_nothing(reference, seed):
    report = run_stress_test(
        reference=reference, evaluation=random_half(reference, seed),
        config=RunConfig(categories=["subset_performance", "subset_performance_degradation"], random_seed=seed),
        data_params=DataParams(label_col="label", pred_col="preds"), model_task="MODEL_TASK_BINARY_CLASSIFICATION")
    counts = report["run"]["severity_counts"]
    assert counts["pass"] == len(_subset_keys()) and counts["warning"] == counts["alert"] == 0


def test_a_small_noisy_evaluation_set_raises_nothing_from_noise_alone(reference):
    """600 rows: subsets of ~60 rows whose metrics swing widely; significance and FDR control keep them quiet."""
    for seed in range(3):
        ctx = context(reference, scored_frame(600, seed=10 + seed))
        raised = {key: failing(run(ctx, key)) for key in _subset_keys()}
        assert not any(raised.values()), {k: v for k, v in raised.items() if v}


def test_an_intersection_of_features_is_split_into_combined_subsets(reference):
    evaluation = scored_frame(N, seed=2)
    weak = (evaluation["city"] == "Rome") & (evaluation["member"] == "yes")
    evaluation.loc[weak, "preds"] = np.random.default_rng(3).random(int(weak.sum()))
    ctx = context(reference, evaluation, intersections=[{"features": ["city", "member"]}])
    cases = {tuple(c.features): c for c in run(ctx, "subset_auc").cases}
    combined = cases[("city", "member")]
    assert combined.severity == SEVERITY_ALERT and combined.subset == "city = Rome & member = yes"
    assert combined.metrics["degraded_by"] > cases[("city",)].metrics["degraded_by"]
    assert combined.examples[0]["city"] == "Rome" and combined.examples[0]["member"] == "yes"


def _multiclass_rows(group: str, counts: dict[int, tuple[int, int]], start: int) -> pd.DataFrame:
    """Rows of one group: per class (members, correctly predicted); the prediction is coded in `rid` (rid % 3)."""
    rows = []
    for label, (members, correct) in counts.items():
        for i in range(members):
            predicted = label if i < correct else (label + 1) % 3
            rows.append({"group": group, "label": label, "rid": (start + len(rows)) * 3 + predicted})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("metric", ["macro_recall", "macro_f1"])
def test_degradation_compares_a_macro_metric_on_the_classes_a_subset_holds_enough_of_in_both_datasets(metric):
    # Subset g holds 12 rows of class 0 (all right) and 9 of class 1 in the reference, 9 of class 0 (all right) and
    # 12 of class 1 (5 right) in the evaluation: the same model, class for class. Averaged over the classes with 10
    # members, the reference says 1.000 (class 0) and the evaluation 0.417 (class 1): no degradation at all.
    from stresstests.engine.models import FunctionModel
    from stresstests.engine.vocabulary import MODEL_TASK_MULTICLASS_CLASSIFICATION

    rest = {label: (200, 160) for label in range(3)}
    reference = pd.concat([_multiclass_rows("g", {0: (12, 12), 1: (9, 4), 2: (5, 3)}, 0),
                           _multiclass_rows("h", rest, 100)], ignore_index=True)
    evaluation = pd.concat([_multiclass_rows("g", {0: (9, 9), 1: (12, 5), 2: (5, 3)}, 0),
                            _multiclass_rows("h", rest, 100)], ignore_index=True)
    model = FunctionModel(predict_df=lambda frame: np.eye(3)[frame["rid"].to_numpy() % 3],
                          model_task=MODEL_TASK_MULTICLASS_CLASSIFICATION)
    options = dict(model_task=MODEL_TASK_MULTICLASS_CLASSIFICATION, model=model, pred_col=None,
                   categorical_features=["group"])
    assert failing(run(context(reference, evaluation, **options), f"subset_drift_{metric}")) == {}
    # The same class getting worse in the subset is still found: class 0 of g drops from 12/12 to 2/12.
    worse = pd.concat([_multiclass_rows("g", {0: (12, 2), 1: (9, 4), 2: (5, 3)}, 0),
                       _multiclass_rows("h", rest, 100)], ignore_index=True)
    assert failing(run(context(reference, worse, **options), f"subset_drift_{metric}")) == {"group": SEVERITY_ALERT}
