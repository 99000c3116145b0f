"""Typed run configuration, mirroring RIME's `test_run_config` and `data_params`.

`RunConfig.from_dict` accepts either RIME's nested shape (`categories`, `profiling_config`, `test_suite_config`,
`run_time_info`) or the same keys flattened; unknown categories and sensitivities are rejected with a clear message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any

from stresstests.engine.vocabulary import ALL_CATEGORIES, DEFAULT_STRESS_TEST_CATEGORIES
from stresstests.engine.errors import ConfigError

TEST_SENSITIVITY_LESS_SENSITIVE = "TEST_SENSITIVITY_LESS_SENSITIVE"
TEST_SENSITIVITY_DEFAULT = "TEST_SENSITIVITY_DEFAULT"
TEST_SENSITIVITY_MORE_SENSITIVE = "TEST_SENSITIVITY_MORE_SENSITIVE"

# Built-in thresholds are multiplied by this factor: a less sensitive run allows a wider margin before failing.
SENSITIVITY_SCALE = {
    TEST_SENSITIVITY_LESS_SENSITIVE: 1.5,
    TEST_SENSITIVITY_DEFAULT: 1.0,
    TEST_SENSITIVITY_MORE_SENSITIVE: 2.0 / 3.0,
}
# RIME's JSON template writes the sensitivity as an integer.
_SENSITIVITY_BY_NUMBER = {1: TEST_SENSITIVITY_LESS_SENSITIVE, 2: TEST_SENSITIVITY_DEFAULT,
                          3: TEST_SENSITIVITY_MORE_SENSITIVE}

# Parameter names RIME uses for a test's [warning, alert] pair; the first present wins.
THRESHOLD_PARAM_NAMES = (
    "severity_thresholds", "severity_level_thresholds", "performance_change_thresholds",
    "psi_thresholds", "distance_thresholds", "accuracy_thresholds", "p_value_thresholds",
)


@dataclass
class ColumnTypeInfo:
    """RIME's `data_profiling.column_type_info` with its defaults."""

    min_nunique_for_numeric: int = 10
    numeric_violation_threshold: float = 0.01
    categorical_violation_threshold: float = 0.05
    min_unique_prop: float = 0.99
    allow_float_unique: bool = False
    numeric_range_inference_threshold: float = 1.0
    unseen_values_allowed_criteria: float = 0.25


@dataclass
class DataProfiling:
    num_quantiles: int = 1001
    num_subsets: int = 10
    column_type_info: ColumnTypeInfo = field(default_factory=ColumnTypeInfo)
    num_feats_to_profile: int = 30


@dataclass
class ModelProfiling:
    impact_label_threshold: float = 0.8   # below this share of labelled eval rows, impact uses average prediction
    impact_metric: str | None = None
    subset_summary_metric: str | None = None
    num_feats_for_subset_summary: int | None = None
    # RIME's metric configuration, a JSON object (or its text), e.g. {"normalized_discounted_cumulative_gain":
    # {"k": 50}}: NDCG@k for ranking. Other metrics take no configuration yet, so other names are refused.
    metric_configs_json: str | dict | None = None

    def __post_init__(self) -> None:
        self.metric_configs_json = _metric_configs(self.metric_configs_json)

    @property
    def ndcg_k(self) -> int | None:
        """The cut-off of NDCG (metric_configs_json), None for the whole list."""
        return (self.metric_configs_json or {}).get(NDCG_CONFIG_NAME, {}).get("k")


NDCG_CONFIG_NAME = "normalized_discounted_cumulative_gain"


def _metric_configs(raw: str | dict | None) -> dict | None:
    where = "model_profiling.metric_configs_json"
    if raw is None or raw == "":
        return None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as error:
            raise ConfigError(f"{where} is not valid JSON: {error}.") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a JSON object, got {type(raw).__name__}.")
    unknown = sorted(set(raw) - {NDCG_CONFIG_NAME})
    if unknown:
        raise ConfigError(f"{where} configures {', '.join(unknown)}; only {NDCG_CONFIG_NAME} (with k) is supported.")
    ndcg = raw.get(NDCG_CONFIG_NAME) or {}
    k = ndcg.get("k") if isinstance(ndcg, dict) else None
    if not isinstance(ndcg, dict) or set(ndcg) - {"k"} or (
            k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1)):
        raise ConfigError(f"{where}: {NDCG_CONFIG_NAME} takes {{\"k\": a whole number of at least 1}}, got {ndcg!r}.")
    return raw


@dataclass
class SamplingConfig:
    """How many rows each dataset keeps. `nrows` set: sample that many; unset: keep all up to `max_rows`."""

    sample: bool = True
    nrows: int | None = None
    max_rows: int = 200_000


@dataclass
class DataParams:
    """RIME's `data_params`, shared by reference and evaluation."""

    label_col: str | None = None
    pred_col: str | list[str] | None = None
    timestamp_col: str | None = None
    class_names: list[str] | None = None
    categorical_features: list[str] = field(default_factory=list)
    protected_features: list[str] = field(default_factory=list)
    features_not_in_model: list[str] = field(default_factory=list)
    text_features: list[str] = field(default_factory=list)
    intersections: list[dict] = field(default_factory=list)
    # RIME's ranking_info: {query_col, nqueries, nrows_per_query, drop_query_id}; query_col is required for
    # MODEL_TASK_RANKING. nqueries samples that many whole queries, nrows_per_query caps each query's rows (both
    # per dataset, null = all); drop_query_id: false gives the model the query column (see ranking.py).
    ranking_info: dict | None = None
    # RIME's embeddings: [{"name": ..., "cols": [...]}], numeric columns that together form one vector.
    embeddings: list[dict] = field(default_factory=list)
    # Columns that look like model output but are features after all (otherwise they are left out, with a note).
    keep_as_features: list[str] = field(default_factory=list)
    nrows: int | None = None
    sample: bool = True

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> DataParams:
        return _dataclass_from_dict(cls, raw or {}, "data_params")


@dataclass
class RunConfig:
    categories: list[str] = field(default_factory=lambda: list(DEFAULT_STRESS_TEST_CATEGORIES))
    individual_tests_config: dict[str, dict] = field(default_factory=dict)
    global_test_sensitivity: str = TEST_SENSITIVITY_DEFAULT
    global_exclude_columns: list[str] = field(default_factory=list)
    random_seed: int = 0
    explicit_errors: bool = False
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    data_profiling: DataProfiling = field(default_factory=DataProfiling)
    model_profiling: ModelProfiling = field(default_factory=ModelProfiling)

    def __post_init__(self) -> None:
        self.categories = normalise_categories(self.categories)
        self.global_test_sensitivity = _normalise_sensitivity(self.global_test_sensitivity)
        try:
            self.random_seed = int(self.random_seed)
        except (TypeError, ValueError):
            raise ConfigError(f"random_seed must be an integer, got {self.random_seed!r}.") from None

    @property
    def sensitivity_scale(self) -> float:
        return SENSITIVITY_SCALE[self.global_test_sensitivity]

    def test_config(self, key: str) -> dict:
        return dict(self.individual_tests_config.get(key) or {})

    def test_enabled(self, key: str, default: bool = True) -> bool:
        """individual_tests_config[key]["run"] when given, else the test's own default (RIME's `run` column)."""
        return bool(self.test_config(key).get("run", default))

    def params_for(self, key: str, defaults: dict) -> dict:
        params = dict(defaults)
        params.update({k: v for k, v in self.test_config(key).items() if k != "run" and v is not None})
        return params

    def thresholds_for(self, key: str, defaults: tuple[float, float], *, higher_is_worse: bool = True
                       ) -> tuple[float, float]:
        """A user override is taken as written; the built-in default is scaled by the global sensitivity."""
        overrides = self.test_config(key)
        for name in THRESHOLD_PARAM_NAMES:
            if overrides.get(name) is not None:
                return _threshold_pair(overrides[name], key)
        return scale_thresholds(defaults, self.sensitivity_scale, higher_is_worse=higher_is_worse)

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> RunConfig:
        """Read RIME's nested `test_run_config` (or the flat equivalent)."""
        raw = dict(raw or {})
        flat: dict[str, Any] = {}
        suite = raw.pop("test_suite_config", None) or {}
        runtime = raw.pop("run_time_info", None) or {}
        profiling = raw.pop("profiling_config", None) or {}
        for name, section in (("test_suite_config", suite), ("run_time_info", runtime), ("profiling_config", profiling)):
            if not isinstance(section, dict):
                raise ConfigError(f"{name} must be a JSON object, not {type(section).__name__}.")
        for source in (suite, runtime, raw):
            flat.update(source)
        # time_limit_s is the server's per-run time limit (stresstests/recovery.py), not the engine's business.
        for ignored in ("run_name", "model_id", "data_info", "custom_tests", "agent_id", "custom_image",
                        "resource_request", "time_limit_s"):
            flat.pop(ignored, None)
        if flat.get("random_seed") in (None, ""):
            flat.pop("random_seed", None)
        data_profiling = dict(profiling.get("data_profiling") or flat.pop("data_profiling", None) or {})
        model_profiling = dict(profiling.get("model_profiling") or flat.pop("model_profiling", None) or {})
        relationship = data_profiling.pop("feature_relationship_info", None) or {}
        if "num_feats_to_profile" in relationship:
            data_profiling["num_feats_to_profile"] = relationship["num_feats_to_profile"]
        for key in ("class_name",):
            data_profiling.pop(key, None)
        type_info = _dataclass_from_dict(ColumnTypeInfo, data_profiling.pop("column_type_info", None) or {},
                                         "column_type_info")
        flat["data_profiling"] = DataProfiling(column_type_info=type_info, **_known(DataProfiling, data_profiling,
                                                                                    "data_profiling"))
        flat["model_profiling"] = _dataclass_from_dict(ModelProfiling, model_profiling, "model_profiling",
                                                       lenient=True)
        flat["sampling"] = _dataclass_from_dict(SamplingConfig, flat.pop("sampling", None) or {}, "sampling")
        if flat.get("categories") in (None, []):
            flat.pop("categories", None)
        if flat.get("global_exclude_columns") is None:
            flat.pop("global_exclude_columns", None)
        if flat.get("individual_tests_config") is None:
            flat.pop("individual_tests_config", None)
        return _dataclass_from_dict(cls, flat, "test_run_config")


def normalise_categories(categories: list[str] | str | None) -> list[str]:
    """Accept full enum names, short names ("drift", "model_performance") and "all"."""
    if categories in (None, [], ""):
        return list(DEFAULT_STRESS_TEST_CATEGORIES)
    if isinstance(categories, str):
        categories = [categories]
    result: list[str] = []
    for name in categories:
        if str(name).strip().lower() == "all":
            return list(ALL_CATEGORIES)
        full = _category_enum(str(name))
        if full not in result:
            result.append(full)
    return result


def _category_enum(name: str) -> str:
    candidate = name.strip().upper().replace("-", "_").replace(" ", "_")
    if not candidate.startswith("TEST_CATEGORY_TYPE_"):
        candidate = "TEST_CATEGORY_TYPE_" + candidate
    if candidate == "TEST_CATEGORY_TYPE_FAIRNESS":
        candidate = "TEST_CATEGORY_TYPE_BIAS_AND_FAIRNESS"
    if candidate not in ALL_CATEGORIES:
        known = ", ".join(c.removeprefix("TEST_CATEGORY_TYPE_").lower() for c in ALL_CATEGORIES)
        raise ConfigError(f"Unknown test category {name!r}. Use one of: {known}, or all.")
    return candidate


def _normalise_sensitivity(value: Any) -> str:
    if isinstance(value, int) and value in _SENSITIVITY_BY_NUMBER:
        return _SENSITIVITY_BY_NUMBER[value]
    text = str(value or TEST_SENSITIVITY_DEFAULT).upper()
    if not text.startswith("TEST_SENSITIVITY_"):
        text = "TEST_SENSITIVITY_" + text
    if text not in SENSITIVITY_SCALE:
        raise ConfigError(f"Unknown global_test_sensitivity {value!r}. Use one of: {', '.join(SENSITIVITY_SCALE)}.")
    return text


def scale_thresholds(thresholds: tuple[float, float], scale: float, *, higher_is_worse: bool = True
                     ) -> tuple[float, float]:
    """Widen (scale > 1) or narrow the margin; for lower-is-worse thresholds the margin is measured below 1."""
    warning, alert = thresholds
    if higher_is_worse:
        return (warning * scale, alert * scale)
    return (1 - (1 - warning) * scale, 1 - (1 - alert) * scale)


def _threshold_pair(value: Any, key: str) -> tuple[float, float]:
    try:
        warning, alert = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"Thresholds for {key} must be a pair [warning, alert] of numbers, got {value!r}.") from None
    return (warning, alert)


def _known(cls: type, raw: dict, where: str, *, lenient: bool = False) -> dict:
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown and not lenient:
        raise ConfigError(f"Unknown setting(s) in {where}: {', '.join(unknown)}. Known: {', '.join(sorted(names))}.")
    return {k: v for k, v in raw.items() if k in names}


def _dataclass_from_dict(cls: type, raw: dict, where: str, *, lenient: bool = False):
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a JSON object, got {type(raw).__name__}.")
    try:
        return cls(**_known(cls, raw, where, lenient=lenient))
    except TypeError as error:
        raise ConfigError(f"Invalid {where}: {error}.") from None
