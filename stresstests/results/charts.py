"""Chart specs for the result pages and the offline export, chosen by the shape of a test case's details.

Specs are plain JSON-safe dicts ({"kind": "bars" | "donut", "labels", "series", "lines", ...}) written into the
page with json_script and drawn by static/js/charts.js. Every chart also has a table equivalent (_chart.html).
"""
from __future__ import annotations

from typing import Any

from stresstests.engine.metrics import METRICS
from stresstests.engine.vocabulary import SEVERITY_PASS

METRIC_PREFIXES = (("overall_", "Overall"), ("worst_subset_", "Worst subset"), ("reference_", "Reference"),
                   ("evaluation_", "Evaluation"), ("subset_", "Subset"), ("impact_", "Impact on"))
METRIC_WORDS = {"psi": "PSI", "p_value": "p-value", "kolmogorov-smirnov": "KS statistic",
                "kolmogorov_smirnov": "KS statistic", "cohens_h": "Cohen's h", "importance_score": "Model impact"}


def metric_label(name: str) -> str:
    """Display name of a metric key, e.g. "overall_f1" -> "Overall F1", "psi" -> "PSI"."""
    if name in METRICS:
        return METRICS[name].display
    for prefix, word in METRIC_PREFIXES:
        rest = name.removeprefix(prefix)
        if rest != name and rest in METRICS:
            return f"{word} {METRICS[rest].display}"
    for metric in sorted(METRICS, key=len, reverse=True):  # "auc_actual" -> "AUC actual"
        if name.startswith(metric + "_"):
            return f"{METRICS[metric].display} {name.removeprefix(metric + '_').replace('_', ' ')}"
    return METRIC_WORDS.get(name) or name.replace("_", " ").capitalize()


def charts_for_case(case: dict, test_type: str = "") -> list[dict]:
    """The charts that fit a case, chosen by the shape of its details (not by test name, so new tests get charts)."""
    details = case.get("details") or {}
    feature = ", ".join(case.get("features") or []) or "predictions"
    charts = []
    # The subset metric comes before the distribution, so the two sit side by side in that order (as in RIME).
    for builder in (_group_rates_charts, _subset_metric_chart, distribution_chart, _value_rates_chart,
                    _null_rate_chart, _attack_chart, _counts_chart, _reference_vs_evaluation_chart,
                    _clean_vs_transformed_chart, _failing_share_chart):
        built = builder(details, feature, case, test_type)
        if built:
            charts.extend(built if isinstance(built, list) else [built])
    return charts


def distribution_chart(details: dict, feature: str, case: dict, test_type: str) -> dict | None:
    reference, evaluation = details.get("reference_shares"), details.get("evaluation_shares")
    if reference is None or evaluation is None:
        return None
    if details.get("bin_edges"):
        edges = details["bin_edges"]
        labels = [f"{_short(edges[i])} – {_short(edges[i + 1])}" for i in range(len(edges) - 1)]
    else:
        labels = [str(c) for c in details.get("categories") or []]
    return {
        "kind": "bars", "title": f"Distribution of {feature}", "x_label": feature, "y_label": "Share of rows",
        "labels": labels,
        "series": [{"label": "Reference", "values": reference, "pattern": "solid"},
                   {"label": "Evaluation", "values": evaluation, "pattern": "hatch"}],
        "percent": True,
    }


def _group_rates_charts(details: dict, feature: str, case: dict, test_type: str) -> list[dict]:
    charts = []
    rate = details.get("rate")
    for key, rate_name in (("groups", metric_label(rate).lower() if rate else "positive prediction rate"),
                           ("true_positive_rate", "true positive rate"),
                           ("false_positive_rate", "false positive rate")):
        groups = details.get(key)
        if not isinstance(groups, list) or not groups or "rate" not in groups[0]:
            continue
        lines = []
        if details.get("required_rate") is not None:
            ratio = details.get("threshold_ratio", 0.8)
            lines.append({"value": details["required_rate"], "dash": True,
                          "label": f"{ratio:.0%} of the best rate ({_short(details['required_rate'])})"})
        if details.get("overall_rate") is not None:
            lines.append({"value": details["overall_rate"], "dash": False,
                          "label": f"Overall {rate_name} ({_short(details['overall_rate'])})"})
        charts.append({
            "kind": "bars", "title": f"{rate_name.capitalize()} per group of {feature}", "x_label": feature,
            "y_label": rate_name.capitalize(), "percent": True,
            "labels": [_group_label(g) for g in groups],
            "series": [{"label": rate_name.capitalize(), "values": [g.get("rate") for g in groups],
                        "pattern": "solid", "flagged": [bool(g.get("fails")) for g in groups],
                        "intervals": [[g.get("ci_low"), g.get("ci_high")] for g in groups]}],
            "lines": lines,
            "note": "Whiskers show 95 % intervals; hatched bars fail the test.",
        })
    return charts


def _group_label(group: dict) -> str:
    label = str(group.get("subset") or group.get("value"))
    return f"{label} (fails)" if group.get("fails") else label


def _subset_metric_chart(details: dict, feature: str, case: dict, test_type: str) -> dict | None:
    """Subset performance: the metric per subset, the overall value and the warning threshold beside it."""
    subsets = details.get("subsets")
    if not isinstance(subsets, list) or not subsets or not isinstance(subsets[0], dict) or "metric" not in subsets[0]:
        return None
    metric = _overall_metric_name(case.get("metrics") or {}, test_type)
    label = metric_label(metric) if metric else "Metric"
    lines = []
    baseline, gap = details.get("baseline"), details.get("warning_line")
    if isinstance(baseline, (int, float)):
        lines.append({"value": baseline, "dash": False, "label": f"Overall {label} ({_short(baseline)})"})
        if isinstance(gap, (int, float)):
            info = METRICS.get(metric or "")
            line = baseline - gap if (info is None or info.higher_is_better) else baseline + gap
            lines.append({"value": line, "dash": True, "label": f"Warning threshold ({_short(line)})"})
    series = [{"label": f"{label} on evaluation", "values": [s.get("metric") for s in subsets], "pattern": "solid",
               "flagged": [s.get("severity", SEVERITY_PASS) != SEVERITY_PASS for s in subsets]}]
    reference = details.get("reference_metric")
    if isinstance(reference, list):
        series.insert(0, {"label": f"{label} on reference", "values": reference[:len(subsets)], "pattern": "dots"})
    return {
        "kind": "bars", "title": f"{label} across subsets of {feature}", "x_label": feature, "y_label": label,
        "labels": [_subset_label(s) for s in subsets],
        "series": series, "lines": lines,
        "note": "Hatched bars are subsets that fail the test. A bar past the dashed line that is not hatched is "
                "marked: either its gap is within sampling noise (not significant once every subset of every feature "
                "is controlled for false discoveries) or the subset has too few rows to be tested.",
    }


SUBSET_STATUS_SUFFIX = {"fails": " (fails)", "not_significant": " (not significant)",
                        "not_tested": " (too few rows, not tested)"}


def _subset_label(subset: dict) -> str:
    """A bar's label says why it is drawn as it is; reports before the `status` field only mark failing bars."""
    status = subset.get("status")
    if status is None:
        status = "fails" if subset.get("severity", SEVERITY_PASS) != SEVERITY_PASS else "passes"
    return f"{subset['subset']}{SUBSET_STATUS_SUFFIX.get(status, '')}"


def _overall_metric_name(metrics: dict, test_type: str) -> str | None:
    for key in metrics:
        if key.startswith("overall_") and key.removeprefix("overall_") in METRICS:
            return key.removeprefix("overall_")
    for prefix in ("subset_drift_", "subset_"):  # RIME's keys name the metric: subset_drift_auc, subset_f1
        if test_type.startswith(prefix) and test_type.removeprefix(prefix) in METRICS:
            return test_type.removeprefix(prefix)
    return None


def _value_rates_chart(details: dict, feature: str, case: dict, test_type: str) -> dict | None:
    values = details.get("values")
    if not isinstance(values, list) or not values or "positive_rate" not in values[0]:
        return None
    return {
        "kind": "bars", "title": f"Positive prediction rate of the same rows with each value of {feature}",
        "x_label": feature, "y_label": "Positive prediction rate", "percent": True,
        "labels": [str(v["value"]) for v in values],
        "series": [{"label": "Positive prediction rate", "values": [v["positive_rate"] for v in values],
                    "pattern": "solid"}],
    }


def _null_rate_chart(details: dict, feature: str, case: dict, test_type: str) -> dict | None:
    if "reference_nulls" not in details or not details.get("reference_rows") or not details.get("evaluation_rows"):
        return None
    return {
        "kind": "bars", "title": f"Share of nulls in {feature}", "x_label": "Dataset", "y_label": "Null share",
        "percent": True, "labels": ["Reference", "Evaluation"],
        "series": [{"label": "Null share", "pattern": "solid",
                    "values": [details["reference_nulls"] / details["reference_rows"],
                               details["evaluation_nulls"] / details["evaluation_rows"]]}],
    }


def _attack_chart(details: dict, feature: str, case: dict, test_type: str) -> dict | None:
    changes = details.get("row_changes")
    if not isinstance(changes, list) or not changes:
        return None
    return {
        "kind": "bars", "title": f"Prediction change per attacked row ({feature})", "x_label": "Attacked row",
        "y_label": "Prediction change", "labels": [f"#{i + 1}" for i in range(len(changes))],
        "series": [{"label": "Largest prediction change found", "values": changes, "pattern": "solid"}],
    }


def _counts_chart(details: dict, feature: str, case: dict, test_type: str) -> dict | None:
    for key, title in (("unseen_values", "Unseen values"), ("rare_categories", "Rare categories"),
                       ("feature_counts", "Features changed by the attack"), ("class_shares", "Label classes")):
        counts = details.get(key)
        if isinstance(counts, dict) and counts and all(isinstance(v, (int, float)) for v in counts.values()):
            return {"kind": "bars", "title": f"{title} in {feature}", "x_label": feature, "y_label": "Rows",
                    "labels": [str(k) for k in counts],
                    "series": [{"label": "Rows", "values": list(counts.values()), "pattern": "solid"}]}
    return None


def _reference_vs_evaluation_chart(details: dict, feature: str, case: dict, test_type: str) -> dict | None:
    """Model performance: a metric on the reference beside the same metric on the evaluation set."""
    metrics = case.get("metrics") or {}
    name = next((key.removeprefix("reference_") for key in metrics if key.startswith("reference_")
                 and key.removeprefix("reference_") in METRICS
                 and isinstance(metrics.get("evaluation_" + key.removeprefix("reference_")), (int, float))), None)
    if name is None or not isinstance(metrics.get(f"reference_{name}"), (int, float)):
        return None
    label = metric_label(name)
    return {"kind": "bars", "title": f"{label} on reference and evaluation", "x_label": "Dataset", "y_label": label,
            "labels": ["Reference", "Evaluation"],
            "series": [{"label": label, "values": [metrics[f"reference_{name}"], metrics[f"evaluation_{name}"]],
                        "pattern": "solid"}]}


def _clean_vs_transformed_chart(details: dict, feature: str, case: dict, test_type: str) -> dict | None:
    """Transformations: the model's metric on the clean sample and on the same rows after the corruption."""
    metrics = case.get("metrics") or {}
    clean, transformed = metrics.get("clean_metric"), metrics.get("transformed_metric")
    if not isinstance(clean, (int, float)) or not isinstance(transformed, (int, float)):
        return None
    label = metric_label(str(metrics.get("metric") or "metric"))
    return {"kind": "bars", "title": f"{label} before and after corrupting {feature}", "x_label": "Rows",
            "y_label": label, "labels": ["Clean rows", "Corrupted rows"],
            "series": [{"label": label, "values": [clean, transformed], "pattern": "solid",
                        "flagged": [False, case.get("severity", SEVERITY_PASS) != SEVERITY_PASS]}]}


def _failing_share_chart(details: dict, feature: str, case: dict, test_type: str) -> dict | None:
    """Abnormal inputs: the share of rows failing the check in the reference and in the evaluation set."""
    metrics = case.get("metrics") or {}
    reference, evaluation = metrics.get("reference_failing_share"), metrics.get("failing_rows_share")
    if not isinstance(reference, (int, float)) or not isinstance(evaluation, (int, float)):
        return None
    return {"kind": "bars", "title": f"Rows of {feature} failing the check", "x_label": "Dataset",
            "y_label": "Share of rows", "percent": True, "labels": ["Reference", "Evaluation"],
            "series": [{"label": "Share of rows", "values": [reference, evaluation], "pattern": "solid"}]}


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, (int, float)) else str(value)


def donut_chart(counts: dict) -> dict:
    labels = [("alert", "Alert"), ("warning", "Warning"), ("pass", "Pass"), ("skipped", "Skipped"),
              ("error", "Error")]
    shown = [(key, label) for key, label in labels if counts.get(key)]
    return {"kind": "donut", "title": "Test breakdown by severity", "labels": [label for _, label in shown],
            "severities": [key for key, _ in shown], "values": [counts[key] for key, _ in shown]}
