"""Key findings: every Warning and Alert test case of a run, grouped by root cause and ranked (report schema v2).

Method. Many tests look at the same problem through different metrics: one weak subset fails Subset F1, Recall,
Accuracy, Precision...; one crash on a wrong type repeats on every numeric feature; a reference that is the model's
training data makes every Model Performance and Subset Performance Degradation test fail at once. A person needs the
causes, not the restatements, so each failing test case is assigned to exactly one root cause:

- `drift`: a feature whose values changed between reference and evaluation, with what points at the same feature
  (Drift and Abnormal Inputs cases, its weak subsets, its subsets' degradation). Prediction and label drift join the
  drifted feature with the largest model impact: the predictions moved because an input moved.
- `abnormal_inputs`: a feature with unusual evaluation values (Abnormal Inputs) and no Drift case: not titled as a
  change of the feature, since only a Drift test measures one.
- `subset`: a feature whose subsets the model serves worse (Subset Performance and Subset Performance Degradation).
  Two features whose flagged subsets are nearly the same rows (overlap coefficient >= 0.8, e.g. city = Sao Paolo and
  country = BRA) are one cause.
- `performance`: the model as a whole does worse on the evaluation set (Model Performance).
- `overfit_reference`: the reference looks like the model's training data (near-perfect metrics far above the
  evaluation set's). Degradation cases that only restate it (Model Performance, Subset Performance Degradation) fold
  under it instead of each raising its own finding; an evaluation value below its absolute floor still stands alone.
- `fairness` (per protected feature), `crash` (the model raises on a transformation, across features),
  `robustness` (a family of corruptions: extreme values, missing values, malformed categories), `attack`
  (adversarial tests), `data_quality` (per Data Cleanliness test), `not_run` (tests that raised an error).

Two features are merged by row overlap only when both flagged subsets are a minority of the evaluation rows (< 50 %):
a subset holding nearly every row overlaps everything. A drift title names the features that drifted (Drift cases),
most important first, each with its own statistic.

Ranking: the over-fitted reference first (it changes how every other entry reads); then worst severity; then the
kind, in the order above (a change in the data comes before what it causes, observed problems before simulated ones);
then the largest `importance_score` of the cause's cases. At most `MAX_KEY_FINDINGS` entries: beyond that, the
lowest-ranked causes of the kind with the most entries are merged (their tests stay listed), so no Warning or Alert is
ever dropped, and the merged entry's title says how many separate causes it holds and names each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stresstests.engine.vocabulary import (
    SEVERITY_ORDER,
    SEVERITY_PASS,
    TEST_CATEGORY_TYPE_ABNORMAL_INPUTS,
    TEST_CATEGORY_TYPE_ADVERSARIAL,
    TEST_CATEGORY_TYPE_BIAS_AND_FAIRNESS,
    TEST_CATEGORY_TYPE_DATA_CLEANLINESS,
    TEST_CATEGORY_TYPE_DRIFT,
    TEST_CATEGORY_TYPE_MODEL_PERFORMANCE,
    TEST_CATEGORY_TYPE_SUBSET_PERFORMANCE,
    TEST_CATEGORY_TYPE_SUBSET_PERFORMANCE_DEGRADATION,
    TEST_CATEGORY_TYPE_TRANSFORMATIONS,
    worst_severity,
)
from stresstests.engine.metrics import METRICS, is_directed, metric_priority

MAX_KEY_FINDINGS = 8
SAME_ROWS_OVERLAP = 0.8     # two flagged subsets sharing this share of the smaller one are the same rows
MIN_OVERLAP_ROWS = 20
MAX_MERGED_SUBSET_SHARE = 0.5   # only subsets that are a minority of the evaluation rows are merged by overlap
STATISTIC_LABELS = {"psi": "PSI", "jensen_shannon": "JS divergence", "kolmogorov_smirnov": "KS statistic",
                    "wasserstein_distance": "Wasserstein distance"}

KIND_DRIFT = "drift"
KIND_ABNORMAL = "abnormal_inputs"
KIND_PERFORMANCE = "performance"
KIND_SUBSET = "subset"
KIND_FAIRNESS = "fairness"
KIND_DATA_QUALITY = "data_quality"
KIND_CRASH = "crash"
KIND_ROBUSTNESS = "robustness"
KIND_ATTACK = "attack"
KIND_OVERFIT = "overfit_reference"
KIND_NOT_RUN = "not_run"
KIND_LABELS = {KIND_DRIFT: "drift", KIND_ABNORMAL: "unusual-input", KIND_PERFORMANCE: "performance",
               KIND_SUBSET: "weak-subset", KIND_FAIRNESS: "fairness", KIND_DATA_QUALITY: "data-quality",
               KIND_CRASH: "crash", KIND_ROBUSTNESS: "robustness", KIND_ATTACK: "attack"}
KIND_ORDER = (KIND_DRIFT, KIND_ABNORMAL, KIND_PERFORMANCE, KIND_SUBSET, KIND_FAIRNESS, KIND_DATA_QUALITY, KIND_CRASH,
              KIND_ROBUSTNESS, KIND_ATTACK, KIND_OVERFIT, KIND_NOT_RUN)

# Transformations that break the model the same way are one failure mode.
CORRUPTION_FAMILIES = {
    "out_of_range_substitution": "extreme values", "outlier_substitution": "extreme values",
    "null_substitution": "missing values", "empty_string_substitution": "missing values",
    "unseen_categorical_substitution": "malformed categories", "capitalization_change": "malformed categories",
    "req_characters_deletion": "malformed categories", "feature_type_change": "values of the wrong type",
}
# The metric that carries a test case's verdict, in order of preference (the first one present is shown).
KEY_METRICS = ("degraded_by", "worst_subset_minus_overall", "degradation", "estimated_accuracy_drop",
               "average_confidence_change", "calibration_mse", "psi", "jensen_shannon", "kolmogorov_smirnov",
               "impact_lower_bound", "excess_share", "average_prediction_change", "impact_ratio", "gap",
               "uncertainty_coefficient", "positive_rate_spread", "class_imbalance", "duplicate_share",
               "normalized_mutual_information", "correlation_change", "decrease", "cohens_h", "imbalance",
               "correlation", "impact")


@dataclass
class Item:
    """One failing test case with the test it belongs to."""

    category: str
    test: dict
    case: dict

    @property
    def severity(self) -> str:
        return self.case["severity"]

    @property
    def features(self) -> list[str]:
        return list(self.case.get("features") or [])

    @property
    def importance(self) -> float:
        value = self.case.get("importance_score")
        return float(value) if isinstance(value, (int, float)) and np.isfinite(value) else 0.0


@dataclass
class Group:
    kind: str
    key: tuple
    items: list[Item] = field(default_factory=list)
    merged_from: int = 1      # how many root causes this entry stands for (more than 1 only after the cap)
    parts: list[str] = field(default_factory=list)   # after the cap: one short name per merged root cause

    @property
    def severity(self) -> str:
        return worst_severity([item.severity for item in self.items])

    @property
    def features(self) -> list[str]:
        names: list[str] = []
        for item in sorted(self.items, key=_item_rank):
            names.extend(f for f in item.features if f not in names)
        return names

    @property
    def impact(self) -> float:
        return max((item.importance for item in self.items), default=0.0)

    def rank(self) -> tuple:
        # An over-fitted reference comes first whatever its severity: it changes how every other entry reads.
        return (self.kind != KIND_OVERFIT, -SEVERITY_ORDER.get(self.severity, -1), KIND_ORDER.index(self.kind),
                -self.impact)


def _item_rank(item: Item) -> tuple:
    return (-SEVERITY_ORDER[item.severity], -item.importance)


# ---- the over-fitted reference -------------------------------------------------------------------------------------
NEAR_PERFECT = 0.995       # a reference score this close to perfect ...
ERROR_RATIO = 3.0          # ... with an evaluation error at least this many times the reference's looks like training
MIN_EVALUATION_ERROR = 0.02
REGRESSION_R2 = 0.95
REGRESSION_RMSE_RATIO = 2.0


def reference_check(model_metrics: dict) -> dict | None:
    """{"overfit": True, metric, reference, evaluation, message} when the reference looks like training data.

    Classification: the primary score (AUC, or accuracy) is at least 0.995 on the reference and the evaluation error
    (1 - score) is at least three times the reference error and at least 0.02. Regression: R2 at least 0.95 on the
    reference and an evaluation RMSE at least twice the reference's. Both catch a model scored on the rows it was fit
    on, where every comparison with the reference measures over-fitting rather than change."""
    for name in ("auc", "multiclass_auc", "accuracy", "multiclass_accuracy"):
        pair = model_metrics.get(name) or {}
        reference, evaluation = pair.get("reference"), pair.get("evaluation")
        if isinstance(reference, (int, float)) and isinstance(evaluation, (int, float)):
            if (reference >= NEAR_PERFECT and 1 - evaluation >= MIN_EVALUATION_ERROR
                    and 1 - evaluation >= ERROR_RATIO * (1 - reference)):
                return _overfit(name, reference, evaluation)
            return None
    r2, rmse = model_metrics.get("r2") or {}, model_metrics.get("rmse") or {}
    if all(isinstance(v, (int, float)) for v in (r2.get("reference"), rmse.get("reference"), rmse.get("evaluation"))):
        if r2["reference"] >= REGRESSION_R2 and rmse["evaluation"] >= REGRESSION_RMSE_RATIO * rmse["reference"]:
            return _overfit("rmse", rmse["reference"], rmse["evaluation"])
    return None


def _overfit(metric: str, reference: float, evaluation: float) -> dict:
    display = METRICS[metric].display
    message = (f"The reference looks like the model's training data: {display} is {reference:.3f} on the reference "
               f"against {evaluation:.3f} on the evaluation set. Every test that compares with the reference "
               "(Model Performance, Subset Performance Degradation) then measures over-fitting, not change; use a "
               "held-out validation set as the reference.")
    return {"overfit": True, "metric": metric, "reference": reference, "evaluation": evaluation, "message": message}


# ---- grouping ------------------------------------------------------------------------------------------------------
def build_key_findings(categories: list[dict], *, overfit: dict | None = None,
                       subset_rows: SubsetRows | None = None) -> list[dict]:
    """The ranked `key_findings` entries of a report's `categories` (see the module docstring)."""
    items = [Item(category["category"], test, case) for category in categories for test in category["tests"]
             if test.get("status") == "completed" for case in test.get("test_cases", [])
             if case["severity"] != SEVERITY_PASS]
    groups = _assign(items, overfit)
    groups = _merge_same_rows(groups, subset_rows or SubsetRows({}))
    groups = _attach_dataset_drift(groups)
    not_run = [test for category in categories for test in category["tests"] if test.get("status") == "error"]
    ranked = sorted(groups, key=Group.rank)
    ranked = _cap(ranked, MAX_KEY_FINDINGS - (1 if not_run else 0))
    entries = [_entry(group, overfit) for group in ranked]
    if not_run:
        entries.append(_not_run_entry(not_run))
    return entries


def _assign(items: list[Item], overfit: dict | None) -> list[Group]:
    groups: dict[tuple, Group] = {}
    for item in items:
        kind, key = _root_cause(item, overfit)
        groups.setdefault(key, Group(kind, key)).items.append(item)
    for group in groups.values():
        if group.kind == KIND_SUBSET:
            group.kind = _feature_kind(group.items)
    return list(groups.values())


def _feature_kind(items: list[Item]) -> str:
    """A feature that drifted (a Drift-category case) is a change, and its weak subsets are part of that story;
    unusual inputs alone (Abnormal Inputs) are not a change of the feature's distribution."""
    if any(item.category == TEST_CATEGORY_TYPE_DRIFT for item in items):
        return KIND_DRIFT
    if any(item.category == TEST_CATEGORY_TYPE_ABNORMAL_INPUTS for item in items):
        return KIND_ABNORMAL
    return KIND_SUBSET


def _root_cause(item: Item, overfit: dict | None) -> tuple[str, tuple]:
    category, features = item.category, tuple(item.features)
    if category == TEST_CATEGORY_TYPE_MODEL_PERFORMANCE:
        if overfit and not _below_absolute_floor(item):
            return KIND_OVERFIT, ("overfit",)
        return KIND_PERFORMANCE, ("performance",)
    if category == TEST_CATEGORY_TYPE_SUBSET_PERFORMANCE_DEGRADATION and overfit:
        return KIND_OVERFIT, ("overfit",)
    if category in (TEST_CATEGORY_TYPE_SUBSET_PERFORMANCE, TEST_CATEGORY_TYPE_SUBSET_PERFORMANCE_DEGRADATION,
                    TEST_CATEGORY_TYPE_DRIFT, TEST_CATEGORY_TYPE_ABNORMAL_INPUTS):
        if not features:
            return KIND_DRIFT, ("dataset", item.test["test_type"])
        return KIND_SUBSET, ("feature", features)
    if category == TEST_CATEGORY_TYPE_TRANSFORMATIONS:
        if (item.case.get("metrics") or {}).get("error"):
            return KIND_CRASH, ("crash", item.test["test_type"])
        return KIND_ROBUSTNESS, ("robustness", CORRUPTION_FAMILIES.get(item.test["test_type"], item.test["test_type"]))
    if category == TEST_CATEGORY_TYPE_ADVERSARIAL:
        return KIND_ATTACK, ("attack",)
    if category == TEST_CATEGORY_TYPE_BIAS_AND_FAIRNESS:
        return KIND_FAIRNESS, ("fairness", features[:1])
    if category == TEST_CATEGORY_TYPE_DATA_CLEANLINESS:
        return KIND_DATA_QUALITY, ("data_quality", item.test["test_type"])
    return KIND_DATA_QUALITY, ("other", item.test["test_type"])


def _is_drift(item: Item) -> bool:
    return item.category in (TEST_CATEGORY_TYPE_DRIFT, TEST_CATEGORY_TYPE_ABNORMAL_INPUTS)


def _below_absolute_floor(item: Item) -> bool:
    """A Model Performance case whose evaluation value is itself under the test's absolute floor: a real problem
    whatever the reference."""
    floor = (item.test.get("params") or {}).get("performance_thresholds")
    metric = item.test["test_type"]
    value = (item.case.get("metrics") or {}).get(f"evaluation_{metric}")
    if not floor or not isinstance(value, (int, float)) or metric not in METRICS:
        return False
    warning = floor[0]
    return value < warning if METRICS[metric].higher_is_better else value > warning


def _merge_same_rows(groups: list[Group], subset_rows: SubsetRows) -> list[Group]:
    """Feature groups whose flagged subsets are nearly the same evaluation rows become one cause."""
    feature_groups = [g for g in groups if g.key[0] == "feature"]
    merged: list[Group] = []
    for group in sorted(feature_groups, key=Group.rank):
        target = next((m for m in merged if _same_rows(m, group, subset_rows)), None)
        if target is None:
            merged.append(group)
        else:
            target.items.extend(group.items)
            target.kind = _feature_kind(target.items)
    return [g for g in groups if g.key[0] != "feature"] + merged


def _same_rows(first: Group, second: Group, subset_rows: SubsetRows) -> bool:
    for a in _flagged_subsets(first):
        for b in _flagged_subsets(second):
            rows_a, rows_b = subset_rows.get(a), subset_rows.get(b)
            if rows_a is None or rows_b is None or _majority(rows_a) or _majority(rows_b):
                continue
            smaller = min(int(rows_a.sum()), int(rows_b.sum()))
            if smaller >= MIN_OVERLAP_ROWS and int((rows_a & rows_b).sum()) >= SAME_ROWS_OVERLAP * smaller:
                return True
    return False


def _majority(rows: np.ndarray) -> bool:
    """A subset holding most rows (amount >= 123.5 with 99.95 % after a x1000 change) overlaps every other subset:
    its overlap says nothing about a shared cause."""
    return len(rows) > 0 and float(np.mean(rows)) >= MAX_MERGED_SUBSET_SHARE


def _flagged_subsets(group: Group) -> list[str]:
    return list(dict.fromkeys(item.case["subset"] for item in group.items if item.case.get("subset")))


def _attach_dataset_drift(groups: list[Group]) -> list[Group]:
    """Prediction and label drift join the drifted feature with the largest impact, when one drifted."""
    drifted = [g for g in groups if g.kind == KIND_DRIFT and g.key[0] == "feature"
               and any(_is_drift(item) for item in g.items)]
    if not drifted:
        return groups
    strongest = max(drifted, key=lambda g: max(i.importance for i in g.items if _is_drift(i)))
    kept = []
    for group in groups:
        if group.key[0] == "dataset":
            strongest.items.extend(group.items)
        else:
            kept.append(group)
    return kept


def _cause_name(group: Group) -> str:
    """A few words naming one root cause, for the title of an entry the cap merged."""
    subsets = _flagged_subsets(group)
    if group.kind == KIND_DRIFT and group.features:
        drifted = _drifted_features(group) or group.features
        return f"{_names(drifted, limit=2)} changed"
    if group.kind in (KIND_SUBSET, KIND_ABNORMAL) and (subsets or group.features):
        return _names(subsets or group.features, limit=2)
    if group.kind in (KIND_CRASH, KIND_ROBUSTNESS, KIND_DATA_QUALITY):
        return _test_names(group.items, limit=2)
    return _names(group.features, limit=2) or _test_names(group.items, limit=2)


def _cap(ranked: list[Group], limit: int) -> list[Group]:
    """Merge the lowest-ranked causes of the most frequent kind until at most `limit` remain."""
    ranked = list(ranked)
    while len(ranked) > max(limit, 1):
        counts = {kind: sum(g.kind == kind for g in ranked) for kind in KIND_ORDER}
        kind = max(KIND_ORDER, key=lambda k: (counts[k], -KIND_ORDER.index(k)))
        same = [g for g in ranked if g.kind == kind]
        if len(same) < 2:
            same = ranked[-2:]
        last, before = same[-1], same[-2]
        before.parts = (before.parts or [_cause_name(before)]) + (last.parts or [_cause_name(last)])
        before.items.extend(last.items)
        before.merged_from += last.merged_from
        ranked.remove(last)
        ranked.sort(key=Group.rank)
    return ranked


# ---- entries -------------------------------------------------------------------------------------------------------
def _entry(group: Group, overfit: dict | None) -> dict:
    items = sorted(group.items, key=_item_rank)
    worst = items[0]
    return {
        "kind": group.kind,
        "title": _title(group, items, overfit),
        "severity": group.severity,
        "features": group.features,
        "subset": next((i.case.get("subset") for i in items if i.case.get("subset")), None),
        # Folded degradations measure over-fitting, not a cost of the cause: no impact is claimed for it.
        "impact": None if group.kind == KIND_OVERFIT else round(group.impact, 6),
        "detail": worst.case.get("finding") or "",
        "causes": group.merged_from,
        "tests": _tests(items),
    }


def _tests(items: list[Item]) -> list[dict]:
    """One row per test that agrees: its worst case's severity and key metric, and every feature it flagged."""
    rows: dict[str, dict] = {}
    for item in items:
        test_type = item.test["test_type"]
        if test_type not in rows:
            name, value = key_metric(item.case)
            rows[test_type] = {"test_type": test_type, "name": item.test.get("name") or test_type,
                               "category": item.category, "severity": item.severity, "features": [],
                               "subset": item.case.get("subset"), "cases": 0,
                               "key_metric": {"name": name, "value": value} if name else None}
        row = rows[test_type]
        row["cases"] += 1
        row["features"].extend(f for f in item.features if f not in row["features"])
    return list(rows.values())


def key_metric(case: dict) -> tuple[str | None, Any]:
    """The (name, value) that carries a case's verdict, e.g. ("psi", 1.22) or ("degraded_by", 0.29)."""
    metrics = case.get("metrics") or {}
    # A drift decided by the scale-aware distance (a rescale PSI barely sees) is stated by that distance.
    if metrics.get("drift_statistic") == "Wasserstein" and isinstance(metrics.get("wasserstein_distance"), float):
        return "wasserstein_distance", metrics["wasserstein_distance"]
    for name in KEY_METRICS:
        value = metrics.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return name, value
    if metrics.get("error"):
        return "error", str(metrics["error"]).split(": ", 1)[0]
    return None, None


def _title(group: Group, items: list[Item], overfit: dict | None) -> str:
    names = _names(group.features)
    tests = _test_names(items)
    agree = "agrees" if len({i.test["test_type"] for i in items}) == 1 else "agree"
    if group.kind == KIND_OVERFIT and overfit:
        return (f"The reference looks like the model's training data ({METRICS[overfit['metric']].display} "
                f"{overfit['reference']:.3f} on the reference, {overfit['evaluation']:.3f} on evaluation): "
                f"{len(items)} degradation case(s) compare with an over-fitted baseline.")
    if group.merged_from > 1 and group.parts:
        # The cap merged separate causes: say so and name each, never one sentence that reads as one cause.
        shown = "; ".join(group.parts[:4]) + (f"; and {len(group.parts) - 4} more" if len(group.parts) > 4 else "")
        return (f"{group.merged_from} separate {KIND_LABELS.get(group.kind, group.kind)} causes, merged to keep this "
                f"list short: {shown} ({_agree(items)}).")
    if group.kind == KIND_PERFORMANCE:
        if not any(_directed(i) for i in items):   # only shifts (positive rate, average prediction): no "worse"
            return f"The model's outputs shifted on the evaluation set ({_performance_change(items)})."
        return f"The model performs worse on the evaluation set than on the reference ({_performance_change(items)})."
    if group.kind == KIND_DRIFT:
        return _drift_title(group, items, names)
    if group.kind == KIND_ABNORMAL:
        return _abnormal_title(group, items, names)
    if group.kind == KIND_SUBSET:
        subsets = _names(_flagged_subsets(group), limit=2)
        if not any(_directed(i) for i in items):
            return f"The model's outputs on {subsets or names} differ from the rest of the evaluation set: {tests}."
        where = f"the subset{'s' if len(_flagged_subsets(group)) > 1 else ''} {subsets}" if subsets else names
        return f"The model serves {where} worse than the rest of the evaluation set: {tests} {agree}."
    if group.kind == KIND_FAIRNESS:
        subset = next((i.case.get("subset") for i in items if i.case.get("subset")), None)
        where = f", e.g. {subset}" if subset else ""
        return f"The model treats groups of {_names(group.features[:1])} unequally{where}: {tests} {agree}."
    if group.kind == KIND_CRASH:
        kinds = _names(list(dict.fromkeys(CORRUPTION_FAMILIES.get(i.test["test_type"], i.test.get("name", ""))
                                          for i in items)))
        count = len(group.features)
        return f"The model crashes on {kinds} in {count} feature{'s' if count != 1 else ''} ({names})."
    if group.kind == KIND_ROBUSTNESS:
        kinds = _names(list(dict.fromkeys(CORRUPTION_FAMILIES.get(i.test["test_type"], i.test.get("name", ""))
                                          for i in items)))
        return f"Corrupting {names} with {kinds} changes the model's results: {tests} {agree}."
    if group.kind == KIND_ATTACK:
        return f"Small or chosen changes to {names} steer the model's predictions: {tests} {agree}."
    return f"{tests}: {items[0].case.get('finding') or 'a Warning or Alert'}"


def _drift_title(group: Group, items: list[Item], names: str) -> str:
    if not group.features:
        # Prediction or label drift with no drifted feature to join: the test's own sentence says what moved
        # ("The model's predictions have drifted (PSI 0.31 ...): ..."), not "The Prediction Drift changed".
        sentence = next((i.case.get("finding") for i in items if i.case.get("finding")), "")
        return sentence or f"{_names(_test_names_list(items))}: the distribution changed between reference and " \
                           "evaluation."
    # The features that drifted, most important first, each with its own statistic; a feature merged in by its
    # subsets' overlap did not drift and shows up in the subsets' clause instead.
    drifted = _drifted_features(group) or group.features[:1]
    if len(drifted) == 1:   # "country changed between reference and evaluation (PSI 0.766)"
        parts = [f"{drifted[0]} changed between reference and evaluation{_statistic(group, drifted[0])}"]
    else:
        shown = [f"{feature}{_statistic(group, feature)}" for feature in drifted[:3]]
        shown += [f"{len(drifted) - 3} more"] if len(drifted) > 3 else []
        parts = [f"{', '.join(shown[:-1])} and {shown[-1]} changed between reference and evaluation"]
    if any(not i.features and _is_drift(i) for i in items):
        parts.append("and the model's predictions moved with it")
    parts.append(_subsets_clause(group))
    title = " ".join(p for p in parts if p).replace(" ;", ";")
    if title.endswith(")"):   # "... evaluation (PSI 3.58; 3 tests agree)", not "(PSI 3.58) (3 tests agree)"
        return f"{title[:-1]}; {_agree(items)})."
    return f"{title} ({_agree(items)})."


def _subsets_clause(group: Group) -> str:
    """"; the model serves city = Rome worse" (metrics with a better direction) or "; its outputs differ on ..."."""
    worse = list(dict.fromkeys(i.case["subset"] for i in group.items if i.case.get("subset") and _directed(i)))
    if worse:
        return f"; the model serves {_names(worse, limit=2)} worse"
    shifted = _flagged_subsets(group)
    return f"; the model's outputs differ on {_names(shifted, limit=2)}" if shifted else ""


def _directed(item: Item) -> bool:
    """A case of a metric with a better direction (AUC, recall); a positive rate or an average prediction only
    shifts. The subset and drift tests are named after their metric: subset_recall, subset_drift_recall."""
    test_type = item.test["test_type"]
    metric = test_type.removeprefix("subset_drift_").removeprefix("subset_")
    return is_directed(metric) if metric in METRICS else True


def _drifted_features(group: Group) -> list[str]:
    """Features with a Drift-category case, the most important first (the order the title names them in)."""
    drift_items = sorted((i for i in group.items if i.category == TEST_CATEGORY_TYPE_DRIFT and i.features),
                         key=_item_rank)
    names: list[str] = []
    for item in drift_items:
        names.extend(f for f in item.features if f not in names)
    return names


def _statistic(group: Group, feature: str) -> str:
    """" (PSI 0.766)": the feature's own drift statistic, from its highest-ranked Drift case."""
    for item in sorted(group.items, key=_item_rank):
        if item.category == TEST_CATEGORY_TYPE_DRIFT and item.features == [feature]:
            name, value = key_metric(item.case)
            if name in STATISTIC_LABELS and isinstance(value, (int, float)):
                return f" ({STATISTIC_LABELS[name]} {value:.3g})"
    return ""


def _abnormal_title(group: Group, items: list[Item], names: str) -> str:
    unusual = _names(_test_names_list([i for i in items if i.category == TEST_CATEGORY_TYPE_ABNORMAL_INPUTS]))
    title = f"{names} holds evaluation values the reference does not explain ({unusual})"
    return title + _subsets_clause(group) + f" ({_agree(items)})."


def _agree(items: list[Item]) -> str:
    count = len(_test_names_list(items))
    return "1 test" if count == 1 else f"{count} tests agree"


def _performance_change(items: list[Item]) -> str:
    changes = []
    # The task's headline metrics first (AUC before accuracy before F1...), as the Model Performance page orders them.
    for item in sorted(items, key=lambda i: (-metric_priority(i.test["test_type"]), -i.importance)):
        metric = item.test["test_type"]
        metrics = item.case.get("metrics") or {}
        reference, evaluation = metrics.get(f"reference_{metric}"), metrics.get(f"evaluation_{metric}")
        if metric in METRICS and isinstance(reference, (int, float)) and isinstance(evaluation, (int, float)):
            changes.append(f"{METRICS[metric].display} {reference:.3f} -> {evaluation:.3f}")
    shown = ", ".join(changes[:3]) or _test_names(items)
    return shown + (f" and {len(changes) - 3} more" if len(changes) > 3 else "")


def _test_names_list(items: list[Item]) -> list[str]:
    return list(dict.fromkeys(item.test.get("name") or item.test["test_type"] for item in items))


def _test_names(items: list[Item], limit: int = 4) -> str:
    names = _test_names_list(items)
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _names(values: list[str], limit: int = 4) -> str:
    if len(values) == 2:
        return f"{values[0]} and {values[1]}"
    shown = ", ".join(values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def _not_run_entry(tests: list[dict]) -> dict:
    names = ", ".join(test.get("name") or test["test_type"] for test in tests)
    return {"kind": KIND_NOT_RUN, "title": f"{len(tests)} test(s) could not run: {names}.", "severity": None,
            "features": [], "subset": None, "impact": None,
            "detail": "; ".join(f"{test.get('name')}: {test.get('error')}" for test in tests), "causes": len(tests),
            "tests": [{"test_type": test["test_type"], "name": test.get("name") or test["test_type"],
                       "category": test.get("category"), "severity": None, "features": [], "subset": None,
                       "cases": 0, "key_metric": None} for test in tests]}


class SubsetRows:
    """Evaluation-row masks of the subsets the subset tests built, keyed by label ("city = Rome"); a mask is made
    only when asked for, since only flagged subsets are ever compared."""

    def __init__(self, codes: dict[str, tuple[np.ndarray, int]]) -> None:
        self.codes = codes
        self.masks: dict[str, np.ndarray] = {}

    def get(self, label: str) -> np.ndarray | None:
        if label not in self.masks and label in self.codes:
            codes, code = self.codes[label]
            self.masks[label] = np.asarray(codes) == code
        return self.masks.get(label)


def subset_rows_from_memo(memo: dict) -> SubsetRows:
    """The subsets of the run's memo (`subset_performance.subsets`, shared by every subset test)."""
    codes: dict[str, tuple[np.ndarray, int]] = {}
    for key, value in memo.items():
        if not (isinstance(key, tuple) and key and key[0] == "subset_performance.subsets"):
            continue
        for subsets in value:
            for code, label in enumerate(subsets.labels):
                codes.setdefault(label, (subsets.evaluation_codes, code))
    return SubsetRows(codes)

