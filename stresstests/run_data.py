"""How a run's two datasets become the engine's input: one set of data_params and two frames with comparable columns.

The worker (Execution) and the wizard's checks (wizard_checks) both go through these functions, so what the wizard
checks on the first rows is exactly what the worker will give the engine. Precedence of data_params: what the run
says (the wizard's fixes, protected features and text features) over the reference dataset's, over the evaluation dataset's (a
timestamp or prediction column named on the evaluation set only still names that column).
"""
from __future__ import annotations

from dataclasses import fields

import pandas as pd

from stresstests.engine.config import DataParams

# Our addition to RIME's data_params: columns the run leaves out of both datasets (the wizard's "Ignore it").
IGNORED_COLUMNS = "ignored_columns"
RUN_LEVEL_KEYS = ("timestamp_col", "protected_features", "text_features", IGNORED_COLUMNS)
_DATA_PARAM_NAMES = {f.name for f in fields(DataParams)}


def run_level_params(test_run_config: dict) -> dict:
    """The data_params a run itself holds (wizard fixes, protected features), from its config."""
    raw = (test_run_config or {}).get("data_params") or {}
    return {key: raw[key] for key in RUN_LEVEL_KEYS if raw.get(key)}


def merged_data_params(reference_params: dict, evaluation_params: dict, run_params: dict) -> dict:
    """RIME data_params for the engine, as a dict DataParams.from_dict reads."""
    merged = {k: v for k, v in (reference_params or {}).items() if k in _DATA_PARAM_NAMES and v not in ("", None)}
    for key in ("timestamp_col", "pred_col"):
        evaluation_value = (evaluation_params or {}).get(key)
        if key not in merged and evaluation_value:
            merged[key] = evaluation_value
    for key in ("timestamp_col", "text_features"):  # the run's own choice (the wizard's) wins
        if run_params.get(key):
            merged[key] = run_params[key]
    protected = {*merged.get("protected_features", []), *run_params.get("protected_features", [])}
    merged["protected_features"] = sorted(protected)
    # A column kept as a feature on either upload stays a feature (otherwise prediction-like columns are left out).
    kept = (evaluation_params or {}).get("keep_as_features") or []
    if kept:
        merged["keep_as_features"] = sorted({*merged.get("keep_as_features", []), *kept})
    return merged


def aligned_frames(reference: pd.DataFrame, evaluation: pd.DataFrame, *, reference_params: dict,
                   evaluation_params: dict, run_params: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The evaluation set may name its label or timestamp column differently (the engine wants one name), and the
    run may ignore columns: both frames as the engine should see them."""
    renames = {}
    for key in ("label_col", "timestamp_col"):
        ours, theirs = (reference_params or {}).get(key), (evaluation_params or {}).get(key)
        if ours and theirs and ours != theirs and theirs in evaluation.columns:
            renames[theirs] = ours
    if renames:
        evaluation = evaluation.rename(columns=renames)
    ignored = set(run_params.get(IGNORED_COLUMNS) or [])
    if ignored:
        reference = reference.drop(columns=[c for c in reference.columns if c in ignored])
        evaluation = evaluation.drop(columns=[c for c in evaluation.columns if c in ignored])
    return reference, evaluation
