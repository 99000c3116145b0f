"""Drift on text (RIME's NLP versions).

- Text Attribute Drift: tabular Feature Drift over the derived attributes (text.char_length, text.script ...).
- Label and prediction drift: the tabular tests run on text unchanged (their modalities name both).
- Vocabulary Drift, per text column: the Jensen-Shannon divergence (base 2, in [0, 1]) of the word distributions
  (the `max_vocabulary` most frequent words of both sets, the rest pooled), judged beyond sampling noise: texts are
  reshuffled between the two sets `num_permutations` times, the excess is the observed divergence minus the mean
  permuted one, and the permutation p-value gates it; and the share of evaluation words the reference never has,
  against the reference's own leave-one-out share (words no other reference text holds), with ratio-estimator
  standard errors over texts, judged on the lower 95 % bound of the difference. Severity: the worse of the two;
  Benjamini-Hochberg across text columns.
- Text Embedding Drift: tabular Embedding Drift (centroid distance with a permutation test) on the model's own
  embeddings of the texts (Context.embed) of at most `max_rows` random rows per dataset (the finding says when it
  sampled); skipped with the reason when the model has none.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse, stats

from stresstests.engine.base import Context, SkipTest, StressTest, TestCase, json_safe, register
from stresstests.engine.categories.tabular.drift import DriftTest, FeatureDrift
from stresstests.engine.categories.tabular.embeddings import EmbeddingDrift
from stresstests.engine.categories.text.derived import TEXT, clip, derived_context, on_text_attributes
from stresstests.engine.severity import benjamini_hochberg, severity_for, worst_severity
from stresstests.engine.text_attributes import text_attributes, vocabulary
from stresstests.engine.vocabulary import SEVERITY_PASS

CONFIDENCE_Z = 1.96
MAX_EXAMPLE_WORDS = 10

on_text_attributes(FeatureDrift, name="Text Attribute Drift",
                   description="Compares the distribution of each text attribute (character and token length, "
                               "average token length, share of non-alphabetic characters, script) in the evaluation "
                               "set with the reference (PSI, gated by a significance test).")


@register
class VocabularyDrift(DriftTest):
    key = "text_vocabulary_drift"
    name = "Vocabulary Drift"
    modalities = TEXT
    description = ("Compares the word distribution of each text column with the reference (Jensen-Shannon "
                   "divergence beyond sampling noise) and the share of words the reference never uses.")
    why_it_matters = ("A text model knows the words it was trained and validated on; new topics, slang or another "
                      "language mean it reads words it has rarely or never seen.")
    thresholds = (0.02, 0.05)
    default_params = {"max_vocabulary": 2000, "num_permutations": 200, "p_value_threshold": 0.05,
                      "oov_thresholds": [0.02, 0.05], "min_sample_size": 100}

    def run(self, ctx: Context, params: dict, thresholds: tuple[float, float]) -> list[TestCase]:
        columns = ctx.schema.text_features
        if min(len(ctx.reference), len(ctx.evaluation)) < int(params["min_sample_size"]):
            raise SkipTest(f"needs at least {params['min_sample_size']} texts in each dataset")
        measured = [self._measure(ctx, column, params) for column in columns]
        p_values = np.array([[m["divergence_p_value"], m["oov_p_value"]] for m in measured]).reshape(-1)
        found = benjamini_hochberg(p_values, float(params["p_value_threshold"])).reshape(-1, 2)
        return [self._case(ctx, column, m, found[i], params, thresholds) for i, (column, m) in
                enumerate(zip(columns, measured))]

    def _measure(self, ctx: Context, column: str, params: dict) -> dict:
        attributes = text_attributes(ctx)
        reference, evaluation = attributes.reference_tokens[column], attributes.evaluation_tokens[column]
        counts, n_reference = _count_matrix(reference, evaluation, int(params["max_vocabulary"]))
        in_evaluation = np.zeros(counts.shape[0], dtype=bool)
        in_evaluation[n_reference:] = True
        observed = _js_of_split(counts, in_evaluation)
        permuted = np.array([_js_of_split(counts, ctx.rng.permutation(in_evaluation))
                             for _ in range(int(params["num_permutations"]))])
        words = vocabulary(ctx, column)
        ref_share, ref_error = _ratio(words.reference_oov, words.reference_tokens)
        ev_share, ev_error = _ratio(words.evaluation_oov, words.evaluation_tokens)
        error = float(np.hypot(ref_error, ev_error))
        gap = ev_share - ref_share
        return {"js_divergence": observed, "permuted_js_divergence": float(permuted.mean()),
                "excess_js_divergence": observed - float(permuted.mean()),
                "divergence_p_value": float((1 + (permuted >= observed).sum()) / (1 + len(permuted))),
                "evaluation_oov_share": ev_share, "reference_oov_share": ref_share, "oov_share_excess": gap,
                "oov_share_excess_lower_bound": gap - CONFIDENCE_Z * error,
                "oov_p_value": float(stats.norm.sf(gap / error)) if error > 0 else float(gap <= 0)}

    def _case(self, ctx: Context, column: str, measured: dict, found: np.ndarray, params: dict,
              thresholds: tuple[float, float]) -> TestCase:
        divergence = severity_for(measured["excess_js_divergence"], thresholds) if found[0] else SEVERITY_PASS
        oov = (severity_for(measured["oov_share_excess_lower_bound"], tuple(params["oov_thresholds"]))
               if found[1] else SEVERITY_PASS)
        severity = worst_severity([divergence, oov])
        new_words = _new_words(ctx, column)
        name = text_attributes(ctx).name(column, "vocabulary")
        finding = ""
        if severity != SEVERITY_PASS:
            parts = []
            if divergence != SEVERITY_PASS:
                parts.append(f"the word distribution moved (Jensen-Shannon divergence "
                             f"{measured['js_divergence']:.3f}, {measured['permuted_js_divergence']:.3f} expected "
                             "from sampling noise)")
            if oov != SEVERITY_PASS:
                parts.append(f"{measured['evaluation_oov_share']:.1%} of its words are new to the reference "
                             f"(against {measured['reference_oov_share']:.1%} for a reference text among the others)")
            shown = ", ".join(repr(w) for w in new_words[:5])
            finding = (f"{column}: {' and '.join(parts)}" + (f"; frequent new words: {shown}" if shown else "")
                       + ". The model reads words it was not validated on.")
        examples = _examples_with_words(ctx, column, new_words)
        return TestCase(features=[name], severity=severity, metrics=json_safe(measured), finding=finding,
                        importance_score=max(measured["excess_js_divergence"], 0.0),
                        examples=examples, details={"column": column, "new_words": new_words[:MAX_EXAMPLE_WORDS]})


def _count_matrix(reference: pd.Series, evaluation: pd.Series, max_vocabulary: int
                  ) -> tuple[sparse.csr_matrix, int]:
    """Texts x words counts (reference rows first) over the most frequent words of both sets, the rest pooled in
    the last column. Which words are kept must not depend on which set a text is in (the permutation test reshuffles
    the rows of this one matrix): ties in frequency are broken alphabetically, not by first appearance (which would
    keep the reference's rare words and pool the evaluation's, a divergence no reshuffle reproduces)."""
    rows = pd.concat([reference, evaluation], ignore_index=True)
    lengths = rows.str.len().to_numpy(dtype=int)
    flat = pd.Series([token for tokens in rows for token in tokens], dtype=object)
    codes, words = pd.factorize(flat, sort=True)
    frequency = np.bincount(codes, minlength=len(words)) if len(codes) else np.zeros(0, dtype=int)
    kept = np.argsort(-frequency, kind="stable")[:max_vocabulary]
    column_of = np.full(len(words), len(kept), dtype=np.int64)
    column_of[kept] = np.arange(len(kept))
    matrix = sparse.csr_matrix((np.ones(len(codes)), (np.repeat(np.arange(len(rows)), lengths), column_of[codes])),
                               shape=(len(rows), len(kept) + 1))
    return matrix, len(reference)


def _js_of_split(counts: sparse.csr_matrix, second: np.ndarray) -> float:
    totals = np.asarray(counts.sum(axis=0)).ravel()
    b = np.asarray(counts.T @ second.astype(float)).ravel()
    a = totals - b
    return js_divergence(a, b)


def js_divergence(a: np.ndarray, b: np.ndarray) -> float:
    """Jensen-Shannon divergence (base 2) of two count vectors."""
    if a.sum() == 0 or b.sum() == 0:
        return 0.0
    p, q = a / a.sum(), b / b.sum()
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        left = np.where(p > 0, p * np.log2(p / m), 0.0).sum()
        right = np.where(q > 0, q * np.log2(q / m), 0.0).sum()
    return float(max((left + right) / 2, 0.0))


def _ratio(part: np.ndarray, whole: np.ndarray) -> tuple[float, float]:
    """Ratio estimator sum(part) / sum(whole) over texts and its standard error (texts are the sampled units)."""
    total = whole.sum()
    if total == 0:
        return 0.0, 0.0
    share = part.sum() / total
    return float(share), float(np.sqrt(((part - share * whole) ** 2).sum()) / total)


def _new_words(ctx: Context, column: str) -> list[str]:
    """Evaluation words the reference never uses, most frequent first."""
    tokens = text_attributes(ctx).evaluation_tokens[column]
    known = vocabulary(ctx, column).document_frequency.index
    flat = pd.Series([token for row in tokens for token in row], dtype=object)
    new = flat[~flat.isin(known)]
    return [str(w) for w in new.value_counts().index[:MAX_EXAMPLE_WORDS]]


def _examples_with_words(ctx: Context, column: str, words: list[str]) -> list[dict]:
    if not words:
        return []
    oov = vocabulary(ctx, column).evaluation_oov
    rows = np.flatnonzero(oov > 0)[:5]
    return [json_safe({"row": int(row), column: clip(ctx.evaluation[column].iloc[row]),
                       **({"label": ctx.evaluation_labels[row]} if ctx.evaluation_labels is not None else {}),
                       **({"prediction": ctx.evaluation_predictions[row]}
                          if ctx.evaluation_predictions is not None else {})}) for row in rows]


@register
class TextEmbeddingDrift(StressTest):
    key = "text_embedding_drift"
    name = "Text Embedding Drift"
    category = EmbeddingDrift.category
    modalities = TEXT
    requires = frozenset({"model"})
    description = ("Distance between the centroids of the model's own embeddings of the reference and evaluation "
                   "texts (unit-length rows; up to max_rows random texts a side), beyond a permutation test's noise.")
    why_it_matters = EmbeddingDrift.why_it_matters
    thresholds = EmbeddingDrift.thresholds
    # Embedding is a forward pass per text: a random sample of each dataset (stated in the finding) measures a
    # centroid shift about as well as every row, at a bounded cost.
    default_params = {**EmbeddingDrift.default_params, "max_rows": 2000}

    def run(self, ctx: Context, params: dict, thresholds: tuple[float, float]) -> list[TestCase]:
        key = ("text.embeddings", int(params["max_rows"]))
        if key not in ctx.memo:
            rows = {which: _sample(len(getattr(ctx, which)), int(params["max_rows"]), ctx.rng)
                    for which in ("reference", "evaluation")}
            reference = ctx.embed(ctx.reference.iloc[rows["reference"]])
            ctx.memo[key] = None if reference is None else (
                reference, ctx.embed(ctx.evaluation.iloc[rows["evaluation"]]), rows)
        if ctx.memo[key] is None:
            raise SkipTest("the model gives no embeddings (it has no embed method; Hugging Face models do)")
        reference, evaluation, rows = ctx.memo[key]
        sampled = {which: len(rows[which]) for which in rows if len(rows[which]) < len(getattr(ctx, which))}
        columns = [f"embedding_{i}" for i in range(reference.shape[1])]
        name = "text (model embedding)"
        derived = derived_context(ctx, pd.DataFrame(reference, columns=columns),
                                  pd.DataFrame(evaluation, columns=columns), features=[], embeddings={name: columns})
        cases = EmbeddingDrift().run(derived, params, thresholds)
        note = (" (embeddings of a random sample: " + ", ".join(f"{n} {which} rows" for which, n in sampled.items())
                + ")") if sampled else ""
        for case in cases:
            case.features = ["text.embedding"]
            case.details = {**case.details, "columns": ctx.schema.text_features, "dimensions": len(columns),
                            "embedded_rows": {"reference": len(reference), "evaluation": len(evaluation)}}
            if case.finding and note:
                case.finding = case.finding.rstrip(".") + note + "."
        return cases


def _sample(size: int, limit: int, rng: np.random.Generator) -> np.ndarray:
    """Row positions: all of them, or `limit` drawn at random (in row order)."""
    return np.arange(size) if size <= limit else np.sort(rng.choice(size, limit, replace=False))
