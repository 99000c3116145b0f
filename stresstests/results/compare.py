"""Comparing the reports of two runs: severity changes, metric deltas, new and resolved findings."""
from __future__ import annotations

from dataclasses import dataclass

from stresstests.engine.vocabulary import SEVERITY_PASS

from .report import MetricRow, RunResults, case_label, metric_label, severity_rank


@dataclass
class SeverityChange:
    test_type: str
    name: str
    category: str
    before: str | None
    after: str | None

    @property
    def worse(self) -> bool:
        return severity_rank(self.after) > severity_rank(self.before)


@dataclass
class Finding:
    """A failing test case, identified across runs by its test and what it is about (features or subset)."""

    test_type: str
    test_name: str
    where: str
    severity: str
    sentence: str


@dataclass
class Comparison:
    severity_changes: list[SeverityChange]
    unchanged_tests: int
    only_in_base: list[str]
    only_in_head: list[str]
    model_metrics: list[tuple[MetricRow, MetricRow | None]]
    count_deltas: list[tuple[str, int, int]]
    new_findings: list[Finding]
    resolved_findings: list[Finding]


def compare_reports(base: dict, head: dict) -> Comparison:
    """`base` is the earlier run, `head` the later one; deltas read head minus base."""
    base_results, head_results = RunResults(base), RunResults(head)
    base_tests, head_tests = _tests_by_type(base_results), _tests_by_type(head_results)
    changes, unchanged = [], 0
    for test_type, (category, head_test) in head_tests.items():
        if test_type not in base_tests:
            continue
        before, after = base_tests[test_type][1].get("severity"), head_test.get("severity")
        if before == after:
            unchanged += 1
        else:
            changes.append(SeverityChange(test_type, head_test.get("name", test_type), category.get("name", ""),
                                          before, after))
    changes.sort(key=lambda c: (not c.worse, -severity_rank(c.after)))
    base_findings, head_findings = _findings(base_results), _findings(head_results)
    return Comparison(
        severity_changes=changes,
        unchanged_tests=unchanged,
        only_in_base=[base_tests[t][1].get("name", t) for t in base_tests if t not in head_tests],
        only_in_head=[head_tests[t][1].get("name", t) for t in head_tests if t not in base_tests],
        model_metrics=_metric_pairs(base_results, head_results),
        count_deltas=_count_deltas(base_results, head_results),
        new_findings=[f for key, f in head_findings.items() if key not in base_findings],
        resolved_findings=[f for key, f in base_findings.items() if key not in head_findings],
    )


def _tests_by_type(results: RunResults) -> dict[str, tuple[dict, dict]]:
    return {test["test_type"]: (category, test) for category, test in results.all_tests()}


def _findings(results: RunResults) -> dict[tuple[str, str], Finding]:
    found = {}
    for _, test in results.all_tests():
        for case in test.get("test_cases", []):
            if case.get("severity", SEVERITY_PASS) == SEVERITY_PASS:
                continue
            # Keyed by features, not subset: a subset test names its worst subset, which may move between runs
            # while the finding (this feature has failing subsets) stays the same.
            key = ", ".join(case.get("features") or []) or case.get("subset") or "whole dataset"
            where = case_label(case)
            found[(test["test_type"], key)] = Finding(
                test["test_type"], test.get("name", test["test_type"]), where, case["severity"],
                case.get("finding") or f"{test.get('name')} fails on {where}.")
    return found


def _metric_pairs(base: RunResults, head: RunResults) -> list[tuple[MetricRow, MetricRow | None]]:
    """Evaluation metrics of both runs, side by side (head row first, base row or None)."""
    base_rows = {row.name: row for row in base.model_metrics}
    return [(row, base_rows.get(row.name)) for row in head.model_metrics]


def _count_deltas(base: RunResults, head: RunResults) -> list[tuple[str, int, int]]:
    keys = ("alert", "warning", "pass", "skipped", "error")
    return [(metric_label(key), int(base.severity_counts.get(key, 0)), int(head.severity_counts.get(key, 0)))
            for key in keys]
