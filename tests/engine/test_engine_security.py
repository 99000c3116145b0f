"""Data Poisoning Detection and Evasion Attack Detection: planted flipped labels and a planted query burst are
found with the right severity; random halves of the reference, in random time order, pass."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stresstests.engine.vocabulary import SEVERITY_ALERT, SEVERITY_PASS, SEVERITY_WARNING
from tests.engine.data_side_helpers import LABEL, load_fraud, make_context, mixed_data, run_test

NUMERIC = ["income", "age", "tenure", "score", "balance"]


def half(seed: int, n: int = 4000) -> tuple[pd.DataFrame, pd.DataFrame]:
    reference = mixed_data(n, seed)
    return reference, reference.sample(frac=0.5, random_state=seed).reset_index(drop=True)


def flipped_copies(reference: pd.DataFrame, count: int, jitter: float) -> pd.DataFrame:
    copies = reference.sample(count, random_state=7).reset_index(drop=True)
    copies[LABEL] = 1 - copies[LABEL]
    if jitter:
        noise = np.random.default_rng(8).normal(0, jitter, (count, len(NUMERIC)))
        copies[NUMERIC] = copies[NUMERIC].to_numpy() * (1 + noise)
    return copies


@pytest.mark.parametrize("key, jitter", [("exact_match_label_flipping", 0.0), ("near_match_label_flipping", 1e-5)])
def test_flipped_copies_of_reference_rows_alert(key, jitter):
    reference, evaluation = half(1)
    evaluation = pd.concat([evaluation, flipped_copies(reference, 15, jitter)], ignore_index=True)
    [case] = run_test(key, make_context(reference, evaluation))
    assert case.severity == SEVERITY_ALERT
    assert case.metrics["flagged_rows"] == 15
    assert {e["row"] for e in case.examples} <= set(range(len(evaluation) - 15, len(evaluation)))
    assert "label flipping" in case.finding


def test_exact_match_ignores_slightly_changed_rows_that_near_match_catches():
    reference, evaluation = half(2)
    evaluation = pd.concat([evaluation, flipped_copies(reference, 3, 1e-5)], ignore_index=True)
    ctx = make_context(reference, evaluation)
    assert run_test("exact_match_label_flipping", ctx)[0].metrics["flagged_rows"] == 0
    assert run_test("near_match_label_flipping", ctx)[0].metrics["flagged_rows"] == 3


@pytest.mark.parametrize("key, jitter", [("exact_match_label_flipping", 0.0), ("near_match_label_flipping", 1e-5)])
def test_a_single_flipped_row_is_within_chance(key, jitter):
    # One row of 2,000 may be chance (the reference of 4,000 shows none, which bounds its rate only loosely):
    # reported in the metrics, not a Warning; eight are significantly more.
    reference, evaluation = half(1)
    [case] = run_test(key, make_context(reference, pd.concat([evaluation, flipped_copies(reference, 1, jitter)],
                                                             ignore_index=True)))
    assert (case.severity, case.metrics["flagged_rows"]) == (SEVERITY_PASS, 1)
    [case] = run_test(key, make_context(reference, pd.concat([evaluation, flipped_copies(reference, 8, jitter)],
                                                             ignore_index=True)))
    assert (case.severity, case.metrics["flagged_rows"]) == (SEVERITY_WARNING, 8)


@pytest.mark.parametrize("seed", range(2))
def test_exact_match_is_calibrated_on_the_references_own_conflicting_duplicates(seed):
    # Survey answers with noisy labels: identical rows with different labels are ordinary (hundreds per half).
    rng = np.random.default_rng(3)
    n = 6000
    full = pd.DataFrame({"age": rng.integers(18, 81, n), "q1": rng.integers(0, 3, n), "q2": rng.integers(0, 3, n),
                         "q3": rng.choice(list("xyz"), n), "gender": rng.choice(["F", "M"], n)})
    full[LABEL] = (rng.random(n) < 0.3 + 0.3 * (full["q1"] == 2)).astype(int)
    reference = full.sample(frac=0.5, random_state=seed)
    evaluation = full.drop(reference.index).reset_index(drop=True)
    reference = reference.reset_index(drop=True)
    [case] = run_test("exact_match_label_flipping", make_context(reference, evaluation))
    assert case.metrics["flagged_rows"] > 100 and case.metrics["reference_flagged_rows"] > 100
    assert case.severity == SEVERITY_PASS
    copies = reference.sample(300, random_state=seed).assign(**{LABEL: lambda f: 1 - f[LABEL]})
    [case] = run_test("exact_match_label_flipping", make_context(reference, pd.concat([evaluation, copies])))
    assert case.severity == SEVERITY_ALERT


@pytest.mark.parametrize("seed", range(4))
def test_label_flipping_passes_a_random_half_of_the_reference(seed):
    reference, evaluation = half(seed)
    ctx = make_context(reference, evaluation)
    for key in ("exact_match_label_flipping", "near_match_label_flipping"):
        [case] = run_test(key, ctx)
        assert case.severity == SEVERITY_PASS and case.metrics["flagged_rows"] == 0, key


@pytest.mark.parametrize("seed", range(3))
def test_near_match_passes_disjoint_random_halves(seed):
    # Two disjoint halves of one sample: about one evaluation row in a random split falls below the reference's
    # minimum inter-class distance by chance, so a calibration on that minimum alone warns here.
    full = mixed_data(8000, seed)
    reference = full.sample(frac=0.5, random_state=seed)
    evaluation = full.drop(reference.index)
    [case] = run_test("near_match_label_flipping",
                      make_context(reference.reset_index(drop=True), evaluation.reset_index(drop=True)))
    assert case.severity == SEVERITY_PASS and case.metrics["flagged_rows"] == 0


@pytest.mark.parametrize("seed", range(3))
def test_near_match_on_the_fraud_data_passes_a_random_split_and_finds_flipped_copies(seed):
    # One continuous feature (the amount) and categoricals: opposite-label rows a millionth of a standard deviation
    # apart are ordinary here (the reference minimum is ~7e-7), so only far closer copies count as near matches.
    reference, _ = load_fraud()
    half = reference.sample(frac=0.5, random_state=seed)
    rest = reference.drop(half.index).reset_index(drop=True)
    half = half.reset_index(drop=True)
    clean = make_context(half, rest, label_col="label", pred_col="preds")
    [case] = run_test("near_match_label_flipping", clean)
    assert case.severity == SEVERITY_PASS and case.metrics["flagged_rows"] == 0
    copies = half.sample(15, random_state=seed).reset_index(drop=True)
    copies["label"] = 1 - copies["label"]
    copies["transaction_amount"] *= 1 + np.random.default_rng(seed).normal(0, 1e-9, 15)
    poisoned = make_context(half, pd.concat([rest, copies], ignore_index=True), label_col="label", pred_col="preds")
    [case] = run_test("near_match_label_flipping", poisoned)
    # A copy whose source row already has an opposite-label twin a millionth away in the reference is no nearer to
    # "another class" than to its new one, and rightly not flagged; the others are, and only they.
    assert case.severity in (SEVERITY_WARNING, SEVERITY_ALERT) and 10 <= case.metrics["flagged_rows"] <= 15
    assert case.metrics["p_value"] < 0.01
    assert {e["row"] for e in case.examples} <= set(range(len(rest), len(rest) + 15))


def timestamped(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    start = pd.Timestamp("2026-01-01")
    order = np.random.default_rng(seed).permutation(len(frame))
    return frame.assign(ts=[start + pd.Timedelta(minutes=int(i)) for i in order])


def test_a_burst_of_near_identical_queries_alerts():
    reference, evaluation = half(3)
    reference, evaluation = timestamped(reference, 1), timestamped(evaluation, 2)
    probe = evaluation.iloc[[0] * 120].reset_index(drop=True)
    steps = np.random.default_rng(4).normal(0, 0.01, (120, len(NUMERIC)))
    probe[NUMERIC] = probe[NUMERIC].to_numpy() * (1 + steps)
    probe["ts"] = [pd.Timestamp("2026-01-01 10:00") + pd.Timedelta(seconds=i) for i in range(120)]
    ctx = make_context(reference, pd.concat([evaluation, probe], ignore_index=True), timestamp_col="ts")
    [case] = run_test("stateful_black_box_detection", ctx)
    assert case.severity == SEVERITY_ALERT
    assert case.metrics["flagged_queries"] >= 50
    assert all(e["row"] >= len(evaluation) for e in case.examples)
    assert "query-based evasion attack" in case.finding


@pytest.mark.parametrize("seed", range(4))
def test_ordinary_queries_pass(seed):
    reference, evaluation = half(seed)
    ctx = make_context(timestamped(reference, seed), timestamped(evaluation, seed + 10), timestamp_col="ts")
    [case] = run_test("stateful_black_box_detection", ctx)
    assert case.severity == SEVERITY_PASS, case.metrics


def test_evasion_detection_without_a_timestamp_is_skipped_with_the_reason():
    from stresstests.engine.base import SkipTest

    reference, evaluation = half(0, n=1000)
    with pytest.raises(SkipTest, match="timestamp_col"):
        run_test("stateful_black_box_detection", make_context(reference, evaluation))
