"""Profiling infers RIME's column types and records what normal looks like in the reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stresstests.engine.config import DataProfiling
from stresstests.engine.profile import build_profile

N = 400
RNG = np.random.default_rng(3)
FRAME = pd.DataFrame({
    "amount": RNG.gamma(2.0, 10.0, N),
    "rating": RNG.integers(1, 6, N),                       # 5 distinct numbers: categorical
    "is_new": RNG.integers(0, 2, N),                      # 0/1: boolean
    "flag": RNG.choice(["true", "false"], N),             # boolean strings
    "city": RNG.choice(["Rome", "Paris", "Berlin"], N),
    "customer_id": np.arange(N) + 10_000,                 # all distinct integers: identifier
    "email": [f"user{i}@example.com" for i in range(N)],  # all distinct strings: identifier
    "review": ["the product arrived late and the box was damaged " + str(i % 7) for i in range(N)],
    "signup": pd.date_range("2024-01-01", periods=N, freq="h").astype(str),
    "code": [f"AB-{i % 20}" for i in range(N)],
})


@pytest.fixture(scope="module")
def profile():
    frame = FRAME.copy()
    frame.loc[:39, "city"] = None
    return build_profile(frame, settings=DataProfiling(num_quantiles=101))


def test_column_types_follow_rime_column_type_info(profile):
    assert profile.feature_types() == {
        "amount": "numeric", "rating": "categorical", "is_new": "boolean", "flag": "boolean", "city": "categorical",
        "customer_id": "identifier", "email": "identifier", "review": "text", "signup": "datetime",
        "code": "categorical",
    }


def test_numeric_columns_get_range_moments_and_quantiles(profile):
    amount = profile["amount"]
    assert amount.min == pytest.approx(FRAME["amount"].min()) and amount.max == pytest.approx(FRAME["amount"].max())
    assert amount.quantile(0.5) == pytest.approx(FRAME["amount"].median(), rel=0.02)
    assert amount.range_kind == "[0, inf)" and not amount.is_integer


def test_categories_have_frequencies_and_null_rates(profile):
    city = profile["city"]
    assert city.null_rate == pytest.approx(0.1)
    assert set(city.categories) == {"Rome", "Paris", "Berlin"}
    assert sum(city.categories.values()) == pytest.approx(1.0)
    assert not city.unseen_values_allowed and profile["email"].unseen_values_allowed


def test_string_columns_record_required_characters_and_capitalization(profile):
    assert profile["email"].required_characters == ".@"
    assert profile["code"].required_characters == "-"
    assert profile["code"].capitalization == "upper"
    assert profile["city"].capitalization == "title"


def test_forced_categorical_features_and_correlations():
    frame = FRAME.assign(twice=FRAME["amount"] * 2)
    profile = build_profile(frame, categorical_features=["amount"])
    assert profile["amount"].type == "categorical"
    assert "twice" in profile.correlations.columns
