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
- MRR: 1 / the expected rank of the first row with relevance > 0. Queries without one are left out.
- Average Rank: normalised per query, mean over the r relevant rows (relevance > 0) of (rank - (r + 1) / 2) /
  (rows - r): 0 when they hold the top r places, 1 when they hold the bottom r, 0.5 for a random order. Lower is
  better; queries with no relevant row or only relevant rows are left out (the order cannot be judged). Raising every
  grade, or adding rows, with the model unchanged leaves it unchanged, where the raw mean rank would grow.
- Rank Correlation: Spearman correlation of score and relevance within the query; queries of fewer than two rows or
  constant relevance are left out.
- Tied scores never take the file's row order: a row's rank is its expected rank under a random order of its ties
  (the mean of the tied places); NDCG gives a tie group's rows the mean discount of the places it spans (as
  scikit-learn's `ndcg_score`), and MRR takes the expected place of the first relevant row of the first tie group
  holding one, (g + 1) / (r + 1) for r relevant rows among g tied rows.
- Average Normalised Rank (the subset versions of Average Rank): mean over the relevant rows of (rank in the WHOLE
  query - 0.5) / rows of the query, 0.5 for a random order. A subset keeps each row's place in its whole query, so
  the value does not depend on how many of a query's rows the subset holds: a subset that grows in share with the
  model unchanged keeps its value, and a subset of whole queries is on the same scale as the overall value.

- A list whose rows all share one relevance grade leaves every metric undefined (any order is as good as another):
  it is not counted, rather than counted as perfect (NDCG, MRR) or as bad.

Subsets cut queries' lists down to their own rows, and a metric on a cut-down list is not on the scale of whole
lists: it depends on the list's length (MRR and NDCG rise on shorter lists) and on how different its documents are
(a value range of the feature the score is built on holds near-identical documents, which even the best model
orders little better than at random). `length_matched_baseline` gives, per list length m, the metric's mean over
queries cut to m random rows: the yardstick for a subset whose rows are spread over its queries like random rows
(a category, whole queries); categories/tabular/ranking.py compares a value range with itself on the reference.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from stresstests.engine.errors import DataLoadError

RANKING_METRICS = ("ndcg", "mrr", "average_rank", "rank_correlation")
AVERAGE_NORMALIZED_RANK = "average_normalized_rank"
GROUPED_RANKING_METRICS = (*RANKING_METRICS, AVERAGE_NORMALIZED_RANK)


def query_column(ranking_info: dict[str, Any] | None) -> str | None:
    if not ranking_info:
        return None
    column = ranking_info.get("query_col")
    return str(column) if column else None


def check_ranking_data(reference: pd.DataFrame, evaluation: pd.DataFrame, ranking_info: dict | None,
                       label_col: str | None) -> str:
    """The query column of a ranking run; DataLoadError saying what is missing or wrong otherwise."""
    column = query_column(ranking_info)
    if column is None:
        raise DataLoadError("A ranking run needs the column that groups rows into queries: "
                            "data_params.ranking_info.query_col (--query-col on the command line).")
    for name in ("nqueries", "nrows_per_query"):
        value = ranking_info.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise DataLoadError(f"data_params.ranking_info.{name} must be a whole number of at least 1 (or null for "
                                f"all), not {value!r}.")
    if not isinstance(ranking_info.get("drop_query_id", True), bool):
        raise DataLoadError("data_params.ranking_info.drop_query_id must be true or false, not "
                            f"{ranking_info['drop_query_id']!r}.")
    for name, frame in (("reference", reference), ("evaluation", evaluation)):
        if column not in frame.columns:
            raise DataLoadError(f"Query column {column!r} is not in the {name} dataset.")
        if frame[column].isna().any():
            raise DataLoadError(f"Query column {column!r} has empty values in the {name} dataset; every row needs "
                                "its query.")
    if label_col is None:
        raise DataLoadError("A ranking run needs a label column (relevance grades).")
    return column


def keeps_query_id(ranking_info: dict | None) -> bool:
    """RIME's drop_query_id: false gives the model the query column as an input (it is never a tested feature).
    Unset, the query column is dropped, as before ranking_info had the option."""
    return bool(ranking_info) and ranking_info.get("drop_query_id") is False


def sample_queries(frame: pd.DataFrame, ranking_info: dict, seed: int) -> np.ndarray:
    """Positions of the rows kept by RIME's ranking_info sampling: `nqueries` queries drawn at random (all when
    unset), and at most `nrows_per_query` random rows of each (all when unset), in the frame's order."""
    queries = frame[ranking_info["query_col"]].to_numpy()
    rng = np.random.default_rng(seed)
    keep = np.ones(len(frame), dtype=bool)
    nqueries = ranking_info.get("nqueries")
    distinct = pd.unique(queries)
    if nqueries is not None and nqueries < len(distinct):
        keep &= np.isin(queries, rng.choice(distinct, size=nqueries, replace=False))
    per_query = ranking_info.get("nrows_per_query")
    if per_query is not None:
        order = rng.permutation(len(frame))                 # random rows first within each query
        position = pd.Series(order).groupby(queries[order]).cumcount().to_numpy()
        within = np.empty(len(frame), dtype=np.int64)
        within[order] = position
        keep &= within < per_query
    return np.flatnonzero(keep)


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
    return frame.groupby("query")["score"].rank(ascending=False, method="average").to_numpy()


def per_query(metric: str, labels: np.ndarray, scores: np.ndarray, codes: np.ndarray, k: int | None = None
              ) -> pd.DataFrame:
    """The metric per (group, query) list: columns group, query, value (NaN where undefined), rows."""
    relevance, queries = split_labels(labels)
    frame = pd.DataFrame({"group": codes, "query": queries, "score": np.asarray(scores, dtype=float),
                          "relevance": relevance})
    if metric == AVERAGE_NORMALIZED_RANK:     # the place in the whole query, before the rows are split into groups
        whole = frame.groupby("query", sort=False)["score"]
        frame["normalized_rank"] = (whole.rank(ascending=False, method="average") - 0.5) / whole.transform("size")
    lists = frame.groupby(["group", "query"], sort=False)
    # Tied scores: a row's rank is the expected rank under a random order of its ties (the mean of the tied
    # positions), never the row order of the file.
    frame["rank"] = lists["score"].rank(ascending=False, method="average")
    frame["relevant"] = frame["relevance"] > 0
    if metric == "ndcg":
        # As scikit-learn's ndcg_score: a tie group's gains share the mean discount of the positions it spans.
        frame["first"] = lists["score"].rank(ascending=False, method="min")
        frame["last"] = lists["score"].rank(ascending=False, method="max")
        frame["ideal_rank"] = lists["relevance"].rank(ascending=False, method="first")
        longest = int(frame["last"].max()) if len(frame) else 0
        discounts = 1.0 / np.log2(np.arange(2, longest + 2))
        if k is not None:
            discounts[k:] = 0.0
        cumulative = np.concatenate([[0.0], np.cumsum(discounts)])
        first, last = frame["first"].to_numpy(dtype=np.int64), frame["last"].to_numpy(dtype=np.int64)
        frame["dcg"] = frame["relevance"] * (cumulative[last] - cumulative[first - 1]) / (last - first + 1)
        ideal = frame["ideal_rank"].to_numpy(dtype=np.int64)
        frame["idcg"] = frame["relevance"] * discounts[ideal - 1] if len(frame) else 0.0
        sums = frame.groupby(["group", "query"], sort=False)[["dcg", "idcg"]].sum()
        value = sums["dcg"] / sums["idcg"].where(sums["idcg"] > 0)
    elif metric == "mrr":
        # 1 / the expected rank of the first relevant row: the rows above the first tie group holding a relevant
        # row, plus the expected place of the first of its r relevant rows among its g rows, (g + 1) / (r + 1).
        frame["first"] = lists["score"].rank(ascending=False, method="min")
        frame["last"] = lists["score"].rank(ascending=False, method="max")
        relevant = frame[frame["relevant"]]
        top = relevant.groupby(["group", "query"], sort=False)["first"].transform("min")
        leading = relevant[relevant["first"] == top]
        stats = leading.groupby(["group", "query"], sort=False).agg(first=("first", "first"), last=("last", "first"),
                                                                     relevant=("relevance", "size"))
        expected = stats["first"] - 1 + (stats["last"] - stats["first"] + 2) / (stats["relevant"] + 1)
        value = (1.0 / expected).reindex(lists.size().index)
    elif metric == "average_rank":
        # Normalised per query: 0 when the r relevant rows hold the top r places, 1 when they hold the bottom r,
        # 0.5 for a random order; undefined when no row or every row is relevant. More relevant rows (or a longer
        # list) with the model unchanged leave it unchanged, where the raw mean rank would grow.
        size = lists["score"].transform("size")
        count = frame["relevant"].groupby([frame["group"], frame["query"]], sort=False).transform("sum")
        with np.errstate(divide="ignore", invalid="ignore"):
            frame["normalized"] = (frame["rank"] - (count + 1) / 2) / (size - count)
        value = frame[frame["relevant"] & (count < size)].groupby(["group", "query"], sort=False)["normalized"].mean()
        value = value.reindex(lists.size().index)
    elif metric == AVERAGE_NORMALIZED_RANK:
        value = frame[frame["relevant"]].groupby(["group", "query"], sort=False)["normalized_rank"].mean()
        value = value.reindex(lists.size().index)
    elif metric == "rank_correlation":
        # Pearson correlation of the within-list ranks, from per-list sums (one pass, no per-list Python call).
        frame["a"] = lists["score"].rank(method="average")
        frame["b"] = lists["relevance"].rank(method="average")
        frame["ab"], frame["aa"], frame["bb"] = frame["a"] * frame["b"], frame["a"] ** 2, frame["b"] ** 2
        sums = frame.groupby(["group", "query"], sort=False)[["a", "b", "ab", "aa", "bb"]].sum()
        n = lists.size().reindex(sums.index).to_numpy(dtype=float)
        covariance = sums["ab"] - sums["a"] * sums["b"] / n
        spread_a, spread_b = sums["aa"] - sums["a"] ** 2 / n, sums["bb"] - sums["b"] ** 2 / n
        # Lists of one row or a constant score or relevance have no correlation (rounding leaves ~1e-12, not 0).
        defined = (n >= 2) & (spread_a > 1e-9) & (spread_b > 1e-9)
        with np.errstate(divide="ignore", invalid="ignore"):
            value = (covariance / np.sqrt(spread_a * spread_b)).where(defined)
    else:
        raise KeyError(metric)
    # A list whose rows share one relevance grade has no order to judge: every order is as good as any other.
    graded = lists["relevance"].nunique() >= 2
    value = value.reindex(graded.index).where(graded)
    rows = lists.size()
    return pd.DataFrame({"group": rows.index.get_level_values(0), "query": rows.index.get_level_values(1),
                         "value": value.reindex(rows.index).to_numpy(), "rows": rows.to_numpy()})


def length_matched_baseline(metric: str, labels: np.ndarray, scores: np.ndarray, lengths: np.ndarray,
                            rng: np.random.Generator, permutations: int, k: int | None = None) -> pd.Series:
    """Per list length m in `lengths`: the metric's mean over the queries of at least m rows, each cut to m of its
    rows drawn at random (`permutations` draws, pooled). NaN where no such list defines the metric."""
    _, queries = split_labels(labels)
    lengths = np.unique(np.asarray(lengths, dtype=np.int64))
    lengths = lengths[lengths > 0]
    sizes = pd.Series(queries).groupby(queries).transform("size").to_numpy()
    values = []
    for _ in range(permutations):
        order = np.lexsort((rng.random(len(queries)), queries))
        position = np.empty(len(queries), dtype=np.int64)
        position[order] = np.arange(len(queries)) - np.searchsorted(queries[order], queries[order], side="left")
        rows, codes = [], []
        for index, length in enumerate(lengths):    # the first `length` rows of each query in the random order
            chosen = np.flatnonzero((position < length) & (sizes >= length))
            rows.append(chosen)
            codes.append(np.full(len(chosen), index, dtype=np.int64))
        rows_all, codes_all = np.concatenate(rows), np.concatenate(codes)
        lists = per_query(metric, np.asarray(labels, dtype=float)[rows_all], np.asarray(scores, dtype=float)[rows_all],
                          codes_all, k)
        values.append(lists[["group", "value"]])
    pooled = pd.concat(values).groupby("group")["value"].mean()
    return pd.Series(pooled.reindex(range(len(lengths))).to_numpy(), index=lengths)


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
