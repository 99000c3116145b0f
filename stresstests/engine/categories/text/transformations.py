"""Text transformations (RIME's NLP transformations, §2.12): change the text of a few evaluation rows the way real
input varies (case, typos, look-alike spellings, synonyms, spacing) and watch the prediction.

Per text column (the hypothesis for NLI): `sample_size` rows (RIME: 20) drawn with the test's seeded generator, the
perturbation applied to each (rows it leaves unchanged are dropped), the changed rows scored in one batched call.
A row fails when its original class loses at least `prob_change_threshold` (0.30) of probability, or flips while
losing at least `min_flip_change` (0.10); the severity is the share of failing rows (the lower bound of its Wilson
95 % interval, so a handful of rows cannot raise an Alert by chance) against the test's thresholds. Character edits follow nlpaug's parameters:
`aug_word_p` of the words (at least one) get `aug_char_p` of their characters (at least one) changed; word swaps
replace `aug_p` of the eligible words.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import numpy as np

from stresstests.engine.vocabulary import SEVERITY_PASS, TEST_CATEGORY_TYPE_TRANSFORMATIONS
from stresstests.engine.base import Context, SkipTest, StressTest, TestCase, register
from stresstests.engine.categories.text import perturbation as p
from stresstests.engine.categories.text.probe import (
    MIN_FLIP_CHANGE, PROB_CHANGE_THRESHOLD, TEXT_ONLY, TEXT_TASKS, compare, confident_severity, error_case,
    failing_rows, perturbed_features, strongest, text_example, text_rows, with_texts,
)

Perturbation = Callable[[str, np.random.Generator, dict], str]

BASE_PARAMS = {"sample_size": 20, "max_str_len": 2000, "prob_change_threshold": PROB_CHANGE_THRESHOLD,
               "min_flip_change": MIN_FLIP_CHANGE, "ignore_errors": False}
CHAR_PARAMS = {**BASE_PARAMS, "aug_char_p": 0.03, "aug_word_p": 0.05, "min_char": 2}
WORD_PARAMS = {**BASE_PARAMS, "aug_p": 0.05}


class TextTransformation(StressTest):
    category = TEST_CATEGORY_TYPE_TRANSFORMATIONS
    requires = frozenset({"model"})
    modalities = TEXT_ONLY
    tasks = TEXT_TASKS
    # On the share of perturbed rows that fail (original class loses >= prob_change_threshold, or flips).
    thresholds = (0.1, 0.3)
    default_params: ClassVar[dict] = BASE_PARAMS
    perturbation: ClassVar[Perturbation]
    change: ClassVar[str] = ""      # finding text: "upper-cased", "given keyboard typos", ...

    def run(self, ctx: Context, params: dict, thresholds: tuple[float, float]) -> list[TestCase]:
        cases, unchanged, garbled = [], [], []
        for feature in perturbed_features(ctx):
            rows = text_rows(ctx, feature, params, eligible=self.eligible(ctx, feature, params))
            originals = rows[feature].tolist()
            texts = [self.perturb(text, ctx.rng, params) for text in originals]
            changed = np.array([new != old for new, old in zip(texts, originals)])
            kept = np.array([self.keeps_meaning(old, new) for new, old in zip(texts, originals)])
            if not (changed & kept).any():
                (unchanged if not (changed & ~kept).any() else garbled).append(feature)
                continue
            left_out = int((changed & ~kept).sum())
            changed &= kept
            rows = rows[changed]
            texts = [t for t, c in zip(texts, changed) if c]
            comparison = compare(ctx, rows, with_texts(rows, feature, texts), params)
            if isinstance(comparison, str):
                cases.append(error_case(feature, comparison, self.change, params))
                continue
            cases.append(self.assess(ctx, feature, rows, texts, comparison, thresholds, left_out))
        if garbled and not cases:
            raise SkipTest(f"{self.garbled_reason} in every sampled text of {', '.join(garbled)}, so the test has "
                           "nothing fair to measure.")
        if not cases:
            raise SkipTest(f"No sampled text of {', '.join(unchanged) or 'the text columns'} changes when "
                           f"{self.change} (nothing to test).")
        return cases

    def eligible(self, ctx: Context, feature: str, params: dict) -> np.ndarray | None:
        """Which evaluation rows the test may sample (None: any row with text)."""
        return None

    garbled_reason: ClassVar[str] = ""

    def keeps_meaning(self, original: str, perturbed: str) -> bool:
        """Whether a changed text still says what the original said (else it is left out, not blamed on the model)."""
        return True

    def perturb(self, text: str, rng: np.random.Generator, params: dict) -> str:
        return type(self).perturbation(text, rng, params)

    def assess(self, ctx, feature, rows, texts, comparison, thresholds, left_out: int = 0) -> TestCase:
        metrics = {**comparison.metrics(), "sample_size": len(rows)}
        if left_out:
            metrics["rows_left_out"] = left_out
        failed = int(comparison.failed.sum())
        severity = confident_severity(failed, len(rows), thresholds)
        originals = rows[feature].tolist()
        finding = ""
        if severity != SEVERITY_PASS:
            finding = (f"When {feature} is {self.change}, the original class loses at least "
                       f"{comparison.threshold:.2f} probability, or the prediction flips, on {failed} of {len(rows)} "
                       f"sampled texts ({int(comparison.flipped_clearly.sum())} flip to another class; the original "
                       f"class loses {metrics['average_probability_change']:.2f} probability on average; at least "
                       f"{metrics['failure_rate_lower_bound']:.0%} of such texts fail with 95 % confidence): the model "
                       "is not robust to this change.")
            if left_out:
                finding += f" {left_out} sampled texts were left out: {self.garbled_reason.lower()}."
        return TestCase(
            features=[feature], severity=severity, importance_score=metrics["failure_rate"], metrics=metrics,
            finding=finding,
            examples=[text_example(ctx, rows, feature, i, originals[i], texts[i], comparison)
                      for i in strongest(comparison)],
            details={"sample_size": len(rows), "failing_row_indices": failing_rows(rows, comparison.failed)},
        )


class _AsciiTransformation(TextTransformation):
    """Unicode to ASCII: a text whose letters are mostly not Latin (Russian, Hebrew, Chinese) would lose them, which
    no model can be blamed for; such texts are left out and counted (`rows_left_out`)."""

    garbled_reason = "Converting to ASCII would delete most of their letters (text not in a Latin script)"

    def keeps_meaning(self, original: str, perturbed: str) -> bool:
        return p.letters_kept(original, perturbed) >= 0.5


def _transformation(key: str, name: str, function: Perturbation, change: str, description: str,
                    why: str, params: dict = BASE_PARAMS, base: type = TextTransformation
                    ) -> type[TextTransformation]:
    cls = type(name.replace(" ", "").replace("-", ""), (base,), {
        "key": key, "name": name, "perturbation": staticmethod(function), "change": change,
        "description": description, "why_it_matters": why, "default_params": params,
        "__module__": __name__,
    })
    return register(cls)


_TYPO_WHY = "Real users mistype; a model whose answer turns on one wrong letter is fragile and easy to game."
TRANSFORMATIONS = [
    _transformation("text_upper_case", "Upper-Case Text", p.upper_case, "upper-cased",
                    "Upper-cases the whole text.",
                    "Shouting, headlines and some data sources write in capitals; the meaning is the same."),
    _transformation("text_lower_case", "Lower-Case Text", p.lower_case, "lower-cased",
                    "Lower-cases the whole text.",
                    "Chat, search queries and some pipelines drop capitals; the meaning is the same."),
    _transformation("text_remove_special_chars", "Remove Special Characters", p.remove_special_characters,
                    "stripped of special characters", "Removes every character that is neither a letter, a digit nor "
                    "whitespace (punctuation, symbols, emoji).",
                    "Cleaning steps upstream differ between sources; punctuation rarely carries the label."),
    _transformation("text_unicode_to_ascii", "Unicode to ASCII", p.unicode_to_ascii, "converted to ASCII",
                    "Drops accents and folds compatibility characters to ASCII (café becomes cafe, ﬁ becomes fi). "
                    "Texts that would lose most of their letters (other scripts) are left out and counted.",
                    "Systems that only keep ASCII are common; the same word with and without accents should agree.",
                    base=_AsciiTransformation),
    _transformation("text_char_substitution", "Character Substitution", p.char_substitution,
                    "given random letter substitutions", "Replaces aug_char_p of the letters of aug_word_p of the "
                    "words (at least one) with random letters.", _TYPO_WHY, CHAR_PARAMS),
    _transformation("text_char_deletion", "Character Deletion", p.char_deletion, "given deleted letters",
                    "Deletes aug_char_p of the letters of aug_word_p of the words (at least one).", _TYPO_WHY,
                    CHAR_PARAMS),
    _transformation("text_char_insertion", "Character Insertion", p.char_insertion, "given inserted letters",
                    "Inserts random letters into aug_word_p of the words (at least one).", _TYPO_WHY, CHAR_PARAMS),
    _transformation("text_char_swap", "Character Swap", p.char_swap, "given swapped neighbouring letters",
                    "Swaps neighbouring letters in aug_word_p of the words (at least one).", _TYPO_WHY, CHAR_PARAMS),
    _transformation("text_keyboard_augmentation", "Keyboard Augmentation", p.keyboard_typo,
                    "given keyboard typos", "Replaces letters with a neighbouring key of a QWERTY keyboard in "
                    "aug_word_p of the words (at least one).", _TYPO_WHY, CHAR_PARAMS),
    _transformation("text_common_misspellings", "Common Misspellings", p.common_misspelling,
                    "given common misspellings", "Replaces aug_p of the words that people often misspell (at least "
                    "one) with the usual misspelling (receive becomes recieve), from the shipped misspellings list "
                    "or the `misspellings` param.", _TYPO_WHY, WORD_PARAMS),
    _transformation("text_ocr_error", "OCR Error", p.ocr_error, "given OCR errors",
                    "Replaces letters with the characters optical character recognition confuses them with "
                    "(o and 0, l and 1, S and 5) in aug_word_p of the words.",
                    "Scanned documents reach text models through OCR, which confuses similar shapes.", CHAR_PARAMS),
    _transformation("text_synonym_swap", "Synonym Swap", p.synonym_swap, "given synonyms for some words",
                    "Replaces aug_p of the words that have synonyms (at least one) with a synonym, from the shipped "
                    "synonym list or the `synonyms` param (groups of words).",
                    "People say the same thing in different words; a model should follow meaning, not wording.",
                    WORD_PARAMS),
    _transformation("text_whitespace_change", "Whitespace Change", p.whitespace_change, "re-spaced",
                    "Doubles, tabs or breaks aug_p of the spaces between words (at least one) and adds a trailing "
                    "space.", "Copy-paste, forms and OCR change spacing; it never changes the meaning.", WORD_PARAMS),
    _transformation("text_punctuation_change", "Punctuation Change", p.punctuation_change,
                    "given other punctuation", "Removes or replaces aug_p of the punctuation marks (at least one); "
                    "a text without punctuation gets an exclamation mark.",
                    "Punctuation varies between writers and sources and rarely decides the label.", WORD_PARAMS),
]
