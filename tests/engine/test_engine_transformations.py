"""Transformations: each corruption is found on the feature the model mishandles; features it ignores pass."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from stresstests.engine.vocabulary import (
    MODEL_TASK_MULTICLASS_CLASSIFICATION, MODEL_TASK_REGRESSION, SEVERITY_ALERT, SEVERITY_PASS, SEVERITY_WARNING,
)
from tests.engine.model_side_helpers import (
    CountingModel,
    case_for,
    failing_features,
    make_context,
    run_test,
    sigmoid,
    three_classes,
)

CITY_WEIGHTS = {"Rome": -1.0, "Paris": 0.0, "Berlin": 1.0}


def crashes_on_null_city(frame: pd.DataFrame) -> np.ndarray:
    if frame["city"].isna().any():
        raise ValueError("Input contains NaN in column 'city'")
    return sigmoid(2 * np.nan_to_num(frame["x1"].to_numpy(dtype=float)))


def city_lookup(frame: pd.DataFrame, *, case_sensitive: bool = True) -> np.ndarray:
    city = frame["city"] if case_sensitive else frame["city"].str.title()
    # An unknown city falls back to a large default weight, as a careless target encoding does.
    return sigmoid(frame["x1"].astype(float) + city.map(CITY_WEIGHTS).fillna(4.0).astype(float))


def test_null_substitution_alerts_on_the_feature_that_crashes_the_model_and_keeps_the_error():
    model = CountingModel(crashes_on_null_city)
    cases = run_test("null_substitution", make_context(model))
    case = case_for(cases, "city")
    assert case.severity == SEVERITY_ALERT
    assert "Input contains NaN in column 'city'" in case.metrics["error"]
    assert "ValueError" in case.finding
    for ignored in ("age", "email", "noise"):
        assert case_for(cases, ignored).severity == SEVERITY_PASS


def test_null_substitution_passes_a_crash_when_errors_are_ignored_but_still_reports_it():
    cases = run_test("null_substitution", make_context(CountingModel(crashes_on_null_city)), ignore_errors=True)
    case = case_for(cases, "city")
    assert case.severity == SEVERITY_PASS
    assert case.metrics["errors_ignored"] is True and "NaN" in case.metrics["error"]


def test_ignore_errors_is_read_from_rimes_nested_performance_change_config():
    cases = run_test("null_substitution", make_context(CountingModel(crashes_on_null_city)),
                     performance_change_config={"ignore_errors": True})
    assert case_for(cases, "city").severity == SEVERITY_PASS


def test_a_transformation_family_is_scored_in_one_model_call():
    model = CountingModel(lambda frame: sigmoid(2 * frame["x1"].astype(float)))
    cases = run_test("outlier_substitution", make_context(model))
    assert {c.features[0] for c in cases} == {"x1", "age", "noise"}
    assert model.calls == 1
    assert model.rows == 3 * 500      # the clean rows came from the prediction cache


def test_out_of_range_substitution_finds_an_extrapolating_feature_not_an_ignored_one():
    model = CountingModel(lambda frame: sigmoid(3 * frame["x1"].astype(float)))
    cases = run_test("out_of_range_substitution", make_context(model, labels=False))
    x1 = case_for(cases, "x1")
    assert x1.severity == SEVERITY_ALERT
    assert x1.metrics["metric"] == "average_prediction_change"
    assert x1.importance_score > 0.3
    assert failing_features(cases) == {"x1"}
    example = x1.examples[0]
    assert example["feature"] == "x1" and abs(example["after"]) > 4 + abs(example["before"]) - 4
    json.dumps([c.examples for c in cases])


def test_out_of_range_impact_uses_the_metric_when_labels_exist():
    model = CountingModel(lambda frame: sigmoid(3 * frame["x1"].astype(float)))
    x1 = case_for(run_test("out_of_range_substitution", make_context(model)), "x1")
    assert x1.metrics["metric"] == "auc"
    assert x1.metrics["clean_metric"] > 0.85 and x1.metrics["transformed_metric"] < 0.7
    assert x1.severity == SEVERITY_ALERT


def test_integer_features_receive_integer_outliers():
    model = CountingModel(lambda frame: sigmoid(frame["x1"].astype(float)))
    age = case_for(run_test("outlier_substitution", make_context(model)), "age")
    after = [example["after"] for example in age.examples]
    assert all(float(value).is_integer() for value in after)


def test_unseen_categorical_flags_a_careless_encoding_and_passes_a_model_without_the_feature():
    careless = run_test("unseen_categorical_substitution", make_context(CountingModel(city_lookup), labels=False))
    assert case_for(careless, "city").severity == SEVERITY_ALERT
    assert case_for(careless, "city").examples[0]["after"] == "unseen_city"
    ignoring = run_test("unseen_categorical_substitution",
                        make_context(CountingModel(lambda f: sigmoid(f["x1"].astype(float))), labels=False))
    assert failing_features(ignoring) == set()


def test_capitalization_change_separates_case_sensitive_and_case_insensitive_models():
    sensitive = run_test("capitalization_change", make_context(CountingModel(city_lookup), labels=False))
    assert case_for(sensitive, "city").severity == SEVERITY_ALERT
    assert case_for(sensitive, "city").details["transformed_example"]["after"] in {"ROME", "PARIS", "BERLIN"}
    insensitive = CountingModel(lambda frame: city_lookup(frame, case_sensitive=False))
    relaxed = run_test("capitalization_change", make_context(insensitive, labels=False))
    assert case_for(relaxed, "city").severity == SEVERITY_PASS


def test_feature_type_change_alerts_when_the_model_cannot_parse_the_value():
    model = CountingModel(lambda frame: sigmoid(frame["x1"].to_numpy(dtype=float)))
    cases = run_test("feature_type_change", make_context(model))
    x1 = case_for(cases, "x1")
    assert x1.severity == SEVERITY_ALERT and "could not convert" in x1.metrics["error"]
    assert case_for(cases, "city").severity == SEVERITY_PASS


def test_empty_string_substitution_targets_string_features_with_nulls():
    def one_hot_channel(frame: pd.DataFrame) -> np.ndarray:
        if (frame["channel"] == "").any():
            raise ValueError("Found unknown categories [''] in column 'channel' during transform")
        return sigmoid(frame["x1"].astype(float))

    cases = run_test("empty_string_substitution", make_context(CountingModel(one_hot_channel)))
    assert [c.features for c in cases] == [["channel"]]       # the only string feature with nulls in the reference
    assert cases[0].severity == SEVERITY_ALERT and "unknown categories" in cases[0].metrics["error"]


def test_required_characters_deletion_removes_the_at_sign_the_model_relies_on():
    def domain_model(frame: pd.DataFrame) -> np.ndarray:
        domain = frame["email"].str.split("@").str[1]
        return sigmoid(frame["x1"].astype(float) + 3 * (domain == "corp.com"))

    cases = run_test("req_characters_deletion", make_context(CountingModel(domain_model), labels=False))
    email = case_for(cases, "email")
    assert email.severity == SEVERITY_ALERT
    assert email.examples[0]["before"].startswith(email.examples[0]["after"][:4])
    assert "@" not in email.examples[0]["after"]
    assert failing_features(cases) == {"email"}


def test_an_impact_within_sampling_noise_is_not_raised_until_enough_rows_confirm_it():
    def breaks_on_rare_rows(frame: pd.DataFrame) -> np.ndarray:
        x1 = frame["x1"].astype(float)
        # Only rows with x1 > 1.4 (about 8 %) lose their prediction when noise is missing: a real but small effect.
        return np.where(frame["noise"].isna() & (x1 > 1.4), 0.0, sigmoid(2 * x1))

    model = CountingModel(breaks_on_rare_rows)
    small = case_for(run_test("null_substitution", make_context(model, labels=False), num_samples_to_simulate=60),
                     "noise")
    assert small.metrics["impact"] > 0.05 > small.metrics["impact_lower_bound"]
    assert small.severity == SEVERITY_PASS
    large = case_for(run_test("null_substitution", make_context(model, labels=False),
                              num_samples_to_simulate=2000), "noise")
    assert large.metrics["impact_lower_bound"] > 0.05
    assert large.severity == SEVERITY_WARNING


def test_regression_and_multiclass_models_are_measured_with_their_own_metric():
    extrapolating = CountingModel(lambda frame: 3 * frame["x1"].astype(float))
    regression = case_for(run_test("out_of_range_substitution",
                                   make_context(extrapolating, model_task=MODEL_TASK_REGRESSION)), "x1")
    assert regression.metrics["metric"] == "rmse" and regression.severity == SEVERITY_ALERT
    multiclass = run_test("out_of_range_substitution",
                          make_context(CountingModel(three_classes), model_task=MODEL_TASK_MULTICLASS_CLASSIFICATION))
    assert case_for(multiclass, "x1").metrics["metric"] == "multiclass_accuracy"
    assert case_for(multiclass, "x1").severity == SEVERITY_ALERT
    assert case_for(multiclass, "noise").severity == SEVERITY_PASS
