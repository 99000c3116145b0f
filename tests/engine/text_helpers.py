"""A realistic generated review corpus and a lexicon sentiment model, for the text engine tests (no model hub).

Reviews come from many templates filled with products, aspects, opinion words, intensifiers and optional clauses,
so texts vary in length, vocabulary and structure like real short reviews; the label is the sentiment of the
opinion words (with some label noise). The model is a keyword scorer over the text column, a text model.py's
`predict_df` in miniature.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stresstests.engine.models import FunctionModel
from stresstests.engine.vocabulary import MODEL_TASK_BINARY_CLASSIFICATION

PRODUCTS = ["phone", "laptop", "blender", "headset", "camera", "kettle", "backpack", "monitor", "keyboard", "lamp",
            "vacuum", "speaker", "router", "jacket", "printer", "watch", "tablet", "mattress", "chair", "drill"]
ASPECTS = ["battery", "screen", "sound", "build quality", "price", "delivery", "packaging", "design", "setup",
           "customer service", "manual", "weight", "size", "fabric", "display", "charger", "warranty", "app"]
POSITIVE = ["great", "excellent", "wonderful", "fantastic", "reliable", "sturdy", "lovely", "superb", "good", "solid",
            "impressive", "pleasant", "smooth", "perfect", "brilliant"]
NEGATIVE = ["terrible", "awful", "poor", "flimsy", "broken", "disappointing", "useless", "bad", "noisy", "cheap",
            "faulty", "horrible", "annoying", "slow", "weak"]
INTENSIFIERS = ["", "", "really ", "very ", "quite ", "extremely ", "rather ", "truly "]
OPENERS = ["", "", "Honestly, ", "Overall, ", "To be fair, ", "After two weeks, ", "Update: ", "In short, "]
CLAUSES = ["", "", "", " and I would buy it again", " but shipping took a while", " compared to my old one",
           " for the money", " which surprised me", " after a month of daily use", " as described by the seller"]
TEMPLATES = [
    "{opener}the {aspect} of this {product} is {intensifier}{opinion}{clause}.",
    "{opener}{intensifier}{opinion} {product}, the {aspect} is {opinion2}{clause}.",
    "I bought the {product} last month and the {aspect} is {intensifier}{opinion}{clause}.",
    "{opener}my new {product} has a {intensifier}{opinion} {aspect}{clause}.",
    "The {product} arrived quickly. {opener}its {aspect} feels {intensifier}{opinion}{clause}.",
    "{opener}would not say the {aspect} is anything special, but the {product} is {opinion}{clause}.",
    "Five stars? {opener}the {product} is {intensifier}{opinion}; the {aspect} is {opinion2}{clause}.",
    "{opener}for a {product} at this price the {aspect} is {intensifier}{opinion}{clause}.",
]


def reviews(n: int, seed: int, *, noise: float = 0.08) -> pd.DataFrame:
    """n reviews with a 0/1 sentiment label."""
    rng = np.random.default_rng(seed)
    pick = lambda items: items[rng.integers(len(items))]  # noqa: E731
    texts, labels = [], []
    for _ in range(n):
        positive = rng.random() < 0.5
        words = POSITIVE if positive else NEGATIVE
        text = pick(TEMPLATES).format(opener=pick(OPENERS), product=pick(PRODUCTS), aspect=pick(ASPECTS),
                                      intensifier=pick(INTENSIFIERS), opinion=pick(words), opinion2=pick(words),
                                      clause=pick(CLAUSES))
        texts.append(text[0].upper() + text[1:])
        labels.append(int(positive) if rng.random() > noise else int(not positive))
    return pd.DataFrame({"text": texts, "label": labels})


def lexicon_scores(texts: pd.Series) -> np.ndarray:
    """P(positive) from counts of opinion words: unknown words say nothing, so unfamiliar text scores 0.5."""
    lowered = texts.fillna("").astype(str).str.lower()
    positive = sum(lowered.str.count(rf"\b{word}\b") for word in POSITIVE)
    negative = sum(lowered.str.count(rf"\b{word}\b") for word in NEGATIVE)
    return (1.0 / (1.0 + np.exp(-1.5 * (positive - negative)))).to_numpy(dtype=float)


def lexicon_model() -> FunctionModel:
    return FunctionModel(predict_df=lambda frame: lexicon_scores(frame["text"]),
                         model_task=MODEL_TASK_BINARY_CLASSIFICATION)


LEXICON_MODEL_PY = '''
import numpy as np

POSITIVE = {positive!r}
NEGATIVE = {negative!r}


def predict_df(df):
    lowered = df["text"].fillna("").astype(str).str.lower()
    positive = sum(lowered.str.count(rf"\\b{{word}}\\b") for word in POSITIVE)
    negative = sum(lowered.str.count(rf"\\b{{word}}\\b") for word in NEGATIVE)
    return (1.0 / (1.0 + np.exp(-1.5 * (positive - negative)))).to_numpy(dtype=float)
'''.format(positive=POSITIVE, negative=NEGATIVE)


class EmbeddingLexiconModel:
    """The lexicon model with `embed`: hashed bag-of-words vectors (64 dimensions), as a Hugging Face adapter gives
    its mean-pooled hidden states."""

    def __init__(self) -> None:
        self.inner = lexicon_model()
        self.model_task = self.inner.model_task
        self.embedded_rows = 0

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return self.inner.predict(frame)

    def embed(self, frame: pd.DataFrame) -> np.ndarray:
        import zlib

        self.embedded_rows += len(frame)
        vectors = np.zeros((len(frame), 64))
        for row, tokens in enumerate(frame["text"].fillna("").str.lower().str.findall(r"\w+")):
            for token in tokens:
                vectors[row, zlib.crc32(token.encode()) % 64] += 1.0
        return vectors
