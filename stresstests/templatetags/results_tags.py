"""Template helpers of the result pages: severity chips, number formatting, and the run-results view."""
from __future__ import annotations

from typing import Any

from django import template

from stresstests.results import report as results_report
from stresstests.results.report import RunResults

register = template.Library()


@register.simple_tag
def run_results(report: Any) -> RunResults:
    """`{% run_results report as results %}`: accepts the report dict, a StressTestReport or a ready RunResults."""
    if isinstance(report, RunResults):
        return report
    return RunResults(getattr(report, "data", report) or {})


@register.filter
def severity_label(severity: str | None) -> str:
    return results_report.severity_label(severity)


@register.filter
def severity_class(severity: str | None) -> str:
    return results_report.severity_label(severity).lower().replace(" ", "-")


@register.filter
def metric_label(name: str) -> str:
    return results_report.metric_label(name)


@register.filter
def number(value: Any) -> Any:
    """Four significant digits for floats; anything else unchanged ("–" for missing)."""
    if value is None:
        return "–"
    if isinstance(value, bool) or not isinstance(value, float):
        return value
    return f"{value:.4g}"


@register.filter
def percent(value: Any) -> str:
    if not isinstance(value, (int, float)):
        return "–"
    return f"{value:.0%}" if value in (0, 1) else f"{value:.1%}"


@register.filter
def signed(value: Any) -> str:
    if not isinstance(value, (int, float)):
        return "–"
    return f"{value:+.4g}"


@register.filter
def chart_rows(chart: dict) -> list[tuple[str, list[Any]]]:
    """(label, [value per series]) rows of a bar chart, for its table equivalent."""
    series = chart.get("series") or []
    return [(label, [s["values"][i] if i < len(s["values"]) else None for s in series] + _interval_cells(series, i))
            for i, label in enumerate(chart.get("labels") or [])]


def _interval_cells(series: list[dict], index: int) -> list[str]:
    cells = []
    for s in series:
        if s.get("intervals"):
            low, high = (s["intervals"][index] + [None, None])[:2]
            cells.append(f"{percent(low)} – {percent(high)}" if low is not None else "–")
    return cells


@register.filter
def interval_headers(chart: dict) -> list[str]:
    return [f"{s['label']}: 95 % interval" for s in chart.get("series") or [] if s.get("intervals")]


@register.filter
def delta(value: Any, base: Any) -> str:
    """`later|delta:earlier`, signed."""
    if not isinstance(value, (int, float)) or not isinstance(base, (int, float)):
        return "–"
    return signed(value - base)


@register.filter
def is_text(value: Any) -> bool:
    return isinstance(value, str)


LONG_TEXT_CHARS = 160


@register.filter
def is_long_text(value: Any) -> bool:
    """Text shown cut with an expand control (its first LONG_TEXT_CHARS characters, then all of it on demand)."""
    return isinstance(value, str) and (len(value) > LONG_TEXT_CHARS or "\n" in value)


@register.filter
def text_preview(value: str) -> str:
    first_line = value.split("\n", 1)[0]
    return first_line[:LONG_TEXT_CHARS].rstrip() + "…"


@register.filter
def feature_label(name: str) -> str:
    return results_report.feature_label(name)


@register.filter
def worse_than(later: Any, earlier: Any) -> bool:
    """`later_row|worse_than:earlier_row` for two MetricRows: the evaluation value moved the wrong way."""
    if earlier is None or later.name in results_report.UNDIRECTED_METRICS:   # a shift, not a loss
        return False
    return results_report.moved_worse(later.higher_is_better, earlier.evaluation, later.evaluation)


@register.filter
def category_label(category: str) -> str:
    """`TEST_CATEGORY_TYPE_MODEL_PERFORMANCE` -> `Model Performance`."""
    return results_report.CATEGORY_DISPLAY_NAMES.get(category, category)


@register.filter
def error_summary(text: str | None) -> str:
    return results_report.error_summary(text)


@register.filter
def error_needs_details(text: str | None) -> bool:
    return results_report.error_needs_details(text)


@register.filter
def finding_error(finding: str) -> tuple[str, str] | None:
    """(test name, error) of the engine's "<test> could not run: <error>" findings; None for other findings."""
    head, separator, error = str(finding).partition(" could not run: ")
    return (head, error) if separator else None


@register.filter
def text_diff(example: dict):
    """`{% with diff=example|text_diff %}`: the original / perturbed pair of a text example as pieces to render."""
    from stresstests.results.text_diff import text_diff as build

    return build(example.get("original") or "", example.get("perturbed") or "", example.get("diff"))
