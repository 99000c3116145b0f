"""How the text tests reuse the tabular ones: a text run seen as a table of its derived attributes.

`attribute_context(ctx)` is a Context whose reference and evaluation frames hold the `text.*` attributes
(engine/text_attributes.py) as features, with the run's labels, predictions and configuration, and no model. A
tabular test run on it (subset building, drift statistics, Benjamini-Hochberg corrections, severity_for, the model
impact of failing rows) judges the attributes exactly as it judges tabular features; `on_text_attributes` registers
such a test under a text key. `with_texts` puts each example row's text under its column name (report interface:
{"text": ..., "label": ..., "prediction": ...}).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from stresstests.engine.base import Context, Schema, StressTest, TestCase, json_safe, register
from stresstests.engine.profile import build_profile
from stresstests.engine.text_attributes import text_attributes, vocabulary
from stresstests.engine.vocabulary import MODALITY_TEXT

TEXT = frozenset({MODALITY_TEXT})
MAX_TEXT_CHARS = 2000   # an example's text is cut here (the page truncates further with an expand control)


def attribute_context(ctx: Context) -> Context:
    """The run as a table of its text attributes (memoised per run; its own memo holds the tabular tests' values)."""
    key = "text.attribute_context"
    if key not in ctx.memo:
        attributes = text_attributes(ctx)
        reference, evaluation = attributes.reference.copy(), attributes.evaluation.copy()
        for column in ctx.schema.text_features:   # relative to the reference: kept beside the features, not tested
            words = vocabulary(ctx, column)
            reference[attributes.name(column, "oov_share")] = _share(words.reference_oov, words.reference_tokens)
            evaluation[attributes.name(column, "oov_share")] = _share(words.evaluation_oov, words.evaluation_tokens)
            reference[attributes.name(column, "new_characters")] = words.reference_new_characters.to_numpy()
            evaluation[attributes.name(column, "new_characters")] = words.evaluation_new_characters.to_numpy()
        ctx.memo[key] = derived_context(ctx, reference, evaluation, features=list(attributes.reference.columns),
                                        categorical=attributes.categorical, numeric=attributes.numeric)
    derived = ctx.memo[key]
    derived.rng = ctx.rng   # each test draws from its own generator (runner.run_one)
    return derived


def _share(part: np.ndarray, whole: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(whole > 0, part / whole, np.nan)


def derived_context(ctx: Context, reference: pd.DataFrame, evaluation: pd.DataFrame, *,
                    features: list[str] | None = None, categorical: list[str] = (), numeric: list[str] = (),
                    embeddings: dict[str, list[str]] | None = None) -> Context:
    """A Context over other columns of the same rows (`features`: the tested ones, default all): the run's labels,
    predictions and configuration, no model."""
    features = list(reference.columns) if features is None else features
    label = [ctx.schema.label_col] if ctx.schema.label_col and ctx.schema.label_col in ctx.reference else []
    profiled = reference[features].assign(**{c: ctx.reference[c] for c in label})
    profile = build_profile(profiled, settings=ctx.config.data_profiling, categorical_features=list(categorical),
                            numeric_features=list(numeric))
    schema = Schema(label_col=ctx.schema.label_col, pred_col=None, timestamp_col=None, features=features,
                    feature_types={c: profile[c].type for c in features}, class_names=ctx.schema.class_names,
                    embeddings=embeddings or {})
    return Context(config=ctx.config, schema=schema, profile=profile, model_task=ctx.model_task,
                   reference=reference, evaluation=evaluation, reference_labels=ctx.reference_labels,
                   evaluation_labels=ctx.evaluation_labels, reference_predictions=ctx.reference_predictions,
                   evaluation_predictions=ctx.evaluation_predictions, rng=ctx.rng)


def with_texts(ctx: Context, cases: list[TestCase]) -> list[TestCase]:
    """Each example that names a row gets that row's text under the text column's name."""
    columns = ctx.schema.text_features
    for case in cases:
        for example in case.examples:
            row = example.get("row")
            if isinstance(row, int) and 0 <= row < len(ctx.evaluation):
                for column in columns:
                    example[column] = clip(ctx.evaluation[column].iloc[row])
    return cases


def clip(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_TEXT_CHARS:
        return value[:MAX_TEXT_CHARS] + "…"
    return json_safe(value) if not isinstance(value, str) else value


class OnTextAttributes(StressTest):
    """Mixin: run the tabular test it precedes in the bases on the run's text attributes."""

    modalities = TEXT

    def run(self, ctx: Context, params: dict, thresholds: tuple[float, float]) -> list[TestCase]:
        return with_texts(ctx, super().run(attribute_context(ctx), params, thresholds))


def on_text_attributes(test: type[StressTest], *, name: str | None = None, description: str | None = None
                       ) -> type[StressTest]:
    """Register `test` again, as a text test over the derived attributes (key `text_<key>`)."""
    return register(type("Text" + test.__name__, (OnTextAttributes, test), {
        "key": f"text_{test.key}", "name": name or test.name, "modalities": TEXT,
        "description": description or f"{test.description} On the text attributes (text.char_length, "
                                      "text.token_count, text.script ...).",
        "default_params": dict(test.default_params),
    }))
