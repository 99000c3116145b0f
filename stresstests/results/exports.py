"""Downloads of a finished run: the JSON report, CSV of test cases and failing rows, and an offline HTML report."""
from __future__ import annotations

import csv
import io
import json
from functools import lru_cache
from pathlib import Path

from django.contrib.staticfiles import finders
from django.template.loader import render_to_string
from django.utils.text import slugify

from .report import RunResults, TestDetail, run_title, severity_label

# The offline report embeds these once; charts.js draws every chart from the JSON blocks of the page.
EMBEDDED_SCRIPTS = ("vendor/chartjs/chart.umd.js", "js/charts.js", "js/charts_tables.js")
EMBEDDED_STYLES = ("css/app.css", "css/results.css")
CASE_COLUMNS = ["category", "test_type", "test_name", "test_severity", "features", "subset", "severity",
                "importance_score", "finding"]


def export_filename(run, suffix: str) -> str:
    return f"{slugify(run.name) or 'stress-test'}-{str(run.id)[:8]}{suffix}"


def report_json(report: dict) -> bytes:
    return json.dumps(report, indent=2, ensure_ascii=False).encode()


def test_cases_csv(report: dict) -> str:
    """One row per test case (RIME's get_test_cases_df with metrics): fixed columns, then `metric:<name>`."""
    results = RunResults(report)
    rows, metric_names = [], {}
    for category, test in results.all_tests():
        for case in test.get("test_cases", []):
            metrics = case.get("metrics") or {}
            metric_names.update(dict.fromkeys(metrics))
            rows.append(({
                "category": category.get("category"), "test_type": test["test_type"],
                "test_name": test.get("name"), "test_severity": severity_label(test.get("severity")),
                "features": ";".join(case.get("features") or []), "subset": case.get("subset") or "",
                "severity": severity_label(case.get("severity")), "importance_score": case.get("importance_score"),
                "finding": case.get("finding") or "",
            }, metrics))
    header = CASE_COLUMNS + [f"metric:{name}" for name in metric_names]
    return _csv(header, [[fixed[c] for c in CASE_COLUMNS] + [metrics.get(n) for n in metric_names]
                         for fixed, metrics in rows])


def failing_rows_csv(detail: TestDetail) -> str:
    """The evaluation rows behind each failing case: the examples with their values, then the other row ids."""
    lines: list[tuple[list, dict]] = []
    value_columns: dict[str, None] = {}
    for case in detail.failing_cases:
        common = [", ".join(case.raw.get("features") or []), case.raw.get("subset") or "",
                  severity_label(case.severity)]
        table = case.example_table
        examples = [dict(zip(table.columns, values)) for values in table.rows] if table else []
        for example in examples:
            value_columns.update(dict.fromkeys(c for c in example if c != "row"))
            lines.append(([example.get("row"), *common], example))
        shown = {example.get("row") for example in examples}
        # Examples that say whether their row failed (the text tests' do) mark the other failing rows the same way.
        marked = {"failed": True} if any("failed" in example for example in examples) else {}
        for row in (case.raw.get("details") or {}).get("failing_row_indices") or []:
            if row not in shown:
                lines.append(([row, *common], marked))
    header = ["row", "features", "subset", "severity", *value_columns]
    return _csv(header, [fixed + [values.get(c) for c in value_columns] for fixed, values in lines])


def _csv(header: list[str], rows: list[list]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([_spreadsheet_safe(v) for v in header])
    writer.writerows([[_spreadsheet_safe(v) for v in row] for row in rows])
    return buffer.getvalue()


FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# Full-width forms that spreadsheets (LibreOffice, Excel in East Asian locales) also read as the start of a formula.
FULL_WIDTH_FORMULA_PREFIXES = ("\uff1d", "\uff0b", "\uff0d", "\uff20")


def _spreadsheet_safe(value):
    """Cells come from uploaded data: a text cell a spreadsheet would run as a formula is quoted with a leading '.
    Leading spaces do not stop a spreadsheet from reading `  =1+1` as a formula, so they are looked past."""
    if value is None:
        return ""
    if isinstance(value, str) and value.lstrip(" \u3000\u00a0").startswith(
            FORMULA_PREFIXES + FULL_WIDTH_FORMULA_PREFIXES):
        return "'" + value
    return value


@lru_cache(maxsize=None)
def _static_text(path: str) -> str:
    found = finders.find(path)
    if not found:
        raise FileNotFoundError(f"Static file {path} is missing; the offline report cannot embed it.")
    return Path(found).read_text(encoding="utf-8")


def _inline_script(text: str) -> str:
    # A literal "</script" inside embedded code would end the <script> element early.
    return text.replace("</script", "<\\/script")


def report_html(run, report: dict) -> str:
    """A single file that opens offline: styles and chart code embedded once, every chart's data as JSON blocks."""
    results = RunResults(report)
    # Without the drift distributions the pages repeat beside subset charts: the file shows each once, in the
    # Feature Drift section, which keeps the fraud example's report near 1.2 MB instead of 2 MB.
    tests = [TestDetail(test, category) for category, test in results.all_tests()]
    return render_to_string("stresstests/results/export_report.html", {
        "run": run,
        "title": run_title(run),
        "results": results,
        "tests": tests,
        "inline_css": "\n".join(_static_text(p) for p in EMBEDDED_STYLES),
        "inline_js": "\n".join(_inline_script(_static_text(p)) for p in EMBEDDED_SCRIPTS),
    })
