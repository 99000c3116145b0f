"""Read-only views of an engine report (StressTestReport.data) for the result pages, exports and comparisons.

Everything a page shows comes from the report; this module only groups, orders and labels it (charts come from
charts.py). Nothing here touches the database: views load StressTestReport.data and wrap it in RunResults.
"""
from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from stresstests.engine.metrics import METRICS
from stresstests.engine.vocabulary import (
    CATEGORY_DISPLAY_NAMES,
    RISK_GROUP_FAIRNESS,
    RISK_GROUP_OPERATIONAL,
    RISK_GROUP_SECURITY,
    SEVERITY_ALERT,
    SEVERITY_ORDER,
    SEVERITY_PASS,
    SEVERITY_WARNING,
    worst_severity,
)

from .charts import charts_for_case, distribution_chart, donut_chart, metric_label

SEVERITY_LABELS = {SEVERITY_ALERT: "Alert", SEVERITY_WARNING: "Warning", SEVERITY_PASS: "Pass"}
RISK_GROUP_LABELS = {RISK_GROUP_SECURITY: "Security", RISK_GROUP_FAIRNESS: "Fairness",
                     RISK_GROUP_OPERATIONAL: "Operational"}
RISK_GROUP_ORDER = (RISK_GROUP_SECURITY, RISK_GROUP_FAIRNESS, RISK_GROUP_OPERATIONAL)
CATEGORY_DESCRIPTIONS = {
    "TEST_CATEGORY_TYPE_MODEL_PERFORMANCE": "How well the model performs overall on the evaluation data, and how "
                                            "much that changed from the reference.",
    "TEST_CATEGORY_TYPE_SUBSET_PERFORMANCE": "Whether slices of the evaluation data perform markedly worse than "
                                             "the whole.",
    "TEST_CATEGORY_TYPE_SUBSET_PERFORMANCE_DEGRADATION": "Whether slices of the data lost more performance "
                                                         "between reference and evaluation than the whole.",
    "TEST_CATEGORY_TYPE_TRANSFORMATIONS": "Corrupts clean evaluation rows the way real pipelines do (nulls, "
                                          "outliers, wrong types, case changes) and measures how the model copes.",
    "TEST_CATEGORY_TYPE_DRIFT": "Compares reference and evaluation distributions of features, labels and "
                                "predictions, and what the shift costs the model.",
    "TEST_CATEGORY_TYPE_ABNORMAL_INPUTS": "Looks for evaluation rows unlike anything in the reference (outliers, "
                                          "unseen categories, wrong types) and their effect on the model.",
    "TEST_CATEGORY_TYPE_DATA_CLEANLINESS": "Checks the reference data itself for leakage, duplicates and label "
                                           "problems.",
    "TEST_CATEGORY_TYPE_ADVERSARIAL": "Searches for small changes to single rows that move the model's "
                                      "predictions the most.",
    "TEST_CATEGORY_TYPE_BIAS_AND_FAIRNESS": "Compares the model's behaviour across groups of the protected "
                                            "features.",
}
# Drift statistics named in case metrics, in the order a page prefers to show them.
DRIFT_STATISTICS = (("psi", "PSI"), ("jensen_shannon", "JS divergence"), ("kl_divergence", "KL divergence"),
                    ("kolmogorov-smirnov", "KS statistic"), ("kolmogorov_smirnov", "KS statistic"))
MAX_FEATURE_CHIPS = 4
MAX_METRIC_COLUMNS = 6


def severity_label(severity: str | None) -> str:
    return SEVERITY_LABELS.get(severity or "", "Not tested")


def severity_rank(severity: str | None) -> int:
    return SEVERITY_ORDER.get(severity or "", -1)


def url_safe_feature_id(feature: str) -> str:
    """RIME's id of a feature in URLs: URL-safe base64 of its name, without padding."""
    return base64.urlsafe_b64encode(feature.encode()).decode().rstrip("=")


def feature_from_url_id(feature_id: str) -> str:
    padded = feature_id + "=" * (-len(feature_id) % 4)
    return base64.urlsafe_b64decode(padded.encode()).decode()


# --- Views of one test and its cases ------------------------------------------------------------------------------


@dataclass
class TestRow:
    """One test as a row of the By Category table."""

    raw: dict

    __test__ = False  # not a pytest test class

    @property
    def test_type(self) -> str:
        return self.raw["test_type"]

    @property
    def name(self) -> str:
        return self.raw.get("name") or self.test_type

    @property
    def severity(self) -> str | None:
        return self.raw.get("severity")

    @property
    def severity_rank(self) -> int:
        return severity_rank(self.severity)

    @property
    def status(self) -> str:
        return self.raw.get("status", "completed")

    @property
    def not_run_reason(self) -> str:
        return self.raw.get("skip_reason") or self.raw.get("error") or ""

    @property
    def cases_total(self) -> int:
        return int(self.raw.get("summary_counts", {}).get("total", 0))

    @property
    def cases_passed(self) -> int:
        return int(self.raw.get("summary_counts", {}).get("pass", 0))

    @property
    def pass_rate(self) -> float | None:
        return self.cases_passed / self.cases_total if self.cases_total else None

    @property
    def failing_features(self) -> list[str]:
        return list(self.raw.get("failing_features") or [])

    @property
    def feature_chips(self) -> list[str]:
        return self.failing_features[:MAX_FEATURE_CHIPS]

    @property
    def more_features(self) -> int:
        return max(len(self.failing_features) - MAX_FEATURE_CHIPS, 0)


@dataclass
class CaseRow:
    """One test case on the test page: its label, severity, headline metrics and chart."""

    raw: dict
    position: int
    metric_columns: list[str]
    test_type: str = ""
    # The feature's reference vs evaluation distribution from the drift test, shown beside subset and group charts.
    distribution: dict | None = None

    @property
    def anchor(self) -> str:
        return f"case-{self.test_type}-{self.position}"

    @property
    def label(self) -> str:
        return case_label(self.raw)

    @property
    def severity(self) -> str:
        return self.raw["severity"]

    @property
    def severity_rank(self) -> int:
        return severity_rank(self.severity)

    @property
    def importance(self) -> float | None:
        return self.raw.get("importance_score")

    @property
    def metric_values(self) -> list[Any]:
        metrics = self.raw.get("metrics") or {}
        return [metrics.get(name) for name in self.metric_columns]

    @property
    def finding(self) -> str:
        return self.raw.get("finding") or ""

    @property
    def failing(self) -> bool:
        return self.severity != SEVERITY_PASS

    @cached_property
    def charts(self) -> list[dict]:
        """[{"id": unique element id, "spec": chart spec}] for the json_script blocks of the page."""
        specs = charts_for_case(self.raw, self.test_type)
        if self.distribution and not any(spec["title"].startswith("Distribution of") for spec in specs):
            specs.append(distribution_chart(self.distribution, ", ".join(self.raw.get("features") or []), self.raw,
                                            self.test_type))
        return [{"id": f"chart-{self.test_type}-{self.position}-{number}", "spec": spec}
                for number, spec in enumerate(specs)]

    @cached_property
    def example_table(self) -> ExampleTable | None:
        return example_table(self.raw.get("examples") or [])


def case_label(case: dict) -> str:
    """What a case is about: its features, then the subset it singles out (e.g. "country · country = BRA"); derived
    text attributes by their display names ("text.char_length" -> "Text length (characters)")."""
    raw = case.get("features") or []
    features = ", ".join(feature_label(f) for f in raw)
    subset = case.get("subset")
    if subset:
        for name in sorted(raw, key=len, reverse=True):
            if feature_label(name) != name:
                subset = subset.replace(name, feature_label(name))
    if features and subset and subset != features:
        return f"{features} · {subset}"
    return features or subset or "Whole dataset"


# The text attributes the text tests derive from a text column (RIME's `text.*` metadata features), named
# "<column>.<attribute>"; a feature name with another suffix is shown as it is.
TEXT_ATTRIBUTE_LABELS = {
    "char_length": "length (characters)", "length": "length (characters)",
    "token_length": "length (tokens)", "num_tokens": "length (tokens)", "word_count": "length (words)",
    "token_count": "length (tokens)", "max_token_length": "longest token (characters)",
    "avg_token_length": "average token length (characters)", "average_token_length": "average token length",
    "avg_word_length": "average word length",
    "language": "language", "script": "script",
    "non_alpha_share": "share of non-alphabetic characters", "non_alphabetic_share": "share of non-alphabetic characters",
    "non_alpha_ratio": "share of non-alphabetic characters", "uppercase_share": "share of capital letters",
    "digit_share": "share of digits", "punctuation_share": "share of punctuation",
}


def feature_label(name: str) -> str:
    """Display name of a feature: derived text attributes read as words, any other name unchanged."""
    column, dot, attribute = str(name).rpartition(".")
    if not dot or not column or attribute not in TEXT_ATTRIBUTE_LABELS:
        return name
    # The engine names them text.<attribute> (one text column) or text.<column>.<attribute> (premise, hypothesis).
    column = column.removeprefix("text.") if column.startswith("text.") else column
    return f"{column[:1].upper()}{column[1:]} {TEXT_ATTRIBUTE_LABELS[attribute]}"


@dataclass
class ExampleTable:
    columns: list[str]
    rows: list[list[Any]]


def example_table(examples: list[dict]) -> ExampleTable | None:
    """Before -> after rows for transformations and attacks; plain rows for abnormal inputs."""
    if not examples:
        return None
    rows: list[dict] = []
    for example in examples:
        flat = {k: v for k, v in example.items() if k != "changes"}
        for feature, change in (example.get("changes") or {}).items():
            flat["feature"] = ", ".join(filter(None, [flat.get("feature"), feature]))
            flat["before"] = _joined(flat.get("before"), change.get("before"))
            flat["after"] = _joined(flat.get("after"), change.get("after"))
        rows.append(flat)
    preferred = ["row", "feature", "value", "before", "after", "original", "perturbed", "prediction_before",
                 "prediction_after", "prediction_change", "original_prediction", "perturbed_prediction", "error"]
    present = [c for c in preferred if any(c in r for r in rows)]
    present += [c for r in rows for c in r if c not in present and not isinstance(r[c], (dict, list))]
    columns = list(dict.fromkeys(present))
    return ExampleTable(columns=columns, rows=[[r.get(c) for c in columns] for r in rows])


def _joined(existing: Any, value: Any) -> Any:
    return value if existing is None else f"{existing}; {value}"


@dataclass
class TestDetail:
    """The test page: the test's own fields plus its cases with sortable metric columns."""

    raw: dict
    category: dict
    distributions: dict[str, dict] = field(default_factory=dict)

    __test__ = False  # not a pytest test class

    @property
    def row(self) -> TestRow:
        return TestRow(self.raw)

    @property
    def thresholds(self) -> list[float] | None:
        return self.raw.get("thresholds")

    @cached_property
    def metric_columns(self) -> list[str]:
        """Numeric metrics shared by the cases, the most common first."""
        counts: dict[str, int] = {}
        for case in self.raw.get("test_cases", []):
            for name, value in (case.get("metrics") or {}).items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    counts[name] = counts.get(name, 0) + 1
        return sorted(counts, key=lambda name: -counts[name])[:MAX_METRIC_COLUMNS]

    @cached_property
    def cases(self) -> list[CaseRow]:
        return [CaseRow(case, position, self.metric_columns, self.raw["test_type"], self._distribution_of(case))
                for position, case in enumerate(self.raw.get("test_cases", []))]

    def _distribution_of(self, case: dict) -> dict | None:
        features = case.get("features") or []
        return self.distributions.get(features[0]) if len(features) == 1 else None

    @property
    def failing_cases(self) -> list[CaseRow]:
        return [case for case in self.cases if case.failing]

    @property
    def has_failing_rows(self) -> bool:
        """Whether the report names evaluation rows behind a failing case (subset tests name subsets, not rows)."""
        return any(case.raw.get("examples") or (case.raw.get("details") or {}).get("failing_row_indices")
                   for case in self.failing_cases)


# --- The whole run --------------------------------------------------------------------------------------------------


@dataclass
class RiskGroupView:
    key: str
    severity: str | None
    tests_passed: int
    tests_total: int

    @property
    def label(self) -> str:
        return RISK_GROUP_LABELS.get(self.key, self.key.capitalize())


@dataclass
class CategoryView:
    raw: dict
    tests: list[TestRow] = field(default_factory=list)
    # Features of the run's schema: only these have a feature page to link to (a label or prediction column has not).
    known_features: frozenset[str] = frozenset()

    @cached_property
    def findings(self) -> CategoryFindings:
        return CategoryFindings.of(self)

    def _count(self, severity: str) -> int:
        return sum(test.severity == severity for test in self.tests)

    @property
    def alerts(self) -> int:
        return self._count(SEVERITY_ALERT)

    @property
    def warnings(self) -> int:
        return self._count(SEVERITY_WARNING)

    @property
    def not_run(self) -> int:
        return sum(test.severity is None for test in self.tests)

    @property
    def key(self) -> str:
        return self.raw["category"]

    @property
    def name(self) -> str:
        return self.raw.get("name") or CATEGORY_DISPLAY_NAMES.get(self.key, self.key)

    @property
    def description(self) -> str:
        return CATEGORY_DESCRIPTIONS.get(self.key, "")

    @property
    def severity(self) -> str | None:
        return self.raw.get("severity")

    @property
    def risk_group(self) -> str:
        return self.raw.get("risk_group", RISK_GROUP_OPERATIONAL)

    @property
    def passed(self) -> int:
        return int(self.raw.get("passed") or 0)

    @property
    def total(self) -> int:
        return int(self.raw.get("total") or 0)

    @property
    def slug(self) -> str:
        return self.key.removeprefix("TEST_CATEGORY_TYPE_").lower()


@dataclass
class FeatureView:
    """One row of By Feature: RIME's feature result (drift statistic, model impact, failing tests)."""

    name: str
    feature_type: str
    protected: bool
    in_model: bool
    severity: str | None = None
    drift_statistic: tuple[str, float] | None = None
    model_impact: tuple[str, float] | None = None
    failing_tests: list[tuple[str, str, str]] = field(default_factory=list)   # (test_type, name, severity)
    tests_run: int = 0

    @property
    def url_id(self) -> str:
        return url_safe_feature_id(self.name)

    @property
    def impact_text(self) -> str:
        """The engine's impact is positive when the model does worse; say it in words rather than by sign."""
        if self.model_impact is None:
            return "–"
        metric, value = self.model_impact
        return f"{metric} {value:.3g} worse" if value > 0 else f"no loss of {metric}"


@dataclass
class MetricRow:
    name: str
    label: str
    reference: float | None
    evaluation: float | None
    higher_is_better: bool | None

    @property
    def change(self) -> float | None:
        if self.reference is None or self.evaluation is None:
            return None
        return self.evaluation - self.reference

    @property
    def worse(self) -> bool:
        if self.name in UNDIRECTED_METRICS:
            return False
        return moved_worse(self.higher_is_better, self.reference, self.evaluation)

    @property
    def shifted(self) -> bool:
        """A metric with no better direction that moved: said as "shifted", never as "worse"."""
        return self.name in UNDIRECTED_METRICS and bool(self.change)


def moved_worse(higher_is_better: bool | None, before: float | None, after: float | None) -> bool:
    if before is None or after is None or higher_is_better is None:
        return False
    return after < before if higher_is_better else after > before


# Metrics that describe the predictions rather than their quality: a rise is not "worse" (more positive predictions
# may be right when more fraud arrives), so the page says the value shifted.
UNDIRECTED_METRICS = frozenset({"positive_prediction_rate", "average_prediction", "prediction_variance"})
KEY_FINDING_KIND_LABELS = {
    "drift": "Data drift", "abnormal_inputs": "Abnormal inputs", "performance": "Model performance", "subset": "Weak subset", "fairness": "Fairness",
    "data_quality": "Data quality", "crash": "Crash", "robustness": "Robustness", "attack": "Attack",
    "overfit_reference": "Over-fitted reference", "not_run": "Not run",
}


@dataclass
class KeyFindingView:
    """One key finding (a root cause) for the overview; old reports' plain sentences become title-only entries."""

    title: str
    severity: str | None = None
    kind: str = ""
    features: list[str] = field(default_factory=list)
    detail: str = ""
    impact: float | None = None
    tests: list[dict] = field(default_factory=list)

    @classmethod
    def of(cls, entry: Any) -> KeyFindingView:
        if not isinstance(entry, dict):
            return cls(title=str(entry))
        return cls(title=str(entry.get("title") or ""), severity=entry.get("severity"), kind=entry.get("kind") or "",
                   features=list(entry.get("features") or []), detail=str(entry.get("detail") or ""),
                   impact=entry.get("impact"), tests=list(entry.get("tests") or []))

    @property
    def kind_label(self) -> str:
        return KEY_FINDING_KIND_LABELS.get(self.kind, "")

    def __str__(self) -> str:
        return self.title


class RunResults:
    """A finished run's report, arranged for the run page; built once per request from StressTestReport.data."""

    def __init__(self, report: dict) -> None:
        self.report = report or {}
        self.run = self.report.get("run", {})

    @property
    def schema_version(self) -> int:
        return int(self.report.get("schema_version", 1))

    @cached_property
    def categories(self) -> list[CategoryView]:
        known = frozenset((self.run.get("schema") or {}).get("feature_types") or {})
        return [CategoryView(c, [TestRow(t) for t in c.get("tests", [])], known)
                for c in self.report.get("categories", [])]

    @property
    def category_findings(self) -> list[CategoryFindings]:
        """The categories with something to say (a Warning, an Alert or a test that could not run), worst first."""
        found = [category.findings for category in self.categories if category.findings.any]
        return sorted(found, key=lambda f: -severity_rank(f.category.severity))

    def categories_by_group(self) -> list[tuple[RiskGroupView, list[CategoryView]]]:
        return [(group, [c for c in self.categories if c.risk_group == group.key]) for group in self.risk_groups
                if any(c.risk_group == group.key for c in self.categories)]

    @cached_property
    def risk_groups(self) -> list[RiskGroupView]:
        """Always the three groups, so "Not tested" is visible; counts are tests, as RIME's Risk Overview shows."""
        groups = []
        for key in RISK_GROUP_ORDER:
            tests = [t for c in self.categories if c.risk_group == key for t in c.tests if t.severity is not None]
            severity = worst_severity([t.severity for t in tests]) if tests else None
            groups.append(RiskGroupView(key, severity, sum(t.severity == SEVERITY_PASS for t in tests), len(tests)))
        return groups

    @property
    def model_task_label(self) -> str:
        task = self.run.get("model_task") or ""
        return task.removeprefix("MODEL_TASK_").replace("_", " ").capitalize() or "–"

    @property
    def inputs(self) -> list[tuple[str, bool]]:
        inputs = self.run.get("inputs") or {}
        model = f"model ({inputs['model_source']})" if inputs.get("model_source") else "model"
        return [("labels", bool(inputs.get("labels"))), ("predictions", bool(inputs.get("predictions"))),
                (model, bool(inputs.get("model")))]

    @property
    def sensitivity_label(self) -> str:
        sensitivity = self.run.get("global_test_sensitivity") or "TEST_SENSITIVITY_DEFAULT"
        return sensitivity.removeprefix("TEST_SENSITIVITY_").replace("_", " ").capitalize()

    @property
    def severity_counts(self) -> dict:
        return self.run.get("severity_counts") or {}

    @property
    def tests_total(self) -> int:
        return sum(self.severity_counts.values())

    @property
    def donut(self) -> dict:
        return donut_chart(self.severity_counts)

    @cached_property
    def key_findings(self) -> list[KeyFindingView]:
        """Schema 2 entries (root causes) as they are; schema 1 sentences as entries with only a title."""
        return [KeyFindingView.of(entry) for entry in self.report.get("key_findings") or []]

    @property
    def reference_check(self) -> dict | None:
        """The engine's verdict that the reference looks like training data (schema 2), else None."""
        check = self.run.get("reference_check")
        return check if isinstance(check, dict) and check.get("overfit") else None

    @property
    def left_out_columns(self) -> list[dict]:
        return list((self.run.get("schema") or {}).get("left_out_columns") or [])

    @property
    def model_metrics(self) -> list[MetricRow]:
        rows = []
        for name, pair in (self.run.get("model_metrics") or {}).items():
            info = METRICS.get(name)
            rows.append(MetricRow(name, metric_label(name), pair.get("reference"), pair.get("evaluation"),
                                  info.higher_is_better if info else None))
        return rows

    @property
    def data_summary(self) -> list[tuple[str, dict]]:
        return [(label, self.run.get(key) or {}) for key, label in (("reference", "Reference"),
                                                                    ("evaluation", "Evaluation"))]

    def test(self, test_type: str) -> TestDetail | None:
        for category in self.report.get("categories", []):
            for test in category.get("tests", []):
                if test.get("test_type") == test_type:
                    return TestDetail(test, category, self.feature_distributions)
        return None

    @cached_property
    def feature_distributions(self) -> dict[str, dict]:
        """Each feature's drift-test details (reference and evaluation shares), keyed by feature."""
        return {case["features"][0]: case.get("details") or {}
                for _, test in self.all_tests() if test.get("test_type") == "feature_drift"
                for case in test.get("test_cases", []) if len(case.get("features") or []) == 1
                and (case.get("details") or {}).get("reference_shares") is not None}

    def all_tests(self) -> list[tuple[dict, dict]]:
        return [(category, test) for category in self.report.get("categories", [])
                for test in category.get("tests", [])]

    @cached_property
    def features(self) -> list[FeatureView]:
        schema = self.run.get("schema") or {}
        types = schema.get("feature_types") or {}
        in_model = set(schema.get("features") or [])
        protected = set(schema.get("protected_features") or [])
        views = {name: FeatureView(name, types.get(name, ""), name in protected, name in in_model) for name in types}
        for _, test in self.all_tests():
            for case in test.get("test_cases", []):
                # A case on text.<attribute> counts for its text column, once even when it names two attributes.
                for name in dict.fromkeys(self.feature_row_of(n) for n in case.get("features") or []):
                    if name in views:
                        _add_case(views[name], test, case)
        return sorted(views.values(), key=lambda f: (-severity_rank(f.severity), f.name))

    @cached_property
    def text_columns(self) -> list[str]:
        schema = self.run.get("schema") or {}
        named = schema.get("text_features")
        if named is not None:
            return list(named)
        return [name for name, kind in (schema.get("feature_types") or {}).items() if kind == "text"]

    def feature_row_of(self, name: str) -> str:
        """The By Feature row a case feature belongs to: a derived text attribute (text.<attribute>, or
        text.<column>.<attribute> with two text columns) belongs to its text column; any other name to itself."""
        head, dot, attribute = str(name).rpartition(".")
        if not dot or not head.startswith("text") or attribute not in TEXT_ATTRIBUTE_LABELS:
            return name
        if head == "text":
            return self.text_columns[0] if len(self.text_columns) == 1 else name
        column = head.removeprefix("text.")
        return column if column in self.text_columns else name

    def feature(self, name: str) -> FeatureView | None:
        return next((f for f in self.features if f.name == name), None)

    def feature_cases(self, name: str) -> list[tuple[dict, CaseRow]]:
        """Every test case about `name`, worst first: (test, case) for the feature's page."""
        found = [(test, CaseRow(case, position, [], test["test_type"]))
                 for _, test in self.all_tests()
                 for position, case in enumerate(test.get("test_cases", []))
                 if name in {self.feature_row_of(n) for n in case.get("features") or []}]
        return sorted(found, key=lambda pair: -pair[1].severity_rank)

    def feature_distribution_chart(self, name: str) -> dict | None:
        details = self.feature_distributions.get(name)
        if details is None:
            return None
        return {"id": f"chart-feature-{url_safe_feature_id(name)}", "spec": distribution_chart(details, name, {}, "")}


def _add_case(view: FeatureView, test: dict, case: dict) -> None:
    view.tests_run += 1
    severity = case.get("severity")
    if severity_rank(severity) > severity_rank(view.severity):
        view.severity = severity
    metrics = case.get("metrics") or {}
    if test.get("test_type") == "feature_drift" and len(case.get("features") or []) == 1:
        view.drift_statistic = next(((label, metrics[key]) for key, label in DRIFT_STATISTICS
                                     if isinstance(metrics.get(key), (int, float))), None)
        impact = next(((key.removeprefix("impact_"), value) for key, value in metrics.items()
                       if key.startswith("impact_") and key != "impact_effective_rows"
                       and isinstance(value, (int, float))), None)
        if impact:
            view.model_impact = (metric_label(impact[0]), impact[1])
    if severity != SEVERITY_PASS and all(t[0] != test["test_type"] for t in view.failing_tests):
        view.failing_tests.append((test["test_type"], test.get("name", test["test_type"]), severity))


# --- Errors in a sentence, and the findings of each category ------------------------------------------------------

ERROR_CLASS = re.compile(r"\b([A-Z][A-Za-z0-9_]*(?:Error|Exception))\b")
LEADING_ERROR_CLASSES = re.compile(r"^(?:[A-Za-z0-9_.]*(?:Error|Exception):\s*)+")
# The end of the first sentence, or the colon before a nested exception ("...predicting: CatBoostError: ...").
NESTED_OR_NEXT_SENTENCE = re.compile(r"(?<=[.!?])\s|:\s+(?=[A-Za-z0-9_.]*(?:Error|Exception)\b)")
MAX_SUMMARY_CHARS = 120


def error_summary(text: str | None) -> str:
    """One short sentence of an error for a list or a table; the full text goes behind a disclosure.

    Method: the first line without leading exception class names, cut at its first sentence or its first nested
    message ("...while predicting: CatBoostError: Bad value..." -> "...while predicting"), at most 120 characters at a
    word boundary; the exception class it names goes in brackets so two different errors still read differently."""
    lines = (text or "").strip().splitlines()
    if not lines:
        return ""
    body = LEADING_ERROR_CLASSES.sub("", lines[0])
    sentence = NESTED_OR_NEXT_SENTENCE.split(body, maxsplit=1)[0].strip().rstrip(".")
    classes = list(dict.fromkeys(ERROR_CLASS.findall(text or "")))
    if len(sentence.split()) < 4:   # "KeyError: 'amount'" says nothing alone
        sentence = f"It stopped on an unexpected error: {sentence}" if sentence else "It stopped on an unexpected error"
    sentence = _shortened(sentence)
    named = next((name for name in reversed(classes) if name not in sentence), None)
    return f"{sentence} ({named})." if named else f"{sentence}."


def _shortened(sentence: str) -> str:
    if len(sentence) <= MAX_SUMMARY_CHARS:
        return sentence
    cut = sentence[:MAX_SUMMARY_CHARS].rsplit(" ", 1)[0]
    return cut + "…"


def error_needs_details(text: str | None) -> bool:
    """Whether the summary leaves something out (then the full text is offered behind a disclosure)."""
    summary = error_summary(text)
    return bool(text) and summary.rstrip(".") != (text or "").strip().rstrip(".")


@dataclass
class CategoryFindings:
    """A category's findings for the overview, as RIME groups them: the worst tests and the features they failed
    on (as chips), the sentence of the worst case, and tests that could not run (summarised)."""

    category: CategoryView
    failing_tests: list[TestRow]
    features: list[FeatureChip]              # the features failing tests named, worst first
    worst_finding: str
    worst_finding_test: TestRow | None
    errors: list[TestRow]

    @classmethod
    def of(cls, category: CategoryView) -> CategoryFindings:
        failing = sorted((t for t in category.tests if t.severity not in (None, SEVERITY_PASS)),
                         key=lambda t: -t.severity_rank)
        worst_case, worst_test = _worst_case(failing)
        return cls(category, failing, _failing_feature_chips(category), (worst_case or {}).get("finding") or "",
                   worst_test, [t for t in category.tests if t.status == "error"])

    @property
    def any(self) -> bool:
        return bool(self.failing_tests or self.errors)

    @property
    def feature_chips(self) -> list[FeatureChip]:
        return self.features[:MAX_FEATURE_CHIPS + 2]

    @property
    def more_features(self) -> int:
        return max(len(self.features) - len(self.feature_chips), 0)

    @property
    def test_chips(self) -> list[TestRow]:
        return self.failing_tests[:MAX_FEATURE_CHIPS]

    @property
    def more_tests(self) -> int:
        return max(len(self.failing_tests) - len(self.test_chips), 0)


def _worst_case(failing: list[TestRow]) -> tuple[dict | None, TestRow | None]:
    """The failing case with the highest severity, then the highest model impact (the report's own order)."""
    best: tuple[tuple, dict, TestRow] | None = None
    for test in failing:
        for case in test.raw.get("test_cases") or []:
            if case.get("severity") in (None, SEVERITY_PASS) or not case.get("finding"):
                continue
            rank = (severity_rank(case["severity"]), case.get("importance_score") or 0.0)
            if best is None or rank > best[0]:
                best = (rank, case, test)
    return (best[1], best[2]) if best else (None, None)


@dataclass
class FeatureChip:
    name: str
    severity: str
    linked: bool      # has a feature page

    @property
    def url_id(self) -> str:
        return url_safe_feature_id(self.name)


def _failing_feature_chips(category: CategoryView) -> list[FeatureChip]:
    worst: dict[str, str] = {}
    for test in category.tests:
        for case in test.raw.get("test_cases") or []:
            severity = case.get("severity")
            if severity in (None, SEVERITY_PASS):
                continue
            for feature in case.get("features") or []:
                if severity_rank(severity) > severity_rank(worst.get(feature)):
                    worst[feature] = severity
    ordered = sorted(worst.items(), key=lambda pair: -severity_rank(pair[1]))
    return [FeatureChip(name, severity, name in category.known_features) for name, severity in ordered]


def run_title(run: Any) -> str:
    """The run's name with its date, unless the name already holds that date (the wizard's default name does)."""
    from django.utils import timezone

    when = run.finished_at or run.created_at
    day = f"{timezone.localtime(when):%Y-%m-%d}" if when else ""
    return str(run) if day in str(run) else f"{run} – {day}"
