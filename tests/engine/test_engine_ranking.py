"""Ranking (MODEL_TASK_RANKING): per-query metrics averaged over queries, the ranking tests of Model Performance,
Subset Performance, Subset Performance Degradation and Bias and Fairness on planted defects and on clean data, and
the checks of ranking input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import ndcg_score

import stresstests.engine.categories  # noqa: F401  (fills the registry)
from stresstests.engine.base import REGISTRY
from stresstests.engine.config import DataParams, RunConfig
from stresstests.engine.errors import DataLoadError
from stresstests.engine.metrics import compute_metric
from stresstests.engine.ranking import per_query
from stresstests.engine.runner import build_context, run_one, run_stress_test
from stresstests.engine.vocabulary import MODEL_TASK_RANKING, SEVERITY_ALERT, SEVERITY_PASS, SEVERITY_WARNING

RANKING = MODEL_TASK_RANKING
CITIES = ["Rome", "Paris", "Berlin", "Madrid"]


def searches(n_queries: int, seed: int, *, broken_city: str | None = None, noise: float = 0.3,
             penalise_group: str | None = None, city_per_query: bool = False,
             city_shares: list[float] | None = None) -> pd.DataFrame:
    """Queries of 10 results. A hidden quality decides relevance (0-3, about a quarter of results relevant); the
    data holds `signal`, a noisy view of it, and the model's score is quality plus noise: pure noise in
    `broken_city`, pushed down for `penalise_group`. Each result has its own city (drawn with `city_shares`), or
    with `city_per_query` every result of a query has the query's city."""
    rng = np.random.default_rng(seed)
    n = n_queries * 10
    quality = rng.normal(0, 1, n)
    frame = pd.DataFrame({"query": np.repeat([f"q{seed}-{i}" for i in range(n_queries)], 10),
                          "signal": quality + rng.normal(0, 1, n), "price": rng.gamma(2, 10, n)})
    frame["city"] = (np.repeat(rng.choice(CITIES, n_queries, p=city_shares), 10) if city_per_query
                     else rng.choice(CITIES, n, p=city_shares))
    frame["group"] = rng.choice(["A", "B"], n)
    frame["relevance"] = np.digitize(quality + rng.normal(0, 0.3, n), [0.7, 1.4, 2.1])
    frame["score"] = quality + rng.normal(0, noise, n)
    if broken_city:
        rows = frame["city"] == broken_city
        frame.loc[rows, "score"] = rng.normal(0, 1, int(rows.sum()))
    if penalise_group:
        frame.loc[frame["group"] == penalise_group, "score"] -= 3
    return frame


def context(reference: pd.DataFrame, evaluation: pd.DataFrame, **data_params):
    params = {"label_col": "relevance", "pred_col": "score", "ranking_info": {"query_col": "query"}} | data_params
    ctx, _ = build_context(reference=reference, evaluation=evaluation, model_task=RANKING, config=RunConfig(),
                           data_params=DataParams(**params))
    return ctx


def run(ctx, key: str):
    return run_one(ctx, REGISTRY[key])


def failing(result) -> dict[str, str]:
    return {",".join(c.features): c.severity for c in result.cases if c.severity != SEVERITY_PASS}


# ---- metrics -------------------------------------------------------------------------------------------------------
def test_ndcg_is_the_mean_over_queries_of_scikit_learns_per_query_ndcg():
    frame = searches(30, 1)
    ctx = context(frame, frame)
    expected = np.mean([ndcg_score([g["relevance"]], [g["score"]]) for _, g in frame.groupby("query")
                        if g["relevance"].sum() > 0])
    assert compute_metric("ndcg", RANKING, ctx.reference_labels, ctx.reference_predictions) == pytest.approx(expected)


def test_metric_configs_json_sets_ndcg_at_k_for_the_run():
    frame = searches(30, 1)
    expected = np.mean([ndcg_score([g["relevance"]], [g["score"]], k=3) for _, g in frame.groupby("query")
                        if g["relevance"].sum() > 0])
    config = RunConfig.from_dict({"model_profiling": {
        "metric_configs_json": '{"normalized_discounted_cumulative_gain": {"k": 3}}'}})
    report = run_stress_test(reference=frame, evaluation=frame, config=config, model_task=RANKING,
                             data_params=DataParams(label_col="relevance", pred_col="score",
                                                    ranking_info={"query_col": "query"}))
    assert report["run"]["model_metrics"]["ndcg"]["evaluation"] == pytest.approx(expected)
    assert expected != pytest.approx(compute_metric("ndcg", RANKING, context(frame, frame).evaluation_labels,
                                                    frame["score"].to_numpy()))


def test_mrr_average_rank_and_rank_correlation_per_query():
    labels = np.array([[0, 0], [2, 0], [0, 0], [1, 1], [0, 1]], dtype=float)    # [relevance, query]
    scores = np.array([0.9, 0.5, 0.1, 0.2, 0.3])
    assert compute_metric("mrr", RANKING, labels, scores) == pytest.approx((1 / 2 + 1 / 2) / 2)
    # normalised: query 0, the relevant row at 2 of 3 -> (2 - 1) / (3 - 1); query 1, at 2 of 2 -> (2 - 1) / 1
    assert compute_metric("average_rank", RANKING, labels, scores) == pytest.approx((0.5 + 1.0) / 2)
    # query 0: relevance ranks (1.5, 3, 1.5) vs score ranks (3, 2, 1), correlation 0; query 1: (2, 1) vs (1, 2), -1
    assert compute_metric("rank_correlation", RANKING, labels, scores) == pytest.approx((0.0 + -1.0) / 2)


def test_tied_scores_are_not_broken_by_row_order():
    # A constant scorer on a file sorted by relevance: with ranks taken in row order it would look perfect.
    relevance = np.array([3, 2, 1, 1, 0, 0, 0, 0], dtype=float)
    labels = np.column_stack([relevance, np.zeros(8)])
    constant = np.zeros(8)
    assert compute_metric("ndcg", RANKING, labels, constant) == pytest.approx(ndcg_score([relevance], [constant]))
    assert compute_metric("ndcg", RANKING, labels, constant) < 0.9
    assert compute_metric("mrr", RANKING, labels, constant) == pytest.approx(1 / ((8 + 1) / (4 + 1)))
    assert compute_metric("average_rank", RANKING, labels, constant) == pytest.approx(0.5)


@pytest.mark.parametrize("k", [None, 3])
def test_ndcg_with_ties_matches_scikit_learn(k):
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"query": np.repeat(np.arange(60), 9), "relevance": rng.integers(0, 4, 540),
                          "score": rng.integers(0, 3, 540).astype(float)})      # many ties
    labels = np.column_stack([frame["relevance"], frame["query"]]).astype(float)
    expected = np.mean([ndcg_score([g["relevance"]], [g["score"]], k=k) for _, g in frame.groupby("query")
                        if g["relevance"].sum() > 0])
    lists = per_query("ndcg", labels, frame["score"].to_numpy(), np.zeros(len(frame), dtype=np.int64), k)
    assert lists["value"].mean() == pytest.approx(expected)


def test_mrr_with_ties_is_the_expected_reciprocal_of_the_expected_rank_and_average_rank_averages_orders():
    # Rows 0-1 tie on top, one of them relevant: the first relevant row is at 1 or 2, expected place 1.5.
    labels = np.array([[0, 0], [1, 0], [1, 0], [0, 0]], dtype=float)
    scores = np.array([1.0, 1.0, 0.5, 0.1])
    assert compute_metric("mrr", RANKING, labels, scores) == pytest.approx(1 / 1.5)
    # relevant rows at expected places 1.5 and 3 of 4, best possible mean 1.5 -> (2.25 - 1.5) / 2
    assert compute_metric("average_rank", RANKING, labels, scores) == pytest.approx(0.375)


def test_more_relevant_rows_with_the_model_unchanged_leave_average_rank_unchanged():
    # The same perfect order; the second labelling calls 3 rows relevant instead of 1: the raw mean rank goes from
    # 1 to 2, the normalised Average Rank stays at its best, 0.
    scores = np.array([4.0, 3.0, 2.0, 1.0, 0.0])
    one = np.column_stack([[1, 0, 0, 0, 0], np.zeros(5)]).astype(float)
    three = np.column_stack([[3, 2, 1, 0, 0], np.zeros(5)]).astype(float)
    assert compute_metric("average_rank", RANKING, one, scores) == 0.0
    assert compute_metric("average_rank", RANKING, three, scores) == 0.0


def test_raising_every_grade_raises_no_average_rank_problem():
    frame = searches(300, 1)
    result = run(context(frame, frame.assign(relevance=frame["relevance"] + 1)), "average_rank")
    assert result.severity in (SEVERITY_PASS, None)


# ---- model performance, subsets, degradation -----------------------------------------------------------------------
def test_a_ranking_that_got_noisier_degrades_ndcg_mrr_and_rank_correlation():
    ctx = context(searches(300, 1, noise=0.2), searches(300, 2, noise=1.5))
    for key in ("ndcg", "rank_correlation"):
        result = run(ctx, key)
        assert result.severity == SEVERITY_ALERT, key
        assert result.cases[0].metrics[f"reference_{key}"] > result.cases[0].metrics[f"evaluation_{key}"]
    assert run(ctx, "mrr").severity != SEVERITY_PASS


@pytest.mark.parametrize("key, expected", [
    ("subset_ndcg", SEVERITY_WARNING), ("subset_mrr", SEVERITY_ALERT), ("subset_average_rank", SEVERITY_ALERT),
    ("subset_rank_correlation", SEVERITY_ALERT), ("subset_drift_mrr", SEVERITY_WARNING),
    ("subset_drift_rank_correlation", SEVERITY_ALERT),
])
def test_the_city_where_the_ranking_is_random_fails_the_subset_tests(key, expected):
    # 1,600 queries: subset gaps are judged on their lower confidence bound, so the broken city needs enough queries.
    ctx = context(searches(1600, 1), searches(1600, 2, broken_city="Rome"))
    result = run(ctx, key)
    assert failing(result) == {"city": expected}
    assert next(c for c in result.cases if c.features == ["city"]).subset == "city = Rome"


@pytest.mark.parametrize("key", ["subset_ndcg", "subset_mrr", "subset_average_rank", "subset_rank_correlation"])
def test_a_city_of_whole_queries_ranked_at_random_fails_the_subset_tests(key):
    # Every result of a query is in the query's city: the Rome subset is made of whole queries, so "random rows of
    # the same queries" would be the subset itself; the subset is compared with the overall value instead.
    ctx = context(searches(800, 1, city_per_query=True), searches(800, 2, city_per_query=True, broken_city="Rome"))
    result = run(ctx, key)
    assert failing(result) == {"city": SEVERITY_ALERT}
    assert next(c for c in result.cases if c.features == ["city"]).subset == "city = Rome"


@pytest.mark.parametrize("seed", range(2))
def test_whole_query_subsets_of_a_clean_split_pass(seed):
    reference = searches(800, seed, city_per_query=True)
    queries = reference["query"].drop_duplicates().sample(frac=0.5, random_state=seed)
    ctx = context(reference, reference[reference["query"].isin(queries)])
    for key in ("subset_ndcg", "subset_mrr", "subset_average_rank", "subset_rank_correlation"):
        assert run(ctx, key).severity == SEVERITY_PASS, key


@pytest.mark.parametrize("broken", [None, "Paris"])
def test_subset_drift_average_rank_follows_the_model_not_the_subsets_share(broken):
    # Rome holds a quarter of each query's results in the reference and 70 % in the evaluation: its part of each
    # list grows, so its relevant results sit lower in that part, with the model unchanged. Only a model that
    # ranks a city at random fails.
    reference = searches(800, 1)
    evaluation = searches(800, 2, city_shares=[0.7, 0.1, 0.1, 0.1], broken_city=broken)
    result = run(context(reference, evaluation), "subset_drift_average_rank")
    city = next(c for c in result.cases if c.features == ["city"])
    if broken is None:
        assert result.severity == SEVERITY_PASS
    else:
        assert (city.severity, city.subset) == (SEVERITY_ALERT, "city = Paris")


@pytest.mark.parametrize("seed", range(3))
def test_a_random_half_of_the_reference_raises_no_ranking_performance_problem(seed):
    reference = searches(400, seed)
    queries = reference["query"].drop_duplicates().sample(frac=0.5, random_state=seed)
    evaluation = reference[reference["query"].isin(queries)]        # half of the queries, whole lists
    report = run_stress_test(
        reference=reference, evaluation=evaluation,
        config=RunConfig(categories=["model_performance", "subset_performance", "subset_performance_degradation"],
                         random_seed=seed),
        data_params=DataParams(label_col="relevance", pred_col="score", ranking_info={"query_col": "query"}),
        model_task=RANKING)
    tests = [t for c in report["categories"] for t in c["tests"]]
    assert {t["test_type"] for t in tests} >= {"ndcg", "mrr", "average_rank", "rank_correlation", "subset_ndcg",
                                               "subset_drift_average_rank"}
    bad = {t["test_type"]: t["severity"] for t in tests if t["severity"] not in (SEVERITY_PASS, None)}
    assert not bad
    assert set(report["run"]["model_metrics"]) >= {"ndcg", "mrr", "rank_correlation"}


# ---- fairness ------------------------------------------------------------------------------------------------------
def test_a_group_ranked_lower_fails_average_rank_parity_and_a_fair_ranking_passes():
    biased = context(searches(200, 1), searches(200, 2, penalise_group="B"), protected_features=["group", "city"])
    case = next(c for c in run(biased, "demographic_parity_avg_rank").cases if c.features == ["group"])
    assert case.severity == SEVERITY_ALERT and case.subset == "group = B"
    [crossed] = run(biased, "group_fairness_avg_rank").cases
    assert crossed.severity == SEVERITY_WARNING and crossed.subset.startswith("group = B & ")
    fair = context(searches(200, 1), searches(200, 2), protected_features=["group", "city"])
    assert run(fair, "demographic_parity_avg_rank").severity == SEVERITY_PASS
    assert run(fair, "group_fairness_avg_rank").severity == SEVERITY_PASS


class PenalisingModel:
    """A pointwise model.py-style scorer: one real score per row, lower for group B when `penalty`."""

    def __init__(self, penalty: float) -> None:
        self.penalty = penalty

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return frame["signal"].to_numpy(dtype=float) - self.penalty * (frame["group"] == "B").to_numpy()


@pytest.mark.parametrize("penalty, expected", [(3.0, SEVERITY_ALERT), (0.0, SEVERITY_PASS)])
def test_subset_sensitivity_avg_rank_follows_a_model_that_uses_the_group(penalty, expected):
    reference, evaluation = searches(100, 1), searches(100, 2)
    ctx, _ = build_context(reference=reference.drop(columns=["score"]), evaluation=evaluation.drop(columns=["score"]),
                           model_task=RANKING, model=PenalisingModel(penalty),
                           data_params=DataParams(label_col="relevance", ranking_info={"query_col": "query"},
                                                  protected_features=["group"]))
    result = run(ctx, "subset_sensitivity_avg_rank")
    assert result.severity == expected
    if expected == SEVERITY_ALERT:
        assert result.cases[0].subset == "group = B"


# ---- the task-independent categories -------------------------------------------------------------------------------
def test_a_ranking_run_with_every_category_runs_the_data_tests_and_lists_the_inapplicable_ones():
    from stresstests.engine.vocabulary import CATEGORY_DISPLAY_NAMES

    reference, evaluation = searches(150, 1).drop(columns=["score"]), searches(150, 2).drop(columns=["score"])
    report = run_stress_test(
        reference=reference, evaluation=evaluation, model=PenalisingModel(0.0),
        config=RunConfig(categories=list(CATEGORY_DISPLAY_NAMES), explicit_errors=True),
        data_params=DataParams(label_col="relevance", ranking_info={"query_col": "query"},
                               protected_features=["group"]),
        model_task=RANKING)
    tests = {t["test_type"]: t for c in report["categories"] for t in c["tests"]}
    completed = {key for key, t in tests.items() if t["status"] == "completed"}
    assert {"feature_drift", "prediction_drift", "regression_label_drift", "correlation_label_drift",
            "mutual_information_label_drift", "null_proportion", "numeric_outlier", "unseen_categorical",
            "duplicate_rows", "high_mi_feature_to_label", "outlier_substitution", "null_substitution",
            "sensitivity", "multi_feat_sensitivity", "class_imbalance", "protected_feature_drift"} <= completed
    inapplicable = {key: t["skip_reason"] for key, t in tests.items()
                    if "not applicable" in (t.get("skip_reason") or "")}
    assert set(inapplicable) == {"label_imbalance", "exact_match_label_flipping", "near_match_label_flipping",
                                 "chi_squared_independence"}
    assert all(reason.startswith("not applicable to ranking models: ") for reason in inapplicable.values())
    assert "subset_accuracy" not in tests      # another task's metric is left out, not listed


@pytest.mark.parametrize("shift, expected", [(0.0, SEVERITY_PASS), (1.5, SEVERITY_ALERT)])
def test_prediction_drift_watches_a_ranking_models_scores(shift, expected):
    reference, evaluation = searches(200, 1), searches(200, 2)
    evaluation["score"] += shift
    assert run(context(reference, evaluation), "prediction_drift").severity == expected


# ---- input checks --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("data_params, message", [
    ({"ranking_info": None}, "ranking_info.query_col"),
    ({"ranking_info": {"query_col": "session"}}, "Query column 'session' is not in the reference"),
    ({"label_col": None}, "needs a label column"),
])
def test_bad_ranking_input_is_refused_with_a_clear_message(data_params, message):
    frame = searches(5, 1)
    with pytest.raises(DataLoadError, match=message):
        context(frame, frame, **data_params)


@pytest.mark.parametrize("ranking_info, message", [
    ({"query_col": "query", "nqueries": 0}, "ranking_info.nqueries must be a whole number of at least 1"),
    ({"query_col": "query", "nrows_per_query": "5"}, "ranking_info.nrows_per_query must be a whole number"),
    ({"query_col": "query", "drop_query_id": "no"}, "ranking_info.drop_query_id must be true or false"),
])
def test_bad_ranking_info_options_are_refused_with_a_clear_message(ranking_info, message):
    frame = searches(5, 1)
    with pytest.raises(DataLoadError, match=message):
        context(frame, frame, ranking_info=ranking_info)


def test_nqueries_and_nrows_per_query_sample_whole_queries_and_cap_their_rows():
    frame = searches(40, 1)
    ctx = context(frame, frame, ranking_info={"query_col": "query", "nqueries": 12, "nrows_per_query": 4})
    for data in (ctx.reference, ctx.evaluation):
        sizes = data.groupby("query").size()
        assert len(sizes) == 12 and (sizes == 4).all()
    # the relevance and query of each kept row stay together (labels are built after sampling)
    assert np.array_equal(ctx.reference_labels[:, 0], ctx.reference["relevance"].to_numpy(dtype=float))


class QuerySeeingModel:
    """Scores with the query column when it is given (drop_query_id: false)."""

    def __init__(self) -> None:
        self.columns: list[str] = []

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        self.columns = list(frame.columns)
        return frame["signal"].to_numpy(dtype=float)


@pytest.mark.parametrize("drop, sees_query", [(None, False), (True, False), (False, True)])
def test_drop_query_id_false_gives_the_model_the_query_column(drop, sees_query):
    frame = searches(5, 1).drop(columns=["score"])
    info = {"query_col": "query"} | ({} if drop is None else {"drop_query_id": drop})
    model = QuerySeeingModel()
    ctx, _ = build_context(reference=frame, evaluation=frame, model_task=RANKING, model=model,
                           data_params=DataParams(label_col="relevance", ranking_info=info))
    assert ("query" in model.columns) == sees_query
    assert "query" not in ctx.schema.features        # never a tested feature


def test_the_query_column_is_not_a_feature():
    frame = searches(5, 1)
    assert "query" not in context(frame, frame).schema.features
