"""The versioned JSON report (docs/report-schema.md): pages, API, CLI and exports all render from it.

Schema 2: `key_findings` is a ranked list of root causes (stresstests/engine/findings.py), `run.reference_check` names
a reference that looks like training data, `run.schema.left_out_columns` the columns kept out of the features.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from stresstests.engine.vocabulary import (
    ALL_CATEGORIES, CATEGORY_DISPLAY_NAMES, RISK_GROUP, SEVERITY_ALERT, SEVERITY_ORDER, SEVERITY_PASS,
    SEVERITY_WARNING, worst_severity,
)
from stresstests.engine.base import Context, TestCase, json_safe
from stresstests.engine.base import SamplingInfo, TestResult
from stresstests.engine.findings import (
    STATISTIC_LABELS,
    build_key_findings,
    key_metric,
    reference_check,
    subset_rows_from_memo,
)
from stresstests.engine.metrics import METRICS, TASK_METRICS
from stresstests.engine.severity import severity_for
from stresstests.engine.vocabulary import STATUS_COMPLETED, STATUS_ERROR, STATUS_SKIPPED

SCHEMA_VERSION = 2
RISK_GROUP_ORDER = ("security", "fairness", "operational")
MAX_EXAMPLES_PER_CASE = 5


def build_report(ctx: Context, results: list[TestResult], *, sampling: dict[str, SamplingInfo], duration_s: float,
                 notes: list[str]) -> dict:
    categories = json_safe([_category(category, [r for r in results if r.test.category == category])
                            for category in _ordered_categories(ctx, results)])
    run = _run_summary(ctx, results, sampling, duration_s, notes)
    overfit = reference_check(json_safe(run["model_metrics"]))
    run["reference_check"] = overfit
    if overfit:
        run["notes"].insert(0, overfit["message"])
    report = {
        "schema_version": SCHEMA_VERSION,
        "run": run,
        "risk_groups": _risk_groups(categories),
        "categories": categories,
        "key_findings": build_key_findings(categories, overfit=overfit, subset_rows=subset_rows_from_memo(ctx.memo)),
    }
    return json_safe(report)


def _ordered_categories(ctx: Context, results: list[TestResult]) -> list[str]:
    present = {r.test.category for r in results}
    return [c for c in ALL_CATEGORIES if c in present or c in ctx.config.categories]


def _run_summary(ctx: Context, results: list[TestResult], sampling: dict[str, SamplingInfo], duration_s: float,
                 notes: list[str]) -> dict:
    cache = ctx.cache
    return {
        "model_task": ctx.model_task,
        "seed": ctx.config.random_seed,
        "duration_s": round(duration_s, 3),
        "categories": list(ctx.config.categories),
        "global_test_sensitivity": ctx.config.global_test_sensitivity,
        "reference": _sampling(sampling["reference"]),
        "evaluation": _sampling(sampling["evaluation"]),
        "inputs": _inputs(ctx),
        "model_metrics": model_metrics(ctx),
        "model_calls": {
            "seconds": round(cache.seconds, 3) if cache else 0.0,
            "calls": cache.calls if cache else 0,
            "rows_scored": cache.rows_scored if cache else 0,
        },
        "severity_counts": _severity_counts(results),
        "summary_counts": _summary_counts(results),
        "schema": {
            "label_col": ctx.schema.label_col, "pred_col": ctx.schema.pred_col,
            "timestamp_col": ctx.schema.timestamp_col, "features": ctx.schema.features,
            "features_not_in_model": ctx.schema.features_not_in_model,
            "excluded_columns": ctx.schema.excluded_columns, "protected_features": ctx.schema.protected_features,
            "feature_types": ctx.schema.feature_types, "text_features": list(ctx.schema.text_features),
            "left_out_columns": [dict(column) for column in ctx.schema.left_out_columns],
        },
        "notes": [*(column["reason"] for column in ctx.schema.left_out_columns), *ctx.notes, *notes],
    }


def _sampling(info: SamplingInfo) -> dict:
    return {"rows": info.rows, "sampled_rows": info.sampled_rows, "sampling_rate": round(info.rate, 6),
            "streamed": info.streamed}


def _inputs(ctx: Context) -> dict:
    return {"labels": ctx.has_labels, "predictions": ctx.has_predictions, "model": ctx.has_model,
            "model_source": getattr(ctx.model, "source", type(ctx.model).__name__) if ctx.model else None}


def model_metrics(ctx: Context) -> dict:
    """Every task metric on reference and evaluation, e.g. {"auc": {"reference": 0.65, "evaluation": 0.59}}."""
    reference, evaluation = _whole_metrics(ctx, "reference"), _whole_metrics(ctx, "evaluation")
    names = [name for name in METRICS if name in reference or name in evaluation]
    return {name: {"reference": reference.get(name), "evaluation": evaluation.get(name)} for name in names}


def _whole_metrics(ctx: Context, which: str) -> dict[str, float]:
    """`compute_metrics` of one dataset, through the run's memo (Model Performance computed most of them)."""
    labels, predictions = getattr(ctx, f"{which}_labels"), getattr(ctx, f"{which}_predictions")
    if predictions is None:
        return {}
    values = {}
    for name in TASK_METRICS[ctx.model_task]:
        if METRICS[name].needs_labels and labels is None:
            continue
        value = ctx.whole_metric(name, which).values[0]
        if not np.isnan(value):
            values[name] = float(value)
    return values


def _severity_counts(results: list[TestResult]) -> dict:
    counts = Counter(_count_key(r) for r in results)
    return {key: counts.get(key, 0) for key in ("alert", "warning", "pass", "skipped", "error")}


def _count_key(result: TestResult) -> str:
    if result.status == STATUS_SKIPPED:
        return "skipped"
    if result.status == STATUS_ERROR:
        return "error"
    return {SEVERITY_ALERT: "alert", SEVERITY_WARNING: "warning", SEVERITY_PASS: "pass"}[result.severity]


def _summary_counts(results: list[TestResult]) -> dict:
    counts = _severity_counts(results)
    # RIME's summary_counts: "fail" is Alert; errors count as skipped there.
    return {"total": len(results), "pass": counts["pass"], "warning": counts["warning"], "fail": counts["alert"],
            "skip": counts["skipped"] + counts["error"]}


def _category(category: str, results: list[TestResult]) -> dict:
    completed = [r for r in results if r.status == STATUS_COMPLETED]
    passed = sum(r.severity == SEVERITY_PASS for r in completed)
    return {
        "category": category,
        "name": CATEGORY_DISPLAY_NAMES[category],
        "risk_group": RISK_GROUP[category],
        # A category is as bad as its worst test; None means nothing in it could run ("Not tested").
        "severity": worst_severity([r.severity for r in completed]) if completed else None,
        "passed": passed,
        "total": len(completed),
        "pass_rate": round(passed / len(completed), 4) if completed else None,
        "duration_s": round(sum(r.duration_s for r in results), 4),
        "severity_counts": _severity_counts(results),
        "tests": [test_result_dict(r) for r in results],
    }


def _risk_groups(categories: list[dict]) -> list[dict]:
    groups = []
    for group in RISK_GROUP_ORDER:
        members = [c for c in categories if c["risk_group"] == group]
        if not members:
            continue
        tested = [c for c in members if c["severity"] is not None]
        groups.append({
            "risk_group": group,
            "severity": worst_severity([c["severity"] for c in tested]) if tested else None,
            "passed": sum(c["severity"] == SEVERITY_PASS for c in tested),
            "total": len(tested),
            "categories": [c["category"] for c in members],
        })
    return groups


def test_result_dict(result: TestResult) -> dict:
    test = result.test
    cases = sorted(result.cases, key=_case_order)
    entry = {
        "test_type": test.key,
        "name": test.name,
        "description": test.description,
        "why_it_matters": test.why_it_matters,
        "category": test.category,
        "status": result.status,
        "severity": result.severity,
        "thresholds": list(result.thresholds) if result.thresholds else None,
        "params": result.params,
        "duration_s": round(result.duration_s, 4),
        "failing_features": _failing_features(cases),
        "summary_counts": _case_counts(cases, result.status),
        "test_cases": [test_case_dict(case, result.thresholds, test.thresholds_higher_is_worse) for case in cases],
    }
    if result.status == STATUS_SKIPPED:
        entry["skip_reason"] = result.reason
    if result.status == STATUS_ERROR:
        entry["error"] = result.reason
    return entry


def _case_order(case: TestCase) -> tuple:
    return (-SEVERITY_ORDER[case.severity], -(case.importance_score or 0.0))


def _failing_features(cases: list[TestCase]) -> list[str]:
    failing: list[str] = []
    for case in cases:
        if case.severity != SEVERITY_PASS:
            failing.extend(f for f in case.features if f not in failing)
    return failing


def _case_counts(cases: list[TestCase], status: str) -> dict:
    counts = Counter(case.severity for case in cases)
    return {"total": len(cases), "pass": counts[SEVERITY_PASS], "warning": counts[SEVERITY_WARNING],
            "fail": counts[SEVERITY_ALERT], "skip": 0 if status == STATUS_COMPLETED else 1}


def test_case_dict(case: TestCase, thresholds: tuple[float, float] | None = None,
                   higher_is_worse: bool = True) -> dict:
    entry = {
        "features": list(case.features),
        "subset": case.subset,
        "severity": case.severity,
        "metrics": case.metrics,
        "importance_score": case.importance_score,
        "finding": case.finding,
        "examples": list(case.examples[:MAX_EXAMPLES_PER_CASE]),
        "details": case.details,
    }
    note = severity_note(case, thresholds, higher_is_worse)
    if note:
        entry["severity_note"] = note
    return entry


def severity_note(case: TestCase, thresholds: tuple[float, float] | None, higher_is_worse: bool) -> str | None:
    """Why a case shows a lower severity than its key metric reaches against the test's thresholds (ENGINE.md:
    evidence alone never goes past Warning when the measured impact is small), so a page never prints "PSI 1.22:
    Warning" beside "Alert at 0.6" without a reason."""
    if not thresholds or case.severity != SEVERITY_WARNING:
        return None
    name, value = key_metric({"metrics": case.metrics})
    impact = _impact_text(case)
    # The scale-aware drift distance has thresholds of its own, not the test's: no note rather than a wrong one.
    if name is None or name == "wasserstein_distance" or not isinstance(value, (int, float)) or impact is None:
        return None
    if severity_for(float(value), thresholds, higher_is_worse=higher_is_worse) != SEVERITY_ALERT:
        return None
    label = METRICS[name].display if name in METRICS else STATISTIC_LABELS.get(name, name.replace("_", " "))
    return (f"{label} {value:.4g} reaches the Alert threshold, but the severity is capped at Warning: the measured "
            f"impact on the model ({impact}) stays below the impact's warning threshold, and evidence without "
            "impact never goes past Warning.")


def _impact_text(case: TestCase) -> str | None:
    deciding = case.metrics.get("impact_metric")   # drift: the watched metric that decided the impact's severity
    if isinstance(deciding, str) and isinstance(case.metrics.get(f"impact_{deciding}"), (int, float)):
        label = METRICS[deciding].display if deciding in METRICS else deciding
        return f"{label} {case.metrics[f'impact_{deciding}']:.3g}"
    for key, value in case.metrics.items():
        if key.startswith("impact_") and key not in ("impact_method", "impact_effective_rows", "impact_lower_bound",
                                                       "impact_standard_error") and isinstance(value, (int, float)):
            metric = key.removeprefix("impact_")
            return f"{METRICS[metric].display if metric in METRICS else metric} {value:.3g}"
    if case.importance_score is not None:
        return f"importance {case.importance_score:.3g}"
    return None
