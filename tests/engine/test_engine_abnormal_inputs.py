"""Abnormal Inputs: every planted defect is found on its feature, with failing rows as examples and the right
severity; clean data passes; the reference against a random half of itself raises nothing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stresstests.engine.vocabulary import SEVERITY_ALERT, SEVERITY_PASS, SEVERITY_WARNING
from tests.engine.data_side_helpers import (
    PREDICTION,
    case_for,
    data_only,
    failing,
    load_fraud,
    make_context,
    mixed_data,
    reference_and_random_half,
    run_test,
)

ABNORMAL_TESTS = ["numeric_outlier", "out_of_range", "unseen_categorical", "rare_categories", "null_check",
                  "feature_type_check", "capitalization", "empty_string", "req_characters", "inconsistencies"]
N = 4000
DEFECT_SHARE = 0.05


def defect_rows(n: int = N, share: float = DEFECT_SHARE, seed: int = 3) -> np.ndarray:
    return np.sort(np.random.default_rng(seed).choice(n, int(n * share), replace=False))


def plant(column: str, values, *, rows: np.ndarray | None = None, model_fails: bool = True,
          labelled: bool = True) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Reference and evaluation from one distribution; `values` written into `column` of the chosen evaluation rows.
    With `model_fails`, the model gets those rows backwards (as a model fed garbage would)."""
    reference, evaluation = mixed_data(N, 1), mixed_data(N, 2)
    rows = defect_rows() if rows is None else rows
    if column in evaluation and pd.api.types.is_numeric_dtype(evaluation[column]) and isinstance(values, str):
        evaluation[column] = evaluation[column].astype(object)
    evaluation.loc[rows, column] = values
    if model_fails:
        evaluation.loc[rows, PREDICTION] = 1 - evaluation.loc[rows, PREDICTION]
    if not labelled:
        reference, evaluation = data_only(reference), data_only(evaluation)
    return reference, evaluation, rows


def check(key: str, column: str, values, **options) -> tuple:
    reference, evaluation, rows = plant(column, values, **options)
    cases = run_test(key, make_context(reference, evaluation))
    return cases, case_for(cases, column), rows


def assert_clean_data_passes(key: str) -> None:
    assert failing(run_test(key, make_context(mixed_data(N, 1), mixed_data(N, 2)))) == {}


# ---- one class at a time: planted defect found, same data without it passes ---------------------------------------
def test_numeric_outliers_alert_when_the_model_fails_on_them():
    cases, income, rows = check("numeric_outlier", "income", 5e7)
    assert income.severity == SEVERITY_ALERT
    assert income.metrics["num_failing_rows"] >= len(rows)
    assert set(rows[:20]) <= set(income.details["failing_row_indices"])
    assert {"row": int(rows[0]), "value": 5e7} in income.examples
    assert income.metrics["impact_auc"] > 0.1 and "AUC is" in income.finding
    assert failing(cases) == {"income": SEVERITY_ALERT}
    assert_clean_data_passes("numeric_outlier")


def test_numeric_outliers_the_model_handles_well_are_a_warning():
    _, income, _ = check("numeric_outlier", "income", 5e7, model_fails=False)
    assert income.severity == SEVERITY_WARNING


@pytest.mark.parametrize("key, column, value, fragment", [
    ("out_of_range", "age", -5.0, "outside the expected range"),
    ("rare_categories", "plan", "legacy", "rare in the reference ('legacy')"),
    ("null_check", "age", np.nan, "never missing in the reference"),     # score and channel have reference nulls
    ("feature_type_check", "age", "unknown", "are not numbers ('unknown')"),
    ("capitalization", "city", "rome", "only in capitalisation ('rome')"),
    ("empty_string", "channel", "", "are empty strings"),
    ("req_characters", "email", "user.example.com", "lack a required character ('.' '@')"),
])
def test_a_planted_defect_in_5_percent_of_rows_alerts_on_its_feature_only_without_predictions(key, column, value,
                                                                                             fragment):
    cases, case, rows = check(key, column, value, labelled=False)
    assert failing(cases) == {column: SEVERITY_ALERT}
    assert case.metrics["num_failing_rows"] >= len(rows) and case.metrics["failing_rows_share"] >= 0.05
    assert fragment in case.finding
    assert case.examples[0]["row"] == int(rows[0])
    assert_clean_data_passes(key)


def test_a_single_negative_age_is_shown_but_not_raised_since_one_row_cannot_measure_an_effect():
    # Issue 13: a finding on fewer rows than min_num_samples is capped (shown, not raised); the old expectation
    # (a Warning from one row) was the defect.
    _, age, _ = check("out_of_range", "age", -5.0, rows=np.array([17]))
    assert age.severity == SEVERITY_PASS
    assert age.metrics["severity_capped"] is True and age.details["severity_before_cap"] == SEVERITY_WARNING
    assert age.examples == [{"row": 17, "value": -5.0}]
    assert "too few of them" in age.finding and "Not raised: it rests on 1 row" in age.finding


def test_unseen_categorical_finds_the_new_city():
    cases, city, rows = check("unseen_categorical", "city", "Tokyo")
    assert city.severity == SEVERITY_ALERT and "'Tokyo'" in city.finding
    assert city.details["unseen_values"] == {"Tokyo": len(rows)}
    assert city.details["failing_row_indices"][:3] == [int(r) for r in rows[:3]]
    assert failing(cases) == {"city": SEVERITY_ALERT}
    assert_clean_data_passes("unseen_categorical")


def test_required_characters_can_be_configured_per_column():
    reference, evaluation, _ = plant("plan", "basic-x", labelled=False)
    cases = run_test("req_characters", make_context(reference, evaluation),
                     column_specific_params={"plan": {"required_characters": ["-"]}})
    assert case_for(cases, "plan").metrics["num_failing_rows"] > 0.9 * N


def test_inconsistencies_alert_on_cities_in_the_wrong_country():
    reference, evaluation, rows = plant("country", "FRA", model_fails=False, labelled=False)
    evaluation.loc[rows, "city"] = "Rome"
    cases = run_test("inconsistencies", make_context(reference, evaluation))
    pair = case_for(cases, "country")
    assert set(pair.features) == {"city", "country"} and pair.severity == SEVERITY_ALERT
    assert pair.examples[0]["values"] == {pair.features[0]: evaluation.loc[rows[0], pair.features[0]],
                                          pair.features[1]: evaluation.loc[rows[0], pair.features[1]]}
    assert failing(cases) == {"+".join(pair.features): SEVERITY_ALERT}
    assert_clean_data_passes("inconsistencies")


def test_exclude_columns_skips_a_feature():
    reference, evaluation, _ = plant("city", "Tokyo")
    cases = run_test("unseen_categorical", make_context(reference, evaluation), exclude_columns=["city"])
    assert "city" not in {f for c in cases for f in c.features}


# ---- noise and real data ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(5))
def test_reference_against_a_random_half_of_itself_raises_no_abnormal_input(seed):
    ctx = reference_and_random_half(seed)
    for key in ABNORMAL_TESTS:
        assert failing(run_test(key, ctx)) == {}, key


@pytest.mark.parametrize("seed", range(3))
def test_reference_against_a_random_half_raises_nothing_without_predictions(seed):
    reference = data_only(mixed_data(5000, seed))
    ctx = make_context(reference, reference.sample(frac=0.5, random_state=seed))
    for key in ABNORMAL_TESTS:
        assert failing(run_test(key, ctx)) == {}, key


def test_fraud_unseen_browser_versions_are_found_with_their_rows():
    reference, evaluation = load_fraud()
    ctx = make_context(reference, evaluation)
    cases = run_test("unseen_categorical", ctx)
    assert set(failing(cases)) == {"browser_version"}
    browser = case_for(cases, "browser_version")
    assert set(browser.details["unseen_values"]) == {"chrome 62.0", "chrome 63.0"}
    first = browser.examples[0]
    assert evaluation.loc[first["row"], "browser_version"] == first["value"]
