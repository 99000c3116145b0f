"""The contract between the runner and the tests: a test, its cases and result, the registry, the schema and the
run's context (docs/engine.md)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from stresstests.engine.vocabulary import (
    ALL_TASKS,
    MODALITIES,
    MODALITY_TABULAR,
    RANKING_TASKS,
    REQUIREMENTS,
    RISK_GROUP,
    STATUS_COMPLETED,
    modality_for,
    worst_severity,
)

if TYPE_CHECKING:
    from stresstests.engine.config import RunConfig
    from stresstests.engine.metrics import GroupedMetric
    from stresstests.engine.models import ModelAdapter, PredictionCache
    from stresstests.engine.profile import Profile



@dataclass
class TestCase:
    features: list[str]
    severity: str
    metrics: dict[str, float | int | str | None]
    importance_score: float | None = None
    finding: str = ""
    examples: list[dict] = field(default_factory=list)
    details: dict = field(default_factory=dict)
    subset: str | None = None

    __test__ = False  # not a pytest test class


@dataclass
class TestResult:
    test: type[StressTest]
    status: str
    params: dict = field(default_factory=dict)
    thresholds: tuple[float, float] | None = None
    cases: list[TestCase] = field(default_factory=list)
    duration_s: float = 0.0
    reason: str | None = None      # why skipped, or the error message

    __test__ = False  # not a pytest test class

    @property
    def severity(self) -> str | None:
        if self.status != STATUS_COMPLETED:
            return None
        return worst_severity([case.severity for case in self.cases])


@dataclass
class SamplingInfo:
    rows: int                      # rows in the dataset (a streamed file: every row read while sampling it)
    sampled_rows: int              # rows the tests use
    streamed: dict | None = None   # how a file too large for memory was sampled while read (data_stream.StreamStats)

    @property
    def rate(self) -> float:
        return self.sampled_rows / self.rows if self.rows else 1.0


class StressTest:
    """One RIME test. Subclasses set the class attributes and implement `run`; `@register` adds them."""

    __test__ = False  # not a pytest test class

    key: ClassVar[str]
    name: ClassVar[str]
    category: ClassVar[str]
    description: ClassVar[str] = ""
    why_it_matters: ClassVar[str] = ""
    requires: ClassVar[frozenset[str]] = frozenset()
    tasks: ClassVar[frozenset[str]] = ALL_TASKS
    # The data modalities the test runs on (vocabulary.MODALITY_*): tabular tests by default; text tests in
    # categories/text/ say {MODALITY_TEXT}; a test that serves both names both.
    modalities: ClassVar[frozenset[str]] = frozenset({MODALITY_TABULAR})
    # Tasks outside `tasks` for which the test is listed as skipped with this reason (rather than left out): a test
    # a user of that task would look for. Tests that are another task's version of a metric name none.
    not_applicable: ClassVar[dict[str, str]] = {}
    default_params: ClassVar[dict] = {}
    thresholds: ClassVar[tuple[float, float]] = (0.05, 0.1)
    # False when the thresholds bound a value from below (e.g. a ratio that must stay above 0.8).
    thresholds_higher_is_worse: ClassVar[bool] = True
    # RIME's default `run`: False for tests that run only when individual_tests_config[key]["run"] is true.
    run_by_default: ClassVar[bool] = True
    # Orders key findings of equal severity: the headline metric of a task outranks its diagnostic variants.
    finding_priority: ClassVar[int] = 0

    def run(self, ctx: Context, params: dict, thresholds: tuple[float, float]) -> list[TestCase]:
        raise NotImplementedError


class SkipTest(Exception):
    """Raised by `run` when the inputs do not allow the test (e.g. no numeric feature); the message is the reason."""


REGISTRY: dict[str, type[StressTest]] = {}


def register(cls: type[StressTest]) -> type[StressTest]:
    if cls.key in REGISTRY and REGISTRY[cls.key] is not cls:
        raise ValueError(f"Two tests are registered under the key {cls.key!r}.")
    if cls.category not in RISK_GROUP:
        raise ValueError(f"{cls.__name__} has an unknown category {cls.category!r}.")
    if not cls.modalities or set(cls.modalities) - set(MODALITIES):
        raise ValueError(f"{cls.__name__} has unknown modalities {sorted(cls.modalities)}.")
    unknown = set(cls.requires) - REQUIREMENTS
    if unknown:
        raise ValueError(f"{cls.__name__} requires unknown things: {sorted(unknown)}.")
    REGISTRY[cls.key] = cls
    return cls


@dataclass
class Schema:
    label_col: str | None
    pred_col: str | list[str] | None
    timestamp_col: str | None
    features: list[str]                       # model inputs, in order
    protected_features: list[str] = field(default_factory=list)
    features_not_in_model: list[str] = field(default_factory=list)
    excluded_columns: list[str] = field(default_factory=list)   # global_exclude_columns
    feature_types: dict[str, str] = field(default_factory=dict)
    class_names: list[str] | None = None
    intersections: list[list[str]] = field(default_factory=list)   # feature combinations for subset tests
    embeddings: dict[str, list[str]] = field(default_factory=dict)  # embedding name -> its numeric columns
    text_features: list[str] = field(default_factory=list)   # data_params.text_features: makes the run a text run
    query_col: str | None = None              # ranking: the column grouping rows into queries (a role, not a feature)
    # Columns kept out of the features with the reason, e.g. [{"column": "preds", "reason": "..."}].
    left_out_columns: list[dict] = field(default_factory=list)
    # What the model is given, in the dataset's column order: the features plus left-out columns (a real input that
    # looks like model output is still an input; it is only not tested as a feature). None: the features.
    inputs: list[str] | None = None

    @property
    def model_inputs(self) -> list[str]:
        """Columns the model is called with (the dataset's columns, minus label, prediction and timestamp)."""
        return list(self.inputs) if self.inputs is not None else list(self.features)

    @property
    def tested_features(self) -> list[str]:
        """Columns data tests look at: model inputs and features not in the model, minus excluded columns."""
        return [c for c in [*self.features, *self.features_not_in_model] if c not in self.excluded_columns]

    def features_of_type(self, *types: str) -> list[str]:
        return [c for c in self.tested_features if self.feature_types.get(c) in types]


@dataclass
class Context:
    config: RunConfig
    schema: Schema
    profile: Profile
    model_task: str
    reference: pd.DataFrame
    evaluation: pd.DataFrame
    reference_labels: np.ndarray | None = None
    evaluation_labels: np.ndarray | None = None
    reference_predictions: np.ndarray | None = None
    evaluation_predictions: np.ndarray | None = None
    model: ModelAdapter | None = None
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    cache: PredictionCache | None = None
    model_seconds: float = 0.0
    memo: dict = field(default_factory=dict)   # values shared by the tests of one run (e.g. subset codes)
    notes: list[str] = field(default_factory=list)   # what the run changed in the data (reported as run notes)

    def __post_init__(self) -> None:
        if self.cache is None and self.model is not None:
            from stresstests.engine.models import PredictionCache

            self.cache = PredictionCache(self.model, features=self.schema.model_inputs, model_task=self.model_task)

    @property
    def modality(self) -> str:
        """MODALITY_TEXT when the data names text features (data_params.text_features), else MODALITY_TABULAR."""
        return modality_for(self.schema.text_features)

    # -- availability -------------------------------------------------------------------------------------------
    @property
    def has_labels(self) -> bool:
        return self.evaluation_labels is not None and self.reference_labels is not None

    @property
    def has_predictions(self) -> bool:
        return self.evaluation_predictions is not None and self.reference_predictions is not None

    @property
    def has_model(self) -> bool:
        return self.model is not None

    # -- model ----------------------------------------------------------------------------------------------------
    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Predictions for `frame` (any columns; the model sees only schema.model_inputs), cached per row content."""
        if self.cache is None:
            from stresstests.engine.errors import ModelLoadError

            raise ModelLoadError("This test needs a callable model, but the run has predictions or data only.")
        started = time.perf_counter()
        predictions = self.cache.predict(frame)
        self.model_seconds += time.perf_counter() - started
        return predictions

    def predict_variants(self, base: pd.DataFrame, variants: list[pd.DataFrame]) -> np.ndarray:
        """`predict(pd.concat(variants))` for copies of `base` with some columns replaced: one batched model call,
        and columns the variants share with `base` are hashed once (see PredictionCache.predict_batch)."""
        if self.cache is None:
            return self.predict(pd.concat(variants, ignore_index=True))   # raises the no-model error
        started = time.perf_counter()
        predictions = self.cache.predict_batch(base, variants)
        self.model_seconds += time.perf_counter() - started
        return predictions

    def embed(self, frame: pd.DataFrame) -> np.ndarray | None:
        """The model's own embeddings of `frame`'s rows, shape (n, d), when the model has `embed` (the Hugging Face
        adapter and its sandboxed proxy: the mean-pooled last hidden state); None when it has none."""
        embed = getattr(self.model, "embed", None)
        if embed is None:
            return None
        started = time.perf_counter()
        vectors = embed(frame[self.schema.model_inputs])
        self.model_seconds += time.perf_counter() - started
        if vectors is None:
            return None
        vectors = np.asarray(vectors, dtype=float)
        if vectors.ndim != 2 or len(vectors) != len(frame):
            from stresstests.engine.errors import ModelOutputError

            raise ModelOutputError(f"The model's embed() must return one vector per row, shape ({len(frame)}, d); "
                                   f"got shape {vectors.shape}.")
        return vectors

    # -- metrics --------------------------------------------------------------------------------------------------
    def metric_name(self) -> str:
        from stresstests.engine.metrics import primary_metric

        return primary_metric(self.model_task)

    def higher_is_better(self) -> bool:
        from stresstests.engine.metrics import higher_is_better

        return higher_is_better(self.metric_name())

    def score(self, labels: np.ndarray | None, predictions: np.ndarray | None) -> float | None:
        from stresstests.engine.metrics import compute_metric

        if labels is None or predictions is None or len(labels) == 0:
            return None
        return compute_metric(self.metric_name(), self.model_task, labels, predictions)

    def whole_metric(self, name: str, which: str) -> GroupedMetric:
        """Metric `name` on the whole reference or evaluation set (`which`), computed once per run: Model
        Performance tests and the report's headline metrics read the same values."""
        key = ("whole_metric", name, which)
        if key not in self.memo:
            from stresstests.engine.metrics import METRICS, grouped_metric

            labels = getattr(self, f"{which}_labels") if METRICS[name].needs_labels else None
            predictions = getattr(self, f"{which}_predictions")
            self.memo[key] = grouped_metric(name, self.model_task, labels, predictions,
                                            np.zeros(len(predictions), dtype=np.int64), 1, k=self.ndcg_k)
        return self.memo[key]

    @property
    def ndcg_k(self) -> int | None:
        """NDCG@k's cut-off from model_profiling.metric_configs_json (ranking); None: whole lists."""
        return self.config.model_profiling.ndcg_k

    def label_values(self, which: str) -> np.ndarray | None:
        """The reference or evaluation labels as one value per row: for ranking the relevance grades (the engine
        keeps ranking labels as [relevance, query] rows, see stresstests/engine/ranking.py)."""
        labels = getattr(self, f"{which}_labels")
        if labels is None:
            return None
        labels = np.asarray(labels)
        return labels[:, 0] if self.model_task in RANKING_TASKS and labels.ndim == 2 else labels

    def labelled_share(self) -> float:
        if self.evaluation_labels is None or len(self.evaluation_labels) == 0:
            return 0.0
        return float(1.0 - pd.isna(self.evaluation_labels).mean())

    def impact(self, failing_mask: np.ndarray) -> dict[str, Any]:
        """Model impact of the evaluation rows in `failing_mask`.

        With labels (at least `impact_label_threshold` of rows): the primary metric on passing vs failing rows,
        `impact` = how much worse failing rows are (positive = worse, in metric units). Otherwise the absolute
        change in average prediction of failing rows vs passing rows (`metric` = "average_prediction"; for
        regression divided by the reference prediction spread so thresholds stay unit-free).
        Returns {"metric", "passing", "failing", "impact", "n_failing"}; `impact` is None when it cannot be measured.
        """
        return self.impact_detail(failing_mask)[0]

    def impact_detail(self, failing_mask: np.ndarray) -> tuple[dict[str, Any], GroupedMetric | None]:
        """`impact`, and with labels the primary metric of passing (group 0) and failing (group 1) rows with its
        standard errors, from the one grouped computation that gave both."""
        from stresstests.engine.metrics import grouped_metric, prediction_impact

        mask = np.asarray(failing_mask, dtype=bool)
        result: dict[str, Any] = {"metric": None, "passing": None, "failing": None, "impact": None,
                                  "n_failing": int(mask.sum())}
        predictions = self.evaluation_predictions
        if predictions is None or not mask.any() or mask.all():
            return result, None
        # Ranking: a per-query metric on the failing rows alone (a row or two per query) is not on the scale of whole
        # lists, so a ranking model's impact is the shift of its scores.
        if self.labelled_share() >= self.config.model_profiling.impact_label_threshold \
                and self.model_task not in RANKING_TASKS:
            grouped = grouped_metric(self.metric_name(), self.model_task, self.evaluation_labels, predictions,
                                     mask.astype(np.int64), 2)
            passing, failing = (None if np.isnan(value) else float(value) for value in grouped.values)
            if passing is not None and failing is not None:
                gap = passing - failing if self.higher_is_better() else failing - passing
                result.update(metric=self.metric_name(), passing=passing, failing=failing, impact=float(gap))
                return result, grouped
        result.update(prediction_impact(self.model_task, predictions, mask, self.reference_predictions))
        return result, None


def json_safe(value: Any) -> Any:
    """Numpy scalars, arrays, NaN and infinities to plain JSON values (NaN/inf become None)."""
    # Fast paths by exact type: a report holds tens of thousands of plain values and this runs over all of them.
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is dict:
        return {k if type(k) is str else str(k): json_safe(v) for k, v in value.items()}
    if kind is list:
        return [json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return [json_safe(v) for v in value.tolist()]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, (pd.Timestamp, np.datetime64)):
        return str(value)
    if value is pd.NA or value is pd.NaT:
        return None
    return value
