"""What "normal" looks like, learned once from the reference set. Tests read it; none recomputes it.

Column types follow RIME's `column_type_info` defaults: numeric columns with fewer than `min_nunique_for_numeric`
distinct values are categorical; integer or string columns whose values are (almost) all distinct are identifiers;
long free-form strings are text.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from stresstests.engine.config import ColumnTypeInfo, DataProfiling

_BOOLEAN_STRINGS = {"true", "false", "yes", "no", "t", "f", "y", "n"}
_TEXT_MIN_AVERAGE_WORDS = 5          # below this a string column is a category, not free text
_DATETIME_SAMPLE = 200
_MAX_CATEGORIES_KEPT = 1000          # frequencies kept per column; rarer values count as "seen" through `n_unique`


@dataclass
class ColumnProfile:
    name: str
    type: str                          # numeric categorical boolean text datetime identifier
    dtype: str
    count: int                         # non-null values
    null_count: int
    null_rate: float
    n_unique: int
    is_integer: bool = False
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    std: float | None = None
    quantiles: np.ndarray | None = None          # values at `Profile.quantile_levels`
    categories: dict = field(default_factory=dict)   # value -> share of non-null rows (most frequent first)
    unseen_values_allowed: bool = False
    range_kind: str | None = None      # "[0, 1]", "[0, inf)" or "(-inf, inf)"
    required_characters: str = ""      # characters present in every non-null string value
    capitalization: str | None = None  # "lower", "upper", "title" when every value follows it, else "mixed"
    min_length: int | None = None
    max_length: int | None = None
    empty_string_rate: float = 0.0

    def quantile(self, level: float) -> float | None:
        if self.quantiles is None:
            return None
        levels = np.linspace(0, 1, len(self.quantiles))
        return float(np.interp(level, levels, self.quantiles))


@dataclass
class Profile:
    n_rows: int
    columns: dict[str, ColumnProfile]
    quantile_levels: np.ndarray
    correlations: pd.DataFrame          # Pearson correlations between numeric and boolean columns (and the label)

    def __getitem__(self, column: str) -> ColumnProfile:
        return self.columns[column]

    def __contains__(self, column: str) -> bool:
        return column in self.columns

    def feature_types(self) -> dict[str, str]:
        return {name: column.type for name, column in self.columns.items()}


def build_profile(frame: pd.DataFrame, *, settings: DataProfiling | None = None,
                  categorical_features: list[str] | tuple[str, ...] = (),
                  text_features: list[str] | tuple[str, ...] = (),
                  numeric_features: list[str] | tuple[str, ...] = (),
                  correlation_columns: list[str] | None = None) -> Profile:
    settings = settings or DataProfiling()
    levels = np.linspace(0, 1, max(int(settings.num_quantiles), 2))
    columns = {
        name: profile_column(frame[name], levels, settings.column_type_info,
                             forced_type=_forced_type(name, categorical_features, text_features, numeric_features))
        for name in frame.columns
    }
    return Profile(n_rows=len(frame), columns=columns, quantile_levels=levels,
                   correlations=_correlations(frame, columns, correlation_columns))


def _forced_type(name: str, categorical: tuple | list, text: tuple | list, numeric: tuple | list = ()) -> str | None:
    if name in text:
        return "text"
    if name in numeric:   # measured quantities (e.g. derived text attributes), numeric however few their values
        return "numeric"
    if name in categorical:
        return "categorical"
    return None


def infer_type(series: pd.Series, info: ColumnTypeInfo, *, non_null: pd.Series | None = None,
               distinct: pd.Series | None = None) -> str:
    """The column's feature type; `non_null` and `distinct` (see `_distinct`) may be passed when already known."""
    values = series.dropna() if non_null is None else non_null
    if values.empty:
        return "categorical"
    if pd.api.types.is_bool_dtype(series):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "datetime"
    if pd.api.types.is_numeric_dtype(series):
        return _numeric_type(values, values.nunique(), info)
    return _string_type(_distinct(values) if distinct is None else distinct, len(values), info)


def _distinct(values: pd.Series) -> pd.Series:
    """Row count per distinct value (as text): string checks run once per value, not once per row."""
    counts = values.value_counts(sort=False)
    counts.index = counts.index.astype(str)
    if counts.index.is_unique:   # the usual case: values were text already, nothing to merge
        return counts
    return counts.groupby(level=0, sort=False).sum()


def _string_type(counts: pd.Series, n_rows: int, info: ColumnTypeInfo) -> str:
    text = counts.index.to_series(index=counts.index)
    share = counts / n_rows
    if len(counts) <= 2 and set(text.str.lower()) <= _BOOLEAN_STRINGS:
        return "boolean"
    numbers = pd.to_numeric(text, errors="coerce")
    if share[numbers.notna()].sum() >= 1 - info.numeric_violation_threshold:
        parsed = numbers.dropna()
        return _numeric_type(pd.Series(np.repeat(parsed.to_numpy(), counts[parsed.index].to_numpy())),
                             parsed.nunique(), info)
    if _looks_like_datetime(text):
        return "datetime"
    if float((text.str.count(r"\s+") * share).sum()) + 1 >= _TEXT_MIN_AVERAGE_WORDS:
        return "text"
    if n_rows >= 20 and len(counts) / n_rows >= info.min_unique_prop:
        return "identifier"
    return "categorical"


def _numeric_type(values: pd.Series, n_unique: int, info: ColumnTypeInfo) -> str:
    if n_unique == 2 and set(values.unique()) <= {0, 1}:
        return "boolean"
    if n_unique < info.min_nunique_for_numeric:
        return "categorical"
    is_integer = bool(np.all(np.mod(values.to_numpy(dtype=float), 1) == 0))
    unique_enough = len(values) >= 20 and n_unique / len(values) >= info.min_unique_prop
    if unique_enough and (is_integer or info.allow_float_unique):
        return "identifier"
    return "numeric"


def _looks_like_datetime(values: pd.Series) -> bool:
    sample = values.head(_DATETIME_SAMPLE)
    # Plain numbers parse as dates too; require a date separator so "12" is not taken for a timestamp.
    if not sample.str.contains(r"\d[-/:T]\d|\d{4}[-/]\d", regex=True).all():
        return False
    parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
    return bool(parsed.notna().mean() >= 0.95)


def profile_column(series: pd.Series, levels: np.ndarray, info: ColumnTypeInfo, *,
                   forced_type: str | None = None) -> ColumnProfile:
    non_null = series.dropna()
    # Text checks run on the distinct values; computed once for type inference and the string facts.
    text_like = not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)
                     or pd.api.types.is_datetime64_any_dtype(series))
    distinct = _distinct(non_null) if text_like and not non_null.empty else None
    column_type = forced_type or infer_type(series, info, non_null=non_null, distinct=distinct)
    column = ColumnProfile(
        name=str(series.name), type=column_type, dtype=str(series.dtype), count=int(len(non_null)),
        null_count=int(len(series) - len(non_null)), null_rate=float(series.isna().mean()) if len(series) else 0.0,
        n_unique=int(non_null.nunique()),
    )
    if column_type == "numeric":
        _add_numeric(column, non_null, levels, info)
    if column_type in ("categorical", "boolean", "identifier"):
        _add_categories(column, non_null, info)
    if column_type != "numeric" and not pd.api.types.is_numeric_dtype(series) and column_type != "datetime":
        _add_string_facts(column, non_null, distinct)
    return column


def _add_numeric(column: ColumnProfile, values: pd.Series, levels: np.ndarray, info: ColumnTypeInfo) -> None:
    numbers = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=float)
    numbers = numbers[np.isfinite(numbers)]
    if numbers.size == 0:
        return
    column.is_integer = bool(np.all(np.mod(numbers, 1) == 0))
    column.min, column.max = float(numbers.min()), float(numbers.max())
    column.mean, column.std = float(numbers.mean()), float(numbers.std())
    column.quantiles = np.quantile(numbers, levels)
    column.range_kind = _range_kind(numbers, info.numeric_range_inference_threshold)


def _range_kind(numbers: np.ndarray, required_share: float) -> str:
    if np.mean((numbers >= 0) & (numbers <= 1)) >= required_share:
        return "[0, 1]"
    if np.mean(numbers >= 0) >= required_share:
        return "[0, inf)"
    return "(-inf, inf)"


def _add_categories(column: ColumnProfile, values: pd.Series, info: ColumnTypeInfo) -> None:
    counts = values.value_counts(normalize=True)
    column.categories = {_plain(k): float(v) for k, v in counts.head(_MAX_CATEGORIES_KEPT).items()}
    criteria = info.unseen_values_allowed_criteria
    # RIME: a fraction (<= 1) of distinct values per row, or an absolute count of distinct values.
    limit = criteria * max(len(values), 1) if criteria <= 1 else criteria
    column.unseen_values_allowed = column.type == "identifier" or column.n_unique >= limit


def _add_string_facts(column: ColumnProfile, values: pd.Series, distinct: pd.Series | None = None) -> None:
    if values.empty:
        return
    counts = _distinct(values) if distinct is None else distinct
    text = counts.index.to_series(index=counts.index)
    lengths = text.str.len()
    column.min_length, column.max_length = int(lengths.min()), int(lengths.max())
    column.empty_string_rate = float(counts[(text.str.strip() == "").to_numpy()].sum() / len(values))
    column.required_characters = _required_characters(text)
    column.capitalization = _capitalization(text)


def _required_characters(text: pd.Series) -> str:
    """Punctuation and symbols present in every distinct value (letters and digits vary too much to be "required")."""
    distinct = text.to_numpy()
    if len(distinct) > 5000:
        distinct = distinct[:5000]
    candidates = set(string.punctuation + "@")
    for value in distinct:
        candidates &= set(value)
        if not candidates:
            return ""
    return "".join(sorted(candidates))


def _capitalization(text: pd.Series) -> str:
    letters = text[text.str.contains(r"[A-Za-z]", regex=True)]
    if letters.empty:
        return "mixed"
    for name, check in (("lower", str.islower), ("upper", str.isupper), ("title", str.istitle)):
        if letters.map(check).all():
            return name
    return "mixed"


def _correlations(frame: pd.DataFrame, columns: dict[str, ColumnProfile], selected: list[str] | None
                  ) -> pd.DataFrame:
    names = [n for n in (selected or list(frame.columns))
             if n in columns and columns[n].type in ("numeric", "boolean")]
    if len(names) < 2:
        return pd.DataFrame()
    numeric = pd.DataFrame({n: _as_number(frame[n]) for n in names})
    return numeric.corr(method="pearson", min_periods=10)


def _as_number(series: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        return series.astype(float)
    lowered = series.astype(str).str.lower()
    mapped = lowered.map({"true": 1.0, "yes": 1.0, "t": 1.0, "y": 1.0, "false": 0.0, "no": 0.0, "f": 0.0, "n": 0.0})
    numbers = pd.to_numeric(series, errors="coerce")
    return numbers.fillna(mapped).where(series.notna())


def _plain(value):
    """Numpy scalars to Python ones so categories compare and serialise like the values tests read."""
    return value.item() if isinstance(value, np.generic) else value
