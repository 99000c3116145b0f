"""A small review corpus and in-process text models for the tests of the text transformations, attacks and bias swaps.

`robust_sentiment` is the insensitive model: it reads text the way a careful pipeline does (control characters
applied and dropped, look-alike letters and compatibility forms folded to ASCII, case and punctuation ignored,
synonyms mapped to one word, one-letter typos forgiven) and the LAST sentiment word decides. Each planted defect
wraps it with a model that flips its answer on exactly one kind of input (`flips_when`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

import numpy as np
import pandas as pd

from stresstests.engine.vocabulary import MODEL_TASK_BINARY_CLASSIFICATION, MODEL_TASK_MULTICLASS_CLASSIFICATION
from stresstests.engine.base import Context, Schema
from stresstests.engine.config import RunConfig
from stresstests.engine.profile import build_profile
from stresstests.engine.categories.text import perturbation as p
from tests.engine.model_side_helpers import CountingModel

POSITIVE = ["excellent", "wonderful"]
NEGATIVE = ["terrible", "horrible"]
NOUNS = ["hotel", "food", "service", "room", "staff"]
NAMES = p.wordlist("names")
COUNTRIES = p.wordlist("countries")


def reviews(n: int, seed: int) -> pd.DataFrame:
    """"Kenya said the room in Mali was horrible, and she would describe it at the café." with a 0/1 label (the
    adjective), the writer's `gender` as a separate column, and "however" in a third of the texts (mid-sentence)."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        female = rng.random() < 0.5
        pool = NAMES["feminine"] if female else NAMES["masculine"]
        if rng.random() < 0.3:
            pool = NAMES["minority"]
        name = pool[int(rng.integers(len(pool)))]
        positive = rng.random() < 0.5
        adjective = (POSITIVE if positive else NEGATIVE)[int(rng.integers(2))]
        country = [*COUNTRIES["high_income"], *COUNTRIES["low_income"]][int(rng.integers(50))]
        noun = NOUNS[int(rng.integers(len(NOUNS)))]
        tail = " at the café" if rng.random() < 0.5 else ""
        middle = "; however, it was" if rng.random() < 0.33 else ", and it was"
        text = (f"{name} said the {noun} in {country} was fine{middle} {adjective}, and {'she' if female else 'he'} "
                f"would describe it{tail}.")
        rows.append({"text": text, "gender": "F" if female else "M", "label": int(positive)})
    return pd.DataFrame(rows)


# ---- reading text as a careful pipeline does -----------------------------------------------------------------------
_LOOKALIKES = {v: k for table in (p.CONFUSABLE_HOMOGLYPHS, p.INTENTIONAL_HOMOGLYPHS) for k, v in table.items()}
_SYNONYMS = p.synonym_table()
_SENTIMENT = {word: +1 for word in POSITIVE} | {word: -1 for word in NEGATIVE}
_KNOWN = {word: _SENTIMENT[word] for word in _SENTIMENT}
for _word, _score in list(_SENTIMENT.items()):
    _KNOWN.update({synonym: _score for synonym in _SYNONYMS.get(_word, [])})


def clean_text(text: str) -> str:
    chars: list[str] = []
    for char in unicodedata.normalize("NFKC", text):
        if char == "\x08":
            if chars:
                chars.pop()          # BACKSPACE erases the character before it, as a terminal shows the text
        elif unicodedata.category(char) not in ("Cc", "Cf") or char in "\t\n":
            chars.append(_LOOKALIKES.get(char, char))
    ascii_text = unicodedata.normalize("NFKD", "".join(chars)).encode("ascii", "ignore").decode()
    return ascii_text.lower()


def _one_edit(a: str, b: str) -> bool:
    """Optimal string alignment distance <= 1 (one substitution, insertion, deletion or swap)."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]]
                                  and a[diff[1]] == b[diff[0]])
    short, long = sorted((a, b), key=len)
    return any(long[:i] + long[i + 1:] == short for i in range(len(long)))


def sentiment_words(text: str, *, forgiving: bool = True) -> list[int]:
    words = re.findall(r"[a-z0-9]+", clean_text(text) if forgiving else text)
    found = []
    for word in words:
        if word in (_KNOWN if forgiving else _SENTIMENT):
            found.append((_KNOWN if forgiving else _SENTIMENT)[word])
        elif forgiving and len(word) >= 5:
            found += [score for known, score in _KNOWN.items() if _one_edit(word, known)][:1]
    return found


def robust_positive(text: str) -> bool | None:
    found = sentiment_words(text)
    return found[-1] > 0 if found else None


def binary_model(flips_when: Callable[[str], bool] | None = None,
                 decide: Callable[[str], bool | None] = robust_positive) -> CountingModel:
    """P(positive) from `decide` (0.95 / 0.05, 0.5 when it finds nothing), inverted on texts where `flips_when`."""
    def predict(frame: pd.DataFrame) -> np.ndarray:
        scores = []
        for text in frame["text"]:
            positive = decide(text)
            score = 0.5 if positive is None else (0.95 if positive else 0.05)
            scores.append(1 - score if flips_when and flips_when(text) else score)
        return np.array(scores)
    return CountingModel(predict)


def multiclass_model(flips_when: Callable[[str], bool] | None = None) -> CountingModel:
    """Three classes (negative, unsure, positive); the planted defect swaps negative and positive."""
    def predict(frame: pd.DataFrame) -> np.ndarray:
        rows = []
        for text in frame["text"]:
            positive = robust_positive(text)
            row = [0.1, 0.8, 0.1] if positive is None else ([0.05, 0.1, 0.85] if positive else [0.85, 0.1, 0.05])
            rows.append(row[::-1] if flips_when and flips_when(text) else row)
        return np.array(rows)
    return CountingModel(predict)


def text_only_keys(category: str) -> set[str]:
    """The registered tests of `category` that run on text data only (this issue's tests)."""
    from stresstests.engine.base import REGISTRY
    from stresstests.engine.vocabulary import MODALITY_TEXT

    return {key for key, test in REGISTRY.items() if test.category == category and test.modalities == {MODALITY_TEXT}}


def make_text_context(model: CountingModel, *, n: int = 200, model_task: str = MODEL_TASK_BINARY_CLASSIFICATION,
                      labels: bool = True, protected: list[str] | None = None) -> Context:
    """A text run's Context: `text` is the model's input and the run's text feature; `gender` is a column the
    model does not see (a protected feature when `protected` names it)."""
    reference, evaluation = reviews(n, seed=1), reviews(n, seed=2)
    if model_task == MODEL_TASK_MULTICLASS_CLASSIFICATION:
        for frame in (reference, evaluation):
            frame["label"] = frame["label"] * 2      # classes 0 (negative) and 2 (positive) of three
    profile = build_profile(reference.drop(columns=["label"]), text_features=["text"])
    schema = Schema(label_col="label" if labels else None, pred_col=None, timestamp_col=None, features=["text"],
                    protected_features=protected or [], features_not_in_model=["gender"],
                    feature_types=profile.feature_types(), text_features=["text"])
    ctx = Context(config=RunConfig(), schema=schema, profile=profile, model_task=model_task, reference=reference,
                  evaluation=evaluation, reference_labels=reference["label"].to_numpy() if labels else None,
                  evaluation_labels=evaluation["label"].to_numpy() if labels else None, model=model,
                  rng=np.random.default_rng(0))
    ctx.reference_predictions = ctx.predict(reference)
    ctx.evaluation_predictions = ctx.predict(evaluation)
    model.calls = model.rows = 0
    return ctx
