"""Ranking (MODEL_TASK_RANKING, pointwise learning-to-rank): query ids, labels and the per-query metrics.

A ranking model scores each row (one real number, higher = ranked higher, as a pointwise `model.py` returns); rows
are grouped into queries by `data_params.ranking_info.query_col`, and each query's rows are ranked by score. Labels
are relevance grades (any real number, higher = more relevant).

Ranking labels carry their query: the engine keeps them as an (n, 2) array of [relevance, query code], so every
place that groups rows (subsets, failing vs passing rows, fairness groups) passes the query along with the label and
the metrics can rank within queries. As RIME does, a metric is computed per query and averaged over the queries (a
subset restricts each query's list to the subset's rows); its standard error is that of a mean over queries.

- NDCG: sum of relevance / log2(rank + 1) over the list ranked by score, divided by the same for the ideal order
  (linear gains, as scikit-learn's `ndcg_score`; `k` truncates both). Queries without a relevant row are left out.
- MRR: 1 / rank of the first row with relevance > 0. Queries without one are left out.
- Average Rank: mean rank (1 = top) of the rows with relevance > 0; lower is better.
- Rank Correlation: Spearman correlation of score and relevance within the query; queries of fewer than two rows or
  constant relevance are left out.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from stresstests.engine.errors import DataLoadError

RANKING_METRICS = ("ndcg", "mrr", "average_rank", "rank_correlation")


def query_column(ranking_info: dict[str, Any] | None) -> str | None:
    if not ranking_info:
        return None
    column = ranking_info.get("query_col")
    return str(column) if column else None


def check_ranking_data(reference: pd.DataFrame, evaluation: pd.DataFrame, ranking_info: dict | None,
                       label_col: str | None) -> str:
    """The query column of a ranking run; DataLoadError saying what is missing otherwise."""
    column = query_column(ranking_info)
    if column is None:
        raise DataLoadError("A ranking run needs data_params.ranking_info.query_col, the column that groups rows "
                            "into queries.")
    for name, frame in (("reference", reference), ("evaluation", evaluation)):
        if column not in frame.columns:
            raise DataLoadError(f"Query column {column!r} is not in the {name} dataset.")
        if frame[column].isna().any():
            raise DataLoadError(f"Query column {column!r} has empty values in the {name} dataset; every row needs "
                                "its query.")
    if label_col is None:
        raise DataLoadError("A ranking run needs a label column (relevance grades).")
    return column


def ranking_labels(relevance: np.ndarray | None, queries: pd.Series) -> np.ndarray | None:
    """[relevance, query code] per row, or None without relevance."""
    if relevance is None:
        return None
    codes, _ = pd.factorize(queries, use_na_sentinel=True)
    return np.column_stack([np.asarray(relevance, dtype=float), codes.astype(float)])


def split_labels(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels, dtype=float)
    return labels[:, 0], labels[:, 1].astype(np.int64)


def query_ranks(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Rank (1 = top) of each row within its query by score."""
    _, queries = split_labels(labels)
    frame = pd.DataFrame({"query": queries, "score": np.asarray(scores, dtype=float)})
    return frame.groupby("query")["score"].rank(ascending=False, method="first").to_numpy()


def per_query(metric: str, labels: np.ndarray, scores: np.ndarray, codes: np.ndarray, k: int | None = None
              ) -> pd.DataFrame:
    """The metric per (group, query) list: columns group, value (NaN where undefined), rows."""
    relevance, queries = split_labels(labels)
    frame = pd.DataFrame({"group": codes, "query": queries, "score": np.asarray(scores, dtype=float),
                          "relevance": relevance})
    lists = frame.groupby(["group", "query"], sort=False)
    frame["rank"] = lists["score"].rank(ascending=False, method="first")
    frame["relevant"] = frame["relevance"] > 0
    if metric == "ndcg":
        frame["ideal_rank"] = lists["relevance"].rank(ascending=False, method="first")
        cut = np.inf if k is None else k
        frame["dcg"] = np.where(frame["rank"] <= cut, frame["relevance"] / np.log2(frame["rank"] + 1), 0.0)
        frame["idcg"] = np.where(frame["ideal_rank"] <= cut, frame["relevance"] / np.log2(frame["ideal_rank"] + 1),
                                 0.0)
        sums = frame.groupby(["group", "query"], sort=False)[["dcg", "idcg"]].sum()
        value = sums["dcg"] / sums["idcg"].where(sums["idcg"] > 0)
    elif metric == "mrr":
        first = frame[frame["relevant"]].groupby(["group", "query"], sort=False)["rank"].min()
        value = (1.0 / first).reindex(lists.size().index)
    elif metric == "average_rank":
        value = frame[frame["relevant"]].groupby(["group", "query"], sort=False)["rank"].mean()
        value = value.reindex(lists.size().index)
    elif metric == "rank_correlation":
        frame["score_rank"] = lists["score"].rank(method="average")
        frame["relevance_rank"] = lists["relevance"].rank(method="average")
        value = frame.groupby(["group", "query"], sort=False)[["score_rank", "relevance_rank"]].apply(_spearman)
    else:
        raise KeyError(metric)
    rows = lists.size()
    return pd.DataFrame({"group": rows.index.get_level_values(0), "value": value.reindex(rows.index).to_numpy(),
                         "rows": rows.to_numpy()})


def _spearman(ranks: pd.DataFrame) -> float:
    if len(ranks) < 2:
        return np.nan
    a, b = ranks["score_rank"].to_numpy(), ranks["relevance_rank"].to_numpy()
    if a.std() == 0 or b.std() == 0:
        return np.nan
    return float(np.corrcoef(a, b)[0, 1])


def grouped_ranking_metric(metric: str, labels: np.ndarray, scores: np.ndarray, codes: np.ndarray, n_groups: int,
                           k: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean over queries, its standard error, rows) per group; NaN where no query defines the metric."""
    values, errors, rows = np.full(n_groups, np.nan), np.full(n_groups, np.nan), np.zeros(n_groups, dtype=np.int64)
    if len(codes) == 0:
        return values, errors, rows
    lists = per_query(metric, labels, scores, codes, k)
    rows_per_group = lists.groupby("group")["rows"].sum()
    rows[rows_per_group.index.to_numpy()] = rows_per_group.to_numpy()
    defined = lists.dropna(subset=["value"])
    summary = defined.groupby("group")["value"].agg(["mean", "std", "count"])
    index = summary.index.to_numpy()
    values[index] = summary["mean"].to_numpy()
    counts = summary["count"].to_numpy()
    # A group with a single query has no spread to estimate: its error is unknown, so it is never "significant".
    errors[index] = np.where(counts > 1, summary["std"].fillna(0).to_numpy() / np.sqrt(np.maximum(counts, 1)), np.nan)
    return values, errors, rows
