"""Text adversarial attacks (RIME's NLP adversarial tests, §2.12): black-box searches, with a query budget, for a
change a reader would not notice (or would shrug off) that flips the model's decision.

Every attack works on `sample_size` evaluation rows (RIME: 5) of each text column it changes (the hypothesis for
NLI), all rows advancing in lockstep so each search step is ONE batched model call. A row is attacked until its
predicted class flips, its query budget (`attack_params.max_queries`) is spent, `max_iterations` steps have run or
`max_unsuccessful_iters` steps in a row found nothing stronger. The success rate (rows flipped) is the severity
value (RIME's thresholds 0.1 / 0.5), through the lower bound of its Wilson 95 % interval: with 5 attacked rows one
flip is no finding, five are an Alert. A flip counts when the original class loses at least `min_flip_change` (0.10).
Metrics carry the queries used per row and accuracy before and after.

What an attack may change is limited so that a success is the model's fault, not a change of what the text says.
"Opinion words" are the words of the shipped opinion list (`wordlists/opinion_words.json`, or the `opinion_words`
param) plus the words whose presence in the reference texts moves the share of a label (or, without labels, of a
predicted class) by `label_association` (0.15) or more:

- Character attacks (invisible, deletion, homoglyphs): each step mutates the best text so far `population_size`
  ways, `mutation_params.aug_char_p` of its characters (at least one) at a time, and keeps the strongest.
- Greedy word attack: ranks words by how much deleting each moves the prediction, then replaces the most important
  words one by one with the candidate that hurts most: synonyms from the shipped list for any word, one-character
  edits only for words that are not opinion words (a typo in "awful" changes what a reader reads; typos in opinion
  words are the typo transformations' business). At most `max_tokens_perturbed` (3) words and `max_words_share`
  (25 %, at least one) of a text's words change, as RIME's HotFlip limits the tokens it perturbs. It stands in for
  HotFlip, which needs the model's gradients.
- Universal trigger: a short prefix, built word by word from the data's own frequent words that are not opinion
  words (prepending "recommend" to a review changes its opinion; that is no attack), that flips as many rows as
  possible at once; searched on `sample_size` rows and measured on `eval_sample_size` others (on the same rows,
  and said so, when the data has too few).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import ClassVar

import numpy as np
import pandas as pd

from stresstests.engine.vocabulary import SEVERITY_PASS, TEST_CATEGORY_TYPE_ADVERSARIAL
from stresstests.engine.base import Context, SkipTest, StressTest, TestCase, register
from stresstests.engine.categories.text import perturbation as p
from stresstests.engine.categories.text.probe import (
    TEXT_ONLY, TEXT_TASKS, Comparison, class_probabilities, compare, confident_rate, confident_severity, error_case, failing_rows,
    perturbed_features, strongest, text_example, text_rows, thresholds_of, with_texts,
)
from stresstests.engine.categories.tabular.model_probe import error_text, sample_labels

# RIME's attack_params. `target_score` is accepted as RIME configs carry it; a row's search stops when its decision
# flips (RIME's target of 0 on the original class's margin).
ATTACK_PARAMS = {"max_iterations": 4, "target_score": 0.0, "max_queries": 200, "population_size": 15,
                 "max_unsuccessful_iters": 2}


class _ModelFailure(Exception):
    """The model raised on attacked text: the finding (an Alert with its error), not a bug of the test."""


def _score(ctx: Context, rows: pd.DataFrame, variants: list[pd.DataFrame]) -> np.ndarray:
    """(sum of variant rows, classes) probabilities of attacked texts, in one batched call."""
    try:
        return class_probabilities(ctx.predict_variants(rows, variants))
    except Exception as error:  # noqa: BLE001 - any failure of user code on attacked text is the finding
        raise _ModelFailure(error_text(error)) from error


class _Search:
    """Best text so far per row, with the queries each row has spent."""

    def __init__(self, ctx: Context, rows: pd.DataFrame, feature: str, clean: np.ndarray) -> None:
        self.ctx, self.rows, self.feature = ctx, rows, feature
        self.originals = rows[feature].tolist()
        self.best = list(self.originals)
        self.clean = clean
        self.original_class = clean.argmax(axis=1)
        self.best_probability = clean[np.arange(len(rows)), self.original_class]
        self.queries = np.zeros(len(rows), dtype=int)
        self.stale = np.zeros(len(rows), dtype=int)
        self.flipped = np.zeros(len(rows), dtype=bool)

    def score(self, candidates: list[tuple[int, str]]) -> np.ndarray:
        """(len(candidates), classes) probabilities of the candidate texts, in one batched call."""
        positions = [row for row, _ in candidates]
        frame = with_texts(self.rows.iloc[positions], self.feature, [text for _, text in candidates])
        np.add.at(self.queries, positions, 1)
        return _score(self.ctx, self.rows, [frame])

    def absorb(self, candidates: list[tuple[int, str]], probabilities: np.ndarray) -> None:
        """Keeps each row's strongest candidate (lowest probability of the original class) if it beats the best."""
        improved = np.zeros(len(self.rows), dtype=bool)
        for (row, text), probs in zip(candidates, probabilities):
            target = probs[self.original_class[row]]
            if target < self.best_probability[row] - 1e-12:
                self.best_probability[row], self.best[row] = target, text
                improved[row] = True
                self.flipped[row] = probs.argmax() != self.original_class[row]
        touched = np.zeros(len(self.rows), dtype=bool)
        touched[[row for row, _ in candidates]] = True
        self.stale = np.where(improved, 0, self.stale + touched)

    def active(self, params: dict, cost: int) -> list[int]:
        budget = int(params["max_queries"])
        return [i for i in range(len(self.rows)) if not self.flipped[i] and self.queries[i] + cost <= budget
                and self.stale[i] < int(params["max_unsuccessful_iters"])]


class TextAttack(StressTest):
    category = TEST_CATEGORY_TYPE_ADVERSARIAL
    requires = frozenset({"model"})
    modalities = TEXT_ONLY
    tasks = TEXT_TASKS
    thresholds = (0.1, 0.5)          # on the success rate (RIME's severity_thresholds)
    default_params: ClassVar[dict] = {"sample_size": 5, "max_str_len": 2000, "attack_params": ATTACK_PARAMS,
                                      "mutation_params": {"aug_char_p": 0.01}, "ignore_errors": False}
    change: ClassVar[str] = ""

    def run(self, ctx: Context, params: dict, thresholds: tuple[float, float]) -> list[TestCase]:
        attack = {**ATTACK_PARAMS, **(params.get("attack_params") or {})}
        cases = []
        for feature in perturbed_features(ctx):
            rows = text_rows(ctx, feature, params)
            clean = class_probabilities(ctx.predict(rows))
            search = _Search(ctx, rows, feature, clean)
            try:
                self.search(search, attack, params)
            except _ModelFailure as failure:
                cases.append(error_case(feature, str(failure), self.change, params))
                continue
            cases.append(self.assess(ctx, search, params, thresholds))
        if not cases:
            raise SkipTest("The data has no text column to attack.")
        return cases

    def search(self, search: _Search, attack: dict, params: dict) -> None:
        raise NotImplementedError

    def assess(self, ctx: Context, search: _Search, params: dict, thresholds: tuple[float, float]) -> TestCase:
        rows, feature = search.rows, search.feature
        perturbed = class_probabilities(ctx.predict(with_texts(rows, feature, search.best)))
        comparison = Comparison(search.clean, perturbed, sample_labels(ctx, rows), *thresholds_of(params))
        flips = int(comparison.flipped_clearly.sum())
        success = flips / len(rows)
        # The headline first: the result pages show a test's first metrics as columns.
        metrics = {"success_rate": round(success, 4), "avg_queries": round(float(search.queries.mean()), 2),
                   **comparison.metrics(), "max_queries": int(search.queries.max()), "sample_size": len(rows)}
        severity = confident_severity(flips, len(rows), thresholds)
        finding = ""
        if severity != SEVERITY_PASS:
            finding = (f"An attacker who {self.change} flips the model's decision on {flips} of {len(rows)} "
                       f"attacked texts of {feature} (about {metrics['avg_queries']:.0f} model queries per text; at "
                       f"least {confident_rate(flips, len(rows)):.0%} of texts fall with 95 % confidence).")
        examples = [text_example(ctx, rows, feature, i, search.originals[i], search.best[i], comparison,
                                 queries=int(search.queries[i]))
                    for i in strongest(comparison) if search.best[i] != search.originals[i]]
        return TestCase(features=[feature], severity=severity, importance_score=success, metrics=metrics,
                        finding=finding, examples=examples,
                        details={"sample_size": len(rows),
                                 "failing_row_indices": failing_rows(rows, comparison.flipped_clearly)})


class _CharacterAttack(TextAttack):
    mutate: ClassVar  # (text, rng, share) -> the text with `share` of its characters (at least one) attacked

    def search(self, search: _Search, attack: dict, params: dict) -> None:
        share = float((params.get("mutation_params") or {}).get("aug_char_p", 0.01))
        population = int(attack["population_size"])
        for _ in range(int(attack["max_iterations"])):
            candidates = []
            for row in search.active(attack, population):
                texts = {self.mutate(search.best[row], search.ctx.rng, share) for _ in range(population)}
                candidates += [(row, text) for text in sorted(texts) if text != search.best[row]]
            if not candidates:
                return
            search.absorb(candidates, search.score(candidates))


def _character_attack(key: str, name: str, mutate, change: str, description: str, why: str
                      ) -> type[_CharacterAttack]:
    cls = type(name.replace(" ", ""), (_CharacterAttack,), {
        "key": key, "name": name, "mutate": staticmethod(mutate), "change": change, "description": description,
        "why_it_matters": why, "__module__": __name__,
    })
    return register(cls)


CHARACTER_ATTACKS = [
    _character_attack(
        "text_invisible_chars_attack", "Invisible Characters Attack", p.insert_invisible,
        "inserts invisible zero-width characters",
        "Inserts zero-width characters (ZERO WIDTH SPACE, JOINER, NON-JOINER, WORD JOINER, BOM) that a reader cannot "
        "see, searching for the positions that move the prediction most.",
        "Invisible characters pass human review unchanged; a model that reads them can be steered by anyone who "
        "pastes text."),
    _character_attack(
        "text_deletion_chars_attack", "Deletion Control Characters Attack", p.insert_deletion_controls,
        "inserts characters followed by BACKSPACE or DELETE control characters",
        "Inserts a letter followed by a control character that erases it on display (BACKSPACE) or shows nothing "
        "(DELETE), so the text looks unchanged.",
        "Control characters survive copy-paste and most forms; a model should strip them, not read them."),
    _character_attack(
        "text_intentional_homoglyph_attack", "Intentional Homoglyph Attack",
        lambda text, rng, share: p.replace_homoglyphs(text, rng, share, p.INTENTIONAL_HOMOGLYPHS),
        "swaps letters for identical-looking Cyrillic or Greek letters",
        "Replaces Latin letters with letters of other scripts that look identical (Unicode's intentional "
        "confusables, e.g. Cyrillic а for a).",
        "Spam and abuse filters are evaded with look-alike letters that readers cannot tell apart."),
    _character_attack(
        "text_confusable_homoglyph_attack", "Confusable Homoglyph Attack",
        lambda text, rng, share: p.replace_homoglyphs(text, rng, share, p.CONFUSABLE_HOMOGLYPHS),
        "swaps letters for confusable look-alike characters",
        "Replaces Latin letters with characters readers easily confuse with them (Unicode confusables such as ɑ, ı, "
        "ο).",
        "Look-alike characters keep text readable for people while changing every token the model sees."),
]


_EDITS = (p.char_swap, p.char_deletion, p.keyboard_typo, p.char_insertion, p.char_substitution)


@register
class GreedyWordAttack(TextAttack):
    key = "text_greedy_word_attack"
    name = "Greedy Word Attack"
    change = "replaces a few important words with synonyms or misspellings"
    description = ("Ranks the words of a text by how much deleting each moves the prediction, then replaces the "
                   "most important ones, one at a time, with the synonym or one-letter edit that hurts most "
                   "(at most max_tokens_perturbed words).")
    why_it_matters = ("A decision that turns on one keyword can be reversed by rewording it, by accident or on "
                      "purpose.")
    default_params = {**TextAttack.default_params, "max_tokens_perturbed": 3, "max_words_share": 0.25,
                      "synonyms": None, "opinion_words": None, "label_association": 0.15}

    def search(self, search: _Search, attack: dict, params: dict) -> None:
        synonyms = p.synonym_table(params.get("synonyms"))
        opinions = opinion_words(search.ctx, search.feature, params)
        words = [list(p.WORD.finditer(text)) for text in search.originals]
        budget = int(attack["max_queries"])
        # 1. Word importance: the text with each word deleted, for all rows in one call (within the budget).
        deletions = [(row, _without(search.originals[row], match)) for row in range(len(words))
                     for match in words[row][:max(budget // 2, 1)]]
        importance = [dict() for _ in words]
        if deletions:
            probabilities = search.score(deletions)
            for (row, _), probs, match in zip(deletions, probabilities,
                                              [m for r in range(len(words)) for m in words[r][:max(budget // 2, 1)]]):
                importance[row][match.start()] = search.best_probability[row] - probs[search.original_class[row]]
        order = [sorted(words[row], key=lambda m: -importance[row].get(m.start(), 0.0)) for row in range(len(words))]
        # 2. Substitutions, most important word first; each step keeps the strongest candidate per row. Edits are
        # kept in the original's coordinates and applied afresh, so earlier replacements never shift later words.
        population = int(attack["population_size"])
        chosen: list[dict[int, tuple[int, str]]] = [{} for _ in words]
        steps = min(int(params.get("max_tokens_perturbed", 3)), int(attack["max_iterations"]))
        share = float(params.get("max_words_share", 0.25))
        for step in range(steps):
            candidates, edits = [], []
            for row in search.active({**attack, "max_unsuccessful_iters": steps + 1}, 1):
                if step >= min(len(order[row]), max(1, int(share * len(order[row])))):
                    continue
                match = order[row][step]
                word = match.group()
                options = [p.match_case(s, word) for s in synonyms.get(word.lower(), [])]
                if word.lower() not in opinions:
                    options += [edit(word, search.ctx.rng, {"aug_word_p": 1.0, "aug_char_p": 0.0, "min_char": 1})
                                for edit in _EDITS]
                room = budget - int(search.queries[row])
                for option in list(dict.fromkeys(o for o in options if o != word))[:min(population, room)]:
                    edit = {**chosen[row], match.start(): (match.end(), option)}
                    candidates.append((row, _apply(search.originals[row], edit)))
                    edits.append(edit)
            if not candidates:
                return
            search.absorb(candidates, search.score(candidates))
            for (row, text), edit in zip(candidates, edits):
                if search.best[row] == text:
                    chosen[row] = edit


def _without(text: str, match: re.Match) -> str:
    return (text[:match.start()] + text[match.end():]).replace("  ", " ", 1)


def _apply(text: str, edits: dict[int, tuple[int, str]]) -> str:
    return p.replace_spans(text, [(start, end, new) for start, (end, new) in edits.items()])


@register
class UniversalTriggerAttack(TextAttack):
    key = "universal_triggers_attack"
    name = "Universal Trigger Attack"
    change = "puts one short prefix before every text"
    description = ("Builds a short prefix, word by word from the most frequent words of the reference texts, that "
                   "flips the decision on as many sampled texts as possible, then measures it on other texts.")
    why_it_matters = ("One phrase that flips many inputs can be shared and reused by anyone; it also reveals words "
                      "the model over-weights.")
    default_params = {**TextAttack.default_params, "sample_size": 10, "eval_sample_size": 20, "prefix_len": 3,
                      "num_candidates": 20, "attack_params": {**ATTACK_PARAMS, "max_queries": 500},
                      "opinion_words": None, "label_association": 0.15}

    def run(self, ctx: Context, params: dict, thresholds: tuple[float, float]) -> list[TestCase]:
        attack = {**ATTACK_PARAMS, "max_queries": 500, **(params.get("attack_params") or {})}
        cases = []
        for feature in perturbed_features(ctx):
            rows = text_rows(ctx, feature, params, size=int(params["sample_size"]) + int(params["eval_sample_size"]))
            search_rows, held_out = rows.iloc[:int(params["sample_size"])], rows.iloc[int(params["sample_size"]):]
            searched_on = held_out.empty
            if searched_on:
                held_out = search_rows
            try:
                trigger, queries = self.find_trigger(ctx, search_rows, feature, attack, params)
                texts = [f"{trigger} {text}" if trigger else text for text in held_out[feature]]
                comparison = compare(ctx, held_out, with_texts(held_out, feature, texts), params)
            except _ModelFailure as failure:
                cases.append(error_case(feature, str(failure), self.change, params))
                continue
            if isinstance(comparison, str):
                cases.append(error_case(feature, comparison, self.change, params))
                continue
            flips = int(comparison.flipped_clearly.sum())
            success = flips / len(held_out)
            metrics = {"success_rate": round(success, 4), "avg_queries": round(queries / max(len(search_rows), 1), 2),
                       **comparison.metrics(), "trigger": trigger, "queries": queries, "sample_size": len(held_out),
                       "measured_on_search_rows": searched_on}
            severity = confident_severity(flips, len(held_out), thresholds)
            measured = (f"the same {len(held_out)} texts it was searched on (too few evaluation texts to hold some "
                        "out)" if searched_on else f"{len(held_out)} texts the trigger was not searched on")
            finding = "" if severity == SEVERITY_PASS else (
                f"Putting \u201c{trigger}\u201d before {feature} flips the decision on {flips} of {measured}.")
            originals = held_out[feature].tolist()
            examples = [text_example(ctx, held_out, feature, i, originals[i], texts[i], comparison)
                        for i in strongest(comparison)]
            cases.append(TestCase(features=[feature], severity=severity, importance_score=success, metrics=metrics,
                                  finding=finding, examples=examples,
                                  details={"trigger": trigger, "failing_row_indices":
                                           failing_rows(held_out, comparison.flipped_clearly)}))
        if not cases:
            raise SkipTest("The data has no text column to attack.")
        return cases

    def find_trigger(self, ctx: Context, rows: pd.DataFrame, feature: str, attack: dict,
                     params: dict) -> tuple[str, int]:
        """Greedy: each position takes the candidate word that lowers the original classes' probability most over
        the search rows, as long as the budget allows a full pass over the candidates."""
        opinions = opinion_words(ctx, feature, params)
        candidates = [w for w in _frequent_words(ctx, feature) if w not in opinions][:int(params["num_candidates"])]
        clean = class_probabilities(ctx.predict(rows))
        original = clean.argmax(axis=1)
        index = np.arange(len(rows))
        texts = rows[feature].tolist()
        trigger: list[str] = []
        queries, best_score = 0, clean[index, original].mean()
        for _ in range(int(params["prefix_len"])):
            if not candidates or queries + len(candidates) * len(rows) > int(attack["max_queries"]):
                break
            variants = [with_texts(rows, feature, [" ".join([*trigger, word, text]) for text in texts])
                        for word in candidates]
            probabilities = _score(ctx, rows, variants).reshape(len(candidates), len(rows), -1)
            queries += len(candidates) * len(rows)
            scores = probabilities[:, index, original].mean(axis=1)
            best = int(scores.argmin())
            if scores[best] >= best_score - 1e-9:
                break
            best_score = scores[best]
            trigger.append(candidates[best])
            if (probabilities[best].argmax(axis=1) != original).all():
                break
        return " ".join(trigger), queries


def _word_stats(ctx: Context, feature: str) -> tuple[list[str], dict[str, float]]:
    """(words by frequency, word -> how far its presence moves the share of a class) over up to 5,000 reference
    texts (3+ letter words, lower case), scanned once per run. Classes are the labels, else the model's predicted
    classes on the reference."""
    key = ("text.word_stats", feature)
    if key not in ctx.memo:
        frame, labels = ctx.reference, ctx.reference_labels
        if feature not in frame.columns:
            frame, labels = ctx.evaluation, ctx.evaluation_labels
        if labels is None:
            predictions = ctx.reference_predictions if frame is ctx.reference else ctx.evaluation_predictions
            labels = None if predictions is None else class_probabilities(predictions).argmax(axis=1)
        texts = frame[feature]
        positions = np.flatnonzero(texts.map(lambda v: isinstance(v, str)).to_numpy())
        if len(positions) > 5000:
            positions = np.sort(np.random.default_rng(ctx.config.random_seed).choice(positions, 5000, replace=False))
        counts: Counter = Counter()
        by_class: dict[str, Counter] = {}
        classes = None if labels is None else pd.Series(np.asarray(labels)[positions]).astype(str).to_numpy()
        for n, position in enumerate(positions):
            words = {w.lower() for w in p.WORD.findall(texts.iloc[position]) if len(w) >= 3}
            counts.update(words)
            if classes is not None:
                by_class.setdefault(classes[n], Counter()).update(words)
        association: dict[str, float] = {}
        if classes is not None and len(positions):
            prior = {c: float((classes == c).mean()) for c in by_class}
            for word, count in counts.items():
                if count >= 5:
                    association[word] = max(abs(by_class[c][word] / count - prior[c]) for c in by_class)
        ctx.memo[key] = ([word for word, _ in counts.most_common()], association)
    return ctx.memo[key]


def _frequent_words(ctx: Context, feature: str) -> list[str]:
    return _word_stats(ctx, feature)[0]


def opinion_words(ctx: Context, feature: str, params: dict) -> set[str]:
    """Words an attack must not add or misspell: the opinion list plus the words tied to a class in the reference."""
    listed = params.get("opinion_words")
    words = {w.lower() for w in (listed if listed is not None else p.wordlist("opinion_words")["words"])}
    limit = float(params.get("label_association", 0.15))
    return words | {w for w, shift in _word_stats(ctx, feature)[1].items() if shift >= limit}
