"""Abnormal Inputs on text (RIME's NLP versions), judged by the tabular rules of categories/tabular/abnormal_inputs.py
(the evaluation's share of failing rows against the reference's, Benjamini-Hochberg, evidence x model impact, too
few rows shown but not raised):

- Text Outliers and Text Out of Range: the tabular numeric rules on the attributes (much longer texts, many more
  tokens, texts made of symbols ...).
- Unseen Script or Language: an alphabet or a language the reference never shows (text.script, text.language).
- Empty Text: empty or whitespace-only texts (a definitional rule when the reference has none).
- Unusual Characters: characters no reference text holds (text.new_characters); reference rows are judged
  leave-one-out (characters no other reference text holds), so a fresh sample of the same texts raises nothing.
- Out-of-Vocabulary Text: texts with at least `min_oov_share` of their words unknown to the reference
  (text.oov_share; reference rows leave-one-out): text unlike anything in the reference.
Examples carry the row's text.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stresstests.engine.base import Context, TestCase, register
from stresstests.engine.categories.tabular.abnormal_inputs import (
    AbnormalInputTest, NumericOutliers, OutOfRange, RowCheck, UnseenCategorical,
)
from stresstests.engine.categories.text.derived import OnTextAttributes, on_text_attributes
from stresstests.engine.text_attributes import text_attributes, text_values

on_text_attributes(NumericOutliers, name="Text Outliers")
on_text_attributes(OutOfRange, name="Text Out of Range")
on_text_attributes(UnseenCategorical, name="Unseen Script or Language",
                   description="Counts evaluation texts written mostly in a script (alphabet) or a language that no "
                               "reference text uses (text.script, text.language).")


class TextRuleTest(OnTextAttributes, AbnormalInputTest):
    """A row rule per text column, judged on the attribute context (its frames hold the attribute it names)."""

    attribute: str
    text_ctx: Context

    def run(self, ctx: Context, params: dict, thresholds: tuple[float, float]) -> list[TestCase]:
        self.text_ctx = ctx   # the text run; checks() receives its attribute context
        return super().run(ctx, params, thresholds)

    def checks(self, ctx: Context, params: dict) -> list[RowCheck]:
        attributes = text_attributes(self.text_ctx)
        checks = []
        for column in self.text_ctx.schema.text_features:
            name = attributes.name(column, self.attribute)
            reference, evaluation = self.masks(ctx, column, name, params)
            checks.append(RowCheck([name], evaluation, reference, self.problem(params), {"column": column}))
        return checks

    def masks(self, ctx: Context, column: str, name: str, params: dict) -> tuple[np.ndarray, np.ndarray]:
        return self.flags(ctx.reference[name], params), self.flags(ctx.evaluation[name], params)

    def flags(self, values: pd.Series, params: dict) -> np.ndarray:
        raise NotImplementedError

    def problem(self, params: dict) -> str:
        raise NotImplementedError


@register
class EmptyText(TextRuleTest):
    key = "text_empty"
    name = "Empty Text"
    description = "Counts empty or whitespace-only texts (text.char_length of 0, or only spaces)."
    why_it_matters = ("An empty text gives the model nothing to read; its prediction is the model's prior, often "
                      "a confident one, and usually points at a broken extraction upstream.")
    attribute = "char_length"

    def masks(self, ctx: Context, column: str, name: str, params: dict) -> tuple[np.ndarray, np.ndarray]:
        blank = [text_values(frame[column]).str.strip().eq("").to_numpy()
                 for frame in (self.text_ctx.reference, self.text_ctx.evaluation)]
        return blank[0], blank[1]

    def problem(self, params: dict) -> str:
        return "are empty or hold only whitespace"


@register
class UnusualCharacters(TextRuleTest):
    key = "text_unusual_characters"
    name = "Unusual Characters"
    description = "Counts texts holding characters that no reference text holds (new alphabets, symbols, emoji)."
    why_it_matters = ("A tokenizer maps characters it never saw to an unknown token: the model reads such texts "
                      "with holes in them.")
    statistical = True
    attribute = "new_characters"

    def flags(self, values: pd.Series, params: dict) -> np.ndarray:
        return values.fillna("").astype(str).str.len().to_numpy() > 0

    def problem(self, params: dict) -> str:
        return "hold characters no reference text holds"


@register
class OutOfVocabularyText(TextRuleTest):
    key = "text_out_of_vocabulary"
    name = "Out-of-Vocabulary Text"
    description = ("Counts texts most of whose words (at least min_oov_share) no reference text uses: text unlike "
                   "anything in the reference.")
    why_it_matters = "A model cannot read a text made of words it never saw; its prediction there is a guess."
    statistical = True
    attribute = "oov_share"
    default_params = {**AbnormalInputTest.default_params, "min_oov_share": 0.5}

    def flags(self, values: pd.Series, params: dict) -> np.ndarray:
        shares = values.to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            return shares >= float(params["min_oov_share"])

    def problem(self, params: dict) -> str:
        return f"have at least {float(params['min_oov_share']):.0%} of their words unknown to the reference"
