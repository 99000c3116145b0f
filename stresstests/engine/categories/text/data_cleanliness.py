"""Data Cleanliness on text (RIME's NLP versions): duplicate texts and conflicting labels for the same text, in each
dataset. Texts are compared after stripping and lower-casing (the text features together, for a pair). Empty texts
are left to Empty Text."""

from __future__ import annotations

import numpy as np
import pandas as pd

from stresstests.engine.base import Context, TestCase, json_safe, register
from stresstests.engine.categories.tabular.data_cleanliness import CleanlinessTest
from stresstests.engine.categories.text.derived import TEXT, clip
from stresstests.engine.severity import severity_for
from stresstests.engine.text_attributes import text_values
from stresstests.engine.vocabulary import CLASSIFICATION_TASKS, SEVERITY_PASS

MAX_EXAMPLES = 5


def normalised_texts(ctx: Context, frame: pd.DataFrame) -> pd.Series:
    """One comparable string per row (empty texts: None, never duplicates of each other)."""
    parts = [text_values(frame[column]).str.strip().str.lower() for column in ctx.schema.text_features]
    joined = parts[0] if len(parts) == 1 else parts[0].str.cat(parts[1:], sep="\x1f")
    return joined.where(joined.str.strip("\x1f") != "", None)


def _datasets(ctx: Context) -> list[tuple[str, pd.DataFrame, np.ndarray | None]]:
    return [("reference", ctx.reference, ctx.reference_labels), ("evaluation", ctx.evaluation, ctx.evaluation_labels)]


def _examples(ctx: Context, frame: pd.DataFrame, rows: np.ndarray, labels: np.ndarray | None) -> list[dict]:
    examples = []
    for row in rows[:MAX_EXAMPLES]:
        example = {"row": int(row), **{c: clip(frame[c].iloc[row]) for c in ctx.schema.text_features}}
        if labels is not None:
            example["label"] = labels[row]
        examples.append(json_safe(example))
    return examples


class TextCleanlinessTest(CleanlinessTest):
    """One case per dataset (reference, evaluation), from `_case`."""

    modalities = TEXT

    def run(self, ctx: Context, params: dict, thresholds: tuple[float, float]) -> list[TestCase]:
        return [self._case(ctx, name, frame, labels, thresholds) for name, frame, labels in _datasets(ctx)]

    def _case(self, ctx: Context, dataset: str, frame: pd.DataFrame, labels: np.ndarray | None,
              thresholds: tuple[float, float]) -> TestCase:
        raise NotImplementedError


@register
class DuplicateTexts(TextCleanlinessTest):
    key = "text_duplicates"
    name = "Duplicate Texts"
    description = "Counts rows whose text repeats an earlier row's (after stripping and lower-casing), per dataset."
    why_it_matters = ("Copied texts over-weight some examples in training and inflate metrics computed on them; "
                      "they often reveal a scraping or export fault.")
    thresholds = (0.01, 0.05)

    def _case(self, ctx: Context, dataset: str, frame: pd.DataFrame, labels: np.ndarray | None,
              thresholds: tuple[float, float]) -> TestCase:
        texts = normalised_texts(ctx, frame)
        duplicated = (texts.duplicated(keep="first") & texts.notna()).to_numpy()
        share = float(duplicated.mean()) if len(frame) else 0.0
        severity = severity_for(share, thresholds)
        finding = ""
        if severity != SEVERITY_PASS:
            finding = (f"The {dataset} data repeats {int(duplicated.sum())} texts ({share:.1%} of rows): copies "
                       "over-weight some examples and inflate metrics computed on them.")
        name = "text" if len(ctx.schema.text_features) == 1 else "text pair"
        return TestCase(features=[f"{name}.duplicates"], severity=severity, subset=dataset, finding=finding,
                        metrics={"num_duplicate_rows": int(duplicated.sum()), "duplicate_share": share},
                        examples=_examples(ctx, frame, np.flatnonzero(duplicated), labels),
                        details={"dataset": dataset, "rows": len(frame), "columns": ctx.schema.text_features})


@register
class ConflictingLabels(TextCleanlinessTest):
    key = "text_conflicting_labels"
    name = "Conflicting Labels"
    requires = frozenset({"labels"})
    tasks = CLASSIFICATION_TASKS
    description = "Counts rows whose text also appears with another label, per dataset."
    why_it_matters = ("The same text with two labels is a labelling error or an ambiguous task: the model is "
                      "trained and scored against contradictions.")
    thresholds = (0.001, 0.01)

    def _case(self, ctx: Context, dataset: str, frame: pd.DataFrame, labels: np.ndarray,
              thresholds: tuple[float, float]) -> TestCase:
        table = pd.DataFrame({"text": normalised_texts(ctx, frame), "label": labels}).dropna()
        distinct = table.groupby("text")["label"].nunique()
        conflicting = table["text"].isin(distinct.index[distinct > 1])
        rows = table.index[conflicting.to_numpy()].to_numpy()
        share = len(rows) / max(len(frame), 1)
        severity = severity_for(share, thresholds) if len(rows) else SEVERITY_PASS
        texts = int((distinct > 1).sum())
        finding = ""
        if severity != SEVERITY_PASS:
            finding = (f"The {dataset} data gives {texts} texts more than one label ({len(rows)} rows, {share:.1%}): "
                       "the model is trained and scored against contradictions.")
        ordered = rows[np.argsort(table.loc[rows, "text"].to_numpy(), kind="stable")]
        name = "text" if len(ctx.schema.text_features) == 1 else "text pair"
        return TestCase(features=[f"{name}.labels"], severity=severity, subset=dataset, finding=finding,
                        metrics={"num_conflicting_texts": texts, "num_conflicting_rows": len(rows),
                                 "conflicting_share": share},
                        examples=_examples(ctx, frame, ordered, labels),
                        details={"dataset": dataset, "rows": len(frame), "columns": ctx.schema.text_features})
