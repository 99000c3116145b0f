"""Tiny Hugging Face text models built inside the tests, with no model hub.

A WordPiece tokenizer is trained with `tokenizers` on the test's own generated corpus, a small BERT
(`BertForSequenceClassification`: hidden 32, 2 layers, 2 heads) is fine-tuned on it for a few seconds on the CPU with
fixed seeds, and both are written with `save_pretrained` (safetensors), as a user's exported model would be.

- `sentiment_frame(n, seed)`: {"text", "label"} with label 1 = positive (binary).
- `topic_frame(n, seed)`: {"text", "label"} with labels 0 sports, 1 technology, 2 food (multiclass).
- `nli_frame(n, seed)`: {"premise", "hypothesis", "label"} with labels 0 contradiction, 1 entailment, 2 neutral.
- `build_text_classifier(folder, kind=...)`: trains and saves a model of that kind into `folder`; returns `folder`.
- `cached_text_classifier(kind)`: the same, built once per recipe into `var/text_models/<hash>/` and reused by
  every later test and session (the folder is read-only by convention: copy it before changing it).
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
CACHE_DIR = ROOT / "var" / "text_models"
# Any change to this file (the corpus, the training) changes the cache key, so cached models are rebuilt.
RECIPE_VERSION = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]

SENTIMENT, TOPIC, NLI = "sentiment", "topic", "nli"
KINDS = (SENTIMENT, TOPIC, NLI)
LABEL_NAMES = {
    SENTIMENT: ["negative", "positive"],
    TOPIC: ["sports", "technology", "food"],
    NLI: ["contradiction", "entailment", "neutral"],
}
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

_SUBJECTS = ["the movie", "this film", "the show", "the book", "this album", "the game", "the play", "the series",
             "our dinner", "the hotel", "the concert", "this phone", "the story", "the trip", "the lecture"]
_POSITIVE = ["wonderful", "great", "excellent", "delightful", "brilliant", "superb", "lovely", "fantastic",
             "charming", "moving", "enjoyable", "amazing"]
_NEGATIVE = ["terrible", "awful", "boring", "dreadful", "horrible", "dull", "disappointing", "bad", "poor",
             "tedious", "painful", "weak"]
_INTENSIFIERS = ["", "really ", "truly ", "very ", "quite ", "so ", "rather "]
_OPENERS = ["", "honestly ", "i think ", "we felt ", "overall ", "in short ", "my friends said "]
_POSITIVE_TAILS = ["", " and i loved it", " and we would go again", " , a real joy", " and worth every minute"]
_NEGATIVE_TAILS = ["", " and i hated it", " and we left early", " , a waste of time", " and never again"]

_TOPICS = {
    "sports": (["the team", "the striker", "the coach", "the runner", "the goalkeeper", "the club"],
               ["won the match", "scored a goal", "trained for the final", "broke the record", "lost the league",
                "played in the stadium"]),
    "technology": (["the software", "the laptop", "the server", "the new chip", "the app", "the network"],
                   ["crashed after the update", "runs the code faster", "stores data in the cloud",
                    "needs more memory", "installed the driver", "connects to the internet"]),
    "food": (["the chef", "the bakery", "the soup", "the restaurant", "the pasta", "the cake"],
             ["tastes of garlic", "baked fresh bread", "served spicy curry", "needs more salt",
              "cooked the vegetables", "smells of cinnamon"]),
}
_PEOPLE = ["the man", "the woman", "the child", "the doctor", "the teacher", "the farmer", "the pilot", "the artist"]
_STATES = ["happy", "tired", "hungry", "busy", "calm", "angry", "sleepy", "cheerful", "nervous", "proud"]
_HOBBIES = ["owns a dog", "likes music", "plays chess", "reads novels", "collects stamps", "has a bicycle"]
_PLACES = ["in the park", "at home", "in the kitchen", "on the train", "at the office", "by the river"]


def sentiment_frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """Short reviews: label 1 for a positive one, 0 for a negative one, balanced."""
    rng = random.Random(seed)
    rows = []
    for index in range(n):
        positive = index % 2 == 0
        word = rng.choice(_POSITIVE if positive else _NEGATIVE)
        tail = rng.choice(_POSITIVE_TAILS if positive else _NEGATIVE_TAILS)
        text = f"{rng.choice(_OPENERS)}{rng.choice(_SUBJECTS)} was {rng.choice(_INTENSIFIERS)}{word}{tail}"
        rows.append({"text": text.strip(), "label": int(positive)})
    rng.shuffle(rows)
    return pd.DataFrame(rows)


def topic_frame(n: int = 450, seed: int = 0) -> pd.DataFrame:
    """One sentence on sports (0), technology (1) or food (2), balanced."""
    rng = random.Random(seed)
    topics = list(_TOPICS)
    rows = []
    for index in range(n):
        label = index % len(topics)
        subjects, predicates = _TOPICS[topics[label]]
        text = f"{rng.choice(_OPENERS)}{rng.choice(subjects)} {rng.choice(predicates)}"
        rows.append({"text": text.strip(), "label": label})
    rng.shuffle(rows)
    return pd.DataFrame(rows)


def nli_frame(n: int = 450, seed: int = 0) -> pd.DataFrame:
    """Premise/hypothesis pairs: 0 contradiction (the hypothesis negates the premise's state), 1 entailment (it
    repeats it), 2 neutral (it says something the premise does not touch)."""
    rng = random.Random(seed)
    rows = []
    for index in range(n):
        label = index % 3
        person, state, place = rng.choice(_PEOPLE), rng.choice(_STATES), rng.choice(_PLACES)
        premise = f"{person} is {state} {place}"
        if label == 0:
            hypothesis = f"{person} is not {state}"
        elif label == 1:
            hypothesis = f"{person} is {state}"
        else:
            hypothesis = f"{person} {rng.choice(_HOBBIES)}"
        rows.append({"premise": premise, "hypothesis": hypothesis, "label": label})
    rng.shuffle(rows)
    return pd.DataFrame(rows)


FRAMES = {SENTIMENT: sentiment_frame, TOPIC: topic_frame, NLI: nli_frame}


def text_columns(kind: str) -> list[str]:
    return ["premise", "hypothesis"] if kind == NLI else ["text"]


def _recipe(kind: str, *, n_train: int, epochs: int, seed: int, hidden: int, layers: int, heads: int) -> dict:
    import tokenizers
    import torch
    import transformers

    return {"version": RECIPE_VERSION, "kind": kind, "n_train": n_train, "epochs": epochs, "seed": seed,
            "hidden": hidden, "layers": layers, "heads": heads, "torch": torch.__version__,
            "transformers": transformers.__version__, "tokenizers": tokenizers.__version__}


def train_tokenizer(texts: list[str], folder: Path, *, vocab_size: int = 400, model_max_length: int = 128):
    """A lower-casing WordPiece tokenizer trained on `texts`, saved into `folder` as a BERT-style fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    tokenizer.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS))
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]",
                                   model_max_length=model_max_length,
                                   model_input_names=["input_ids", "token_type_ids", "attention_mask"])
    fast.save_pretrained(folder)
    return fast


def build_text_classifier(folder: str | os.PathLike, *, kind: str = SENTIMENT, n_train: int = 0, epochs: int = 6,
                          seed: int = 0, hidden: int = 32, layers: int = 2, heads: int = 2,
                          safe_serialization: bool = True) -> Path:
    """Train a tiny BERT classifier of `kind` on generated text and save it (model + tokenizer) into `folder`."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    frame = FRAMES[kind](n_train or 600, seed=seed)
    columns = text_columns(kind)
    tokenizer = train_tokenizer(pd.concat([frame[c] for c in columns]).tolist(), folder)

    torch.manual_seed(seed)
    np.random.seed(seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        names = LABEL_NAMES[kind]
        config = BertConfig(vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=layers,
                            num_attention_heads=heads, intermediate_size=hidden * 2, max_position_embeddings=128,
                            type_vocab_size=2, num_labels=len(names), hidden_dropout_prob=0.0,
                            attention_probs_dropout_prob=0.0, pad_token_id=tokenizer.pad_token_id,
                            id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)})
        model = BertForSequenceClassification(config)
        encoded = tokenizer(*[frame[c].tolist() for c in columns], padding=True, truncation=True, max_length=64,
                            return_tensors="pt")
        labels = torch.tensor(frame["label"].to_numpy())
        optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
        generator = torch.Generator().manual_seed(seed)
        model.train()
        for _ in range(epochs):
            for batch in torch.randperm(len(labels), generator=generator).split(32):
                optimizer.zero_grad()
                output = model(**{k: v[batch] for k, v in encoded.items()}, labels=labels[batch])
                output.loss.backward()
                optimizer.step()
        model.eval()
        model.save_pretrained(folder, safe_serialization=safe_serialization)
    finally:
        torch.set_num_threads(threads)
    return folder


def accuracy(folder: str | os.PathLike, frame: pd.DataFrame, *, kind: str) -> float:
    """The saved model's accuracy on `frame`, computed in this process (a test helper, not the product's path)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    encoded = tokenizer(*[frame[c].tolist() for c in text_columns(kind)], padding=True, return_tensors="pt")
    with torch.no_grad():
        predicted = model(**encoded).logits.argmax(-1).numpy()
    return float((predicted == frame["label"].to_numpy()).mean())


def cached_text_classifier(kind: str = SENTIMENT, **recipe) -> Path:
    """A model of `kind`, built once per recipe (and library versions) into var/text_models/<hash>/ and reused."""
    key = json.dumps(_recipe(kind, n_train=recipe.get("n_train", 0), epochs=recipe.get("epochs", 6),
                             seed=recipe.get("seed", 0), hidden=recipe.get("hidden", 32),
                             layers=recipe.get("layers", 2), heads=recipe.get("heads", 2)), sort_keys=True)
    target = CACHE_DIR / f"{kind}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"
    if (target / "config.json").exists():
        return target
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{kind}-", dir=CACHE_DIR))
    try:
        build_text_classifier(staging, kind=kind, **recipe)
        staging.rename(target)  # atomic: a parallel session sees a whole model or none
    except OSError:
        if not (target / "config.json").exists():
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def copy_model(source: Path, target: Path) -> Path:
    """A private, writable copy of a cached model."""
    shutil.copytree(source, target)
    return target
